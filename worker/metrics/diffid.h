/* worker/metrics/diffid.h — pixel-perturbation insertion/deletion ("DiffID"),
 * docs/metrics.md (DiffID). The perturbation and the scoring are plain C over host
 * buffers so that they can be checked by hand; the model forward of the
 * 2·n_ratios copies happens in the engine, batched. */
#ifndef RECAL_DIFFID_H
#define RECAL_DIFFID_H
#include <stddef.h>
#include <stdint.h>

#define DIFFID_MAX_RATIOS 32

/* Sums over images for one (method, estimator): reduced across ranks as is. */
struct diffid_acc {
    double del_correct[DIFFID_MAX_RATIOS];
    double ins_correct[DIFFID_MAX_RATIOS];
    double del_logit[DIFFID_MAX_RATIOS];
    double ins_logit[DIFFID_MAX_RATIOS];
};

/* Number of elements removed at ratio r of d elements: floor(r·d), robust to
 * r·d landing a hair below an integer in binary floating point. */
long diffid_count(double ratio, long d);

/* The ranking of one image and the fill values of its copies; x and a are
 * C×HW (d = c·hw). Ranking: saliency s = Σ_c |a|, min–max normalised per
 * image (ε = 1e-10), repeated over channels; ties keep flat-index order
 * (stable). rank[i] (d entries) is element i's place in that ranking, a
 * permutation of 0..d-1. With n = diffid_count(ratios[r], d), deletion
 * copy r replaces the elements of rank < n and insertion copy n_ratios + r
 * those of rank >= d − n, each by its fill value (fill has 2·n_ratios):
 * the mean of the preserved elements of that copy. scratch holds
 * diffid_scratch_bytes(c, hw) bytes, suitably aligned for longs (malloc's).
 * The copies are built from these on the host for a CPU model
 * (diffid_perturb) and on the device for a CUDA one (ts_rank_copies: one
 * rank map crosses the bus instead of 2·n_ratios images). */
size_t diffid_scratch_bytes(int c, long hw);
void diffid_rank(const float *x, const float *a, int c, long hw, const double *ratios, int n_ratios, uint32_t *rank,
                 float *fill, void *scratch);
/* The copies built on the host (the CPU path): out receives 2·n_ratios
 * images of d floats, deletion copies for each ratio, then insertion
 * copies; ts_rank_copies computes the same floats on a device. */
void diffid_perturb(const float *x, const float *a, int c, long hw, const double *ratios, int n_ratios, float *out,
                    void *scratch);

/* Score one image: logits is 2·n_ratios rows of `classes` (same order as
 * diffid_perturb's output); orig_logit = f(x)[label]. Adds to acc. */
void diffid_score(const float *logits, int classes, int64_t label, float orig_logit, int n_ratios,
                  struct diffid_acc *acc);

/* One image's DiffID from its own acc (diffid_score into a zeroed one):
 * out[0] = mean over the ratios of insertion − deletion hits, out[1] the
 * same of the logit ratios; their mean over images is the report's
 * DiffID (docs/metrics.md). */
void diffid_image_diffs(const struct diffid_acc *one, int n_ratios, double out[2]);

/* Index of the largest of n values (first one on ties). */
int diffid_argmax(const float *v, int n);
#endif
