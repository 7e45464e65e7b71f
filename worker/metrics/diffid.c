/* worker/metrics/diffid.c — see diffid.h. */
#include "diffid.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

long diffid_count(double ratio, long d) {
    /* 0.3 * 10 is 2.9999999999999996 in doubles; the papers mean 3. */
    return (long)floor(ratio * (double)d + 1e-9);
}

/* The ranking is (saliency desc, flat index asc), a total order. Sorting
 * d = c·hw elements with qsort and a comparator cost O(d log d) calls per
 * image: 30 ms for one 3×224×224 image here (3.8 ms now), more than its 18
 * forwards on a GPU.
 * Instead: an LSD radix sort of the hw pixels (saliency ≥ 0, so its float
 * bits order like unsigned integers; stable passes keep index order among
 * ties), then the expansion to the c·hw elements, which share their pixel's
 * saliency: within a run of equal saliency, channel 0's indices come first
 * (ascending pixel), then channel 1's, and so on — exactly the order the
 * comparator gave. */
struct dscratch {
    long *order, *pix, *pix_tmp;
    uint32_t *key, *key_tmp, *rank;
    float *s;
};

size_t diffid_scratch_bytes(int c, long hw) {
    return (size_t)c * (size_t)hw * (sizeof(long) + sizeof(uint32_t)) + 2 * (size_t)hw * sizeof(long) +
           2 * (size_t)hw * sizeof(uint32_t) + (size_t)hw * sizeof(float);
}

static struct dscratch carve(void *mem, int c, long hw) {
    struct dscratch z;
    char *p = mem;
    z.order = (long *)p;
    p += (size_t)c * (size_t)hw * sizeof(long);
    z.pix = (long *)p;
    p += (size_t)hw * sizeof(long);
    z.pix_tmp = (long *)p;
    p += (size_t)hw * sizeof(long);
    z.key = (uint32_t *)p;
    p += (size_t)hw * sizeof(uint32_t);
    z.key_tmp = (uint32_t *)p;
    p += (size_t)hw * sizeof(uint32_t);
    z.rank = (uint32_t *)p;
    p += (size_t)c * (size_t)hw * sizeof(uint32_t);
    z.s = (float *)p;
    return z;
}

/* Descending float order as ascending unsigned: s ≥ 0 after the min-max
 * normalisation, so its bits order as integers; −0 and anything negative
 * count as 0 (NaN, with a clear sign bit, ranks first). Inverted so that
 * an ascending sort gives the descending order. */
static uint32_t desc_key(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    if (u & 0x80000000u) u = 0;
    return ~u;
}

/* pix[0..n) = 0..n-1 sorted by key ascending, stable; byte passes in which
 * every key has the same digit are skipped. */
static void radix_sort(struct dscratch *z, long n) {
    for (long i = 0; i < n; i++) z->pix[i] = i;
    for (int shift = 0; shift < 32; shift += 8) {
        long count[257] = {0};
        for (long i = 0; i < n; i++) count[((z->key[i] >> shift) & 0xffu) + 1]++;
        if (n > 0 && count[((z->key[0] >> shift) & 0xffu) + 1] == n) continue;
        for (int b = 0; b < 256; b++) count[b + 1] += count[b];
        for (long i = 0; i < n; i++) {
            long to = count[(z->key[i] >> shift) & 0xffu]++;
            z->pix_tmp[to] = z->pix[i];
            z->key_tmp[to] = z->key[i];
        }
        long *pt = z->pix;
        z->pix = z->pix_tmp;
        z->pix_tmp = pt;
        uint32_t *kt = z->key;
        z->key = z->key_tmp;
        z->key_tmp = kt;
    }
}

/* One copy: element i is replaced when its rank lies in [lo, lo + n). A
 * sequential pass (rank is the inverse of order) instead of scattering
 * through order: the copies are most of DiffID's host work at 224×224. */
