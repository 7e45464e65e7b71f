/* util/seed.h — per-(run seed, image id, purpose) random seeds.
 * Every random draw in recal is seeded from these three numbers, never from a
 * global stream, so an image's result is the same on 1 rank or 64 and in any
 * batch (docs/methods.md, "Randomness that does not depend on the cluster"). */
#ifndef RECAL_SEED_H
#define RECAL_SEED_H
#include <math.h>
#include <stdint.h>

enum seed_purpose {
    SEED_REFERENCES = 1,  /* IG-Uniform / IG-SG references */
    SEED_RANDOM_ATTR = 2, /* the random-attribution control */
    SEED_ALPHA = 3,
    SEED_NOISE = 4,
    SEED_TRAIN_SHUFFLE = 5,
    SEED_EG_INDEX = 6,      /* Expected Gradients: which training images */
    SEED_AGI_TARGETS = 7,   /* AGI: which adversarial target classes */
    SEED_SENSN_MASK = 8,    /* sensitivity-n: which pixels each mask removes */
    SEED_SENSN_BASE = 9,    /* sensitivity-n `rand` baseline pixels */
    SEED_INFIDELITY = 10,   /* infidelity perturbations I */
    SEED_LIPSCHITZ = 11,    /* local Lipschitz Gaussian samples */
    SEED_MAXSENS = 12,      /* max-sensitivity uniform-ball samples */
    SEED_ROAR_SHUFFLE = 13, /* Diff-ROAR fine-tune data order (per epoch) and init */
    SEED_LIME_MASKS = 14,   /* LIME: which superpixels each sample switches off */
    SEED_SHAP_MASKS = 15,   /* KernelSHAP: coalition sizes and members */
    SEED_FCORR_MASK = 16,   /* faithfulness_correlation: each run's random subset */
    SEED_BOOTSTRAP = 17,    /* the statistics: resample b (the "image id" is b) */
    SEED_ROAD_NOISE = 18,   /* ROAD: the imputation's noise */
    SEED_BASELINE = 19,     /* ig / guided_ig `uniform` baseline pixels (one draw per image) */
};

/* splitmix64 finaliser: a bijective, well-mixed 64-bit hash. */
static inline uint64_t seed_mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t seed_for(uint64_t run_seed, int64_t image_id, uint32_t purpose) {
    return seed_mix(seed_mix(seed_mix(run_seed) ^ (uint64_t)image_id) ^ purpose);
}
/* The counter-based stream of the device draws (ts_ctr_rand): element n
 * of key k is the n-th output of the splitmix64 stream seeded with k,
 * seed_mix(k + n·γ), so any element is computed on its own, on any device,
 * with integer arithmetic that is exact everywhere (issue #21: draws that
 * depend neither on the batch, the rank count nor the device). */
#define SEED_GAMMA 0x9e3779b97f4a7c15ULL
static inline uint64_t seed_ctr_bits(uint64_t key, uint64_t n) {
    return seed_mix(key + n * SEED_GAMMA);
}
/* U[0, 1) with 24 random bits: exactly representable in float32. */
static inline float seed_ctr_u01(uint64_t key, uint64_t n) {
    return (float)(seed_ctr_bits(key, n) >> 40) * 0x1p-24f;
}
/* N(0, 1) from the pair (2n, 2n + 1): Box–Muller in float64, one normal
 * per pair, u1 in (0, 1] so that the log is finite; rounded to float32.
 * ts_ctr_rand computes the same on a device. */
static inline float seed_ctr_normal(uint64_t key, uint64_t n) {
    double u1 = (double)((seed_ctr_bits(key, 2 * n) >> 40) + 1) * 0x1p-24;
    double u2 = (double)(seed_ctr_bits(key, 2 * n + 1) >> 40) * (0x1p-24 * 6.283185307179586);
    return (float)(sqrt(log(u1) * -2.0) * cos(u2));
}
/* 0..n-1 in the order of a Fisher–Yates shuffle driven by the splitmix64
 * stream that starts at seed: the data order of `recal train` and of the
 * Diff-ROAR fine-tunes (tests re-derive it in Python). */
static inline void seed_shuffle(long *idx, long n, uint64_t seed) {
    uint64_t s = seed;
    for (long i = 0; i < n; i++) idx[i] = i;
    for (long i = n - 1; i > 0; i--) {
        s = seed_mix(s);
        long j = (long)(s % (uint64_t)(i + 1));
        long t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
#endif
