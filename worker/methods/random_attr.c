/* worker/methods/random_attr.c — the random-attribution control every table
 * needs: U[0,1) per element from the image's own counter-based stream, drawn
 * where the maps are used. */
#include "methods.h"
#include "seed.h"

int wk_random_attr(const struct wk_method_ctx *ctx, const struct wk_batch *bt, ts_tensor **out, char *err,
                   size_t errlen) {
    return wk_draw_dev(ctx, bt, SEED_RANDOM_ATTR, (long)bt->c * bt->h * bt->w, 0, out, err, errlen);
}
