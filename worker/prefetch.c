/* worker/prefetch.c — see prefetch.h. */
#include "prefetch.h"

#include <stdio.h>
#include <string.h>

static void *prefetch_main(void *arg) {
    struct wk_prefetch *p = arg;
    p->rc = ds_get(p->ds, p->first, p->count, p->x, p->y, p->err, sizeof p->err);
    return NULL;
}

int wk_prefetch_start(struct wk_prefetch *p, const struct ds_dataset *ds, long first, long count, float *x,
                      int64_t *y) {
    p->ds = ds;
    p->first = first;
    p->count = count;
    p->x = x;
    p->y = y;
    p->rc = 0;
    p->err[0] = '\0';
    if (pthread_create(&p->th, NULL, prefetch_main, p) == 0) {
        p->running = 1;
        return 0;
    }
    /* no thread: read now, so the caller's flow stays the same */
    p->running = 0;
    prefetch_main(p);
    p->running = 2;
    return -1;
}

int wk_prefetch_wait(struct wk_prefetch *p, char *err, size_t errlen) {
    if (!p->running) return 0;
    if (p->running == 1) pthread_join(p->th, NULL);
    p->running = 0;
    if (p->rc) snprintf(err, errlen, "%s", p->err);
    return p->rc ? -1 : 0;
}
