/* worker/diffid_batch.h — DiffID of one attribution over a batch: the
 * 2·n_ratios perturbed copies of as many images as a chunk holds go through
 * the model in one forward. Shared by the engine and `recal bench`. */
#ifndef RECAL_DIFFID_BATCH_H
#define RECAL_DIFFID_BATCH_H
#include <stddef.h>
#include <stdint.h>

#include "diffid.h"
#include "torch_shim.h"

/* 1 when the perturbed copies for a model on `device` are built there
 * (ts_rank_copies; CUDA), 0 when on the host (the CPU); the environment's
 * RECAL_DIFFID_COPIES=host|device overrides it. */
int wk_diffid_copies_on_device(int device);

/* x, attr: b images of c·h·w floats (host); x_dev: the same images already
 * on the model's device (b×c×h×w), which the device-built copies start
 * from, or NULL to upload them from x; labels and orig_logit (f(x)[t]) per
 * image. Adds to acc. */
int wk_diffid_batch(ts_module *model, int device, int classes, int c, int h, int w, long chunk_samples,
                    const double *ratios, int n_ratios, const float *x, const ts_tensor *x_dev, const float *attr,
                    const int64_t *labels, const float *orig_logit, long b, struct diffid_acc *acc, char *err,
                    size_t errlen);
#endif
