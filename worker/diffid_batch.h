/* worker/diffid_batch.h — DiffID of one attribution over a batch: the
 * 2·n_ratios perturbed copies of as many images as a chunk holds go through
 * the model in one forward. Shared by the engine and `recal bench`. */
#ifndef RECAL_DIFFID_BATCH_H
#define RECAL_DIFFID_BATCH_H
#include <stddef.h>
#include <stdint.h>

#include "diffid.h"
#include "torch_shim.h"

/* 1 when DiffID runs on the model's device (ranking, copies and scores:
 * wk_diffid_batch_dev; the default on CPU and CUDA), 0 when on the host
 * from host maps (RECAL_DIFFID_COPIES=host, kept for comparison; =device
 * forces the default). The engine keeps the maps on the device when this
 * is 1 (issue #21). */
int wk_diffid_copies_on_device(int device);

/* x, attr: b images of c·h·w floats (host); x_dev: the same images already
 * on the model's device (b×c×h×w), which the device path starts from, or
 * NULL to upload them from x; labels and orig_logit (f(x)[t]) per image.
 * Adds to acc; per_image (else NULL) receives 2 doubles per image
 * (diffid_image_diffs). On the device path the maps, labels and logits go up and
 * wk_diffid_batch_dev does the rest. */
int wk_diffid_batch(ts_module *model, int device, int classes, int c, int h, int w, long chunk_samples,
                    const double *ratios, int n_ratios, const float *x, const ts_tensor *x_dev, const float *attr,
                    const int64_t *labels, const float *orig_logit, long b, struct diffid_acc *acc, double *per_image,
                    char *err, size_t errlen);
/* All on the device: x_dev b×c×h×w, attr_dev b×D, y_dev b int64, orig_dev b
 * float32; per chunk the ranking (ts_diffid_rank), copies, one forward and
 * the scores (ts_diffid_score), 4·n_ratios sums back (and 2 per image
 * into per_image, else NULL). Adds to acc. */
int wk_diffid_batch_dev(ts_module *model, int classes, int c, int h, int w, long chunk_samples, const double *ratios,
                        int n_ratios, const ts_tensor *x_dev, const ts_tensor *attr_dev, const ts_tensor *y_dev,
                        const ts_tensor *orig_dev, long b, struct diffid_acc *acc, double *per_image, char *err,
                        size_t errlen);
#endif
