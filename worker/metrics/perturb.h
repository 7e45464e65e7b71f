/* worker/metrics/perturb.h — the host-side geometry of the perturbation
 * metrics (docs/metrics.md (sensitivity-n; robustness and faithfulness)): which pixels a sensitivity-n mask removes,
 * which pixel group a faithfulness group is, and the per-image scores made
 * from model outputs and attribution sums. Plain C, checked by hand in
 * tests/unit/test_perturb.c; the model forwards happen in the engine. */
#ifndef RECAL_PERTURB_H
#define RECAL_PERTURB_H
#include <stdint.h>

/* Mark the k pixels (of hw) with the smallest u as removed: mask[p] = 1,
 * others 0. Ties break by pixel index, so the choice is a pure function of
 * u. order is scratch for hw longs. */
void sensn_pick(const float *u, long hw, long k, long *order, uint8_t *mask);

/* Σ over removed pixels and all channels of the attribution, post-hoc
 * `sum` (abs_values 0) or `abs` (1). a is C×HW. */
double sensn_attr_sum(const float *a, int c, long hw, const uint8_t *mask, int abs_values);

/* Grid of about `groups` pixel groups over h×w: gh = round(√groups) rows
 * (at most h), gw = ⌈groups/gh⌉ columns (at most w); pixel (r, q) belongs to
 * group ⌊r·gh/h⌋·gw + ⌊q·gw/w⌋. Fills group_of[h·w], returns gh·gw. */
int faith_groups(int h, int w, int groups, int *group_of);
#endif
