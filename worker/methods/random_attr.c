/* worker/methods/random_attr.c — the random-attribution control every table
 * needs: U[0,1) per element from the image's own generator. */
#include <stdio.h>

#include "methods.h"
#include "seed.h"

int wk_random_attr(const struct wk_method_ctx *ctx, const struct wk_batch *bt, float *out, char *err, size_t errlen) {
    const long d = (long)bt->c * bt->h * bt->w;
    for (long i = 0; i < bt->b; i++)
        if (wk_draw(seed_for(ctx->seed, bt->ids[i], SEED_RANDOM_ATTR), d, 0, out + i * d, err, errlen)) return -1;
    return 0;
}