static void fill_copy(const float *restrict x, const uint32_t *restrict rank, long d, uint32_t lo, uint32_t n,
                      float fill, float *restrict out) {
    /* lo <= rank < lo + n as one unsigned compare (wraps below lo), and x
     * loaded unconditionally: a branch-free select that vectorizes */
    for (long i = 0; i < d; i++) {
        float v = x[i];
        out[i] = rank[i] - lo < n ? fill : v;
    }
}

/* The fill value: mean of the kept elements, the removed ones subtracted
 * from the total in ranking order (as the sums have always been taken). */
static float kept_mean(const float *x, const long *order, long d, double total, long first, long n) {
    double kept_sum = total;
    for (long i = first; i < first + n; i++) kept_sum -= x[order[i]];
    return d - n > 0 ? (float)(kept_sum / (double)(d - n)) : 0.0f;
}

void diffid_rank(const float *x, const float *a, int c, long hw, const double *ratios, int n_ratios, uint32_t *rank,
                 float *fill, void *scratch) {
    long d = (long)c * hw;
    struct dscratch z = carve(scratch, c, hw);
    float lo = INFINITY, hi = -INFINITY;
    for (long p = 0; p < hw; p++) {
        float v = 0;
        for (int ch = 0; ch < c; ch++) v += fabsf(a[(long)ch * hw + p]);
        z.s[p] = v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    for (long p = 0; p < hw; p++) z.key[p] = desc_key((z.s[p] - lo) / (hi - lo + 1e-10f));
    radix_sort(&z, hw);
    /* z.key is now sorted alongside z.pix: expand runs of equal keys */
    long k = 0;
    for (long r0 = 0; r0 < hw;) {
        long r1 = r0 + 1;
        while (r1 < hw && z.key[r1] == z.key[r0]) r1++;
        for (int ch = 0; ch < c; ch++)
            for (long i = r0; i < r1; i++) z.order[k++] = (long)ch * hw + z.pix[i];
        r0 = r1;
    }
    for (long i = 0; i < d; i++) rank[z.order[i]] = (uint32_t)i;
    double total = 0;
    for (long i = 0; i < d; i++) total += x[i];
    for (int r = 0; r < n_ratios; r++) {
        long n = diffid_count(ratios[r], d);
        /* deletion: the top n; insertion: the bottom n removed */
        fill[r] = kept_mean(x, z.order, d, total, 0, n);
        fill[n_ratios + r] = kept_mean(x, z.order, d, total, d - n, n);
    }
}

void diffid_perturb(const float *x, const float *a, int c, long hw, const double *ratios, int n_ratios, float *out,
                    void *scratch) {
    long d = (long)c * hw;
    float fill[2 * DIFFID_MAX_RATIOS];
    uint32_t *rank = carve(scratch, c, hw).rank;
    diffid_rank(x, a, c, hw, ratios, n_ratios, rank, fill, scratch);
    for (int r = 0; r < n_ratios; r++) {
        long n = diffid_count(ratios[r], d);
        fill_copy(x, rank, d, 0, (uint32_t)n, fill[r], out + (long)r * d);
        fill_copy(x, rank, d, (uint32_t)(d - n), (uint32_t)n, fill[n_ratios + r], out + (long)(n_ratios + r) * d);
    }
}

int diffid_argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

void diffid_score(const float *logits, int classes, int64_t label, float orig_logit, int n_ratios,
                  struct diffid_acc *acc) {
    for (int r = 0; r < n_ratios; r++) {
        const float *del = logits + (long)r * classes;
        const float *ins = logits + (long)(n_ratios + r) * classes;
        acc->del_correct[r] += diffid_argmax(del, classes) == label;
        acc->ins_correct[r] += diffid_argmax(ins, classes) == label;
        acc->del_logit[r] += (double)del[label] / (double)orig_logit;
        acc->ins_logit[r] += (double)ins[label] / (double)orig_logit;
    }
}

void diffid_image_diffs(const struct diffid_acc *one, int n_ratios, double out[2]) {
    double a = 0, l = 0;
    for (int r = 0; r < n_ratios; r++) {
        a += one->ins_correct[r] - one->del_correct[r];
        l += one->ins_logit[r] - one->del_logit[r];
    }
    out[0] = a / n_ratios;
    out[1] = l / n_ratios;
}
