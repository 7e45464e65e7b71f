/* worker/methods/random_attr.c — the random-attribution control every table
 * needs: U[0,1) per element from the image's own generator. */
#include <stdio.h>

#include "methods.h"
#include "seed.h"

int wk_random_attr(const struct wk_method_ctx *ctx, const struct wk_batch *bt, float *out, char *err,
                   size_t errlen) {
    const long d = (long)bt->c * bt->h * bt->w;
    for (long i = 0; i < bt->b; i++) {
        int64_t shape[1] = {d};
        ts_tensor *u = NULL;
        if (ts_rand_seeded(seed_for(ctx->seed, bt->ids[i], SEED_RANDOM_ATTR), shape, 1, TS_DEV_CPU, &u) != TS_OK ||
            ts_to_f32(u, out + i * d, (size_t)d) != TS_OK) {
            snprintf(err, errlen, "random attribution: %s", ts_last_error());
            ts_tensor_free(u);
            return -1;
        }
        ts_tensor_free(u);
    }
    return 0;
}
