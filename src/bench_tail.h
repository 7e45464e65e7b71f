/* src/bench_tail.h — `recal bench --dispatch --tail` (bench_tail.c). */
#ifndef RECAL_BENCH_TAIL_H
#define RECAL_BENCH_TAIL_H

/* Doubles per simulated record: the header the coordinator reads. */
enum { BENCH_TAIL_RECORD = 8 };
/* The largest shard of the "after" plan: the shard_images default. */
enum { BENCH_TAIL_CAP = 256 };

struct bench_tail_opts {
    long images;      /* images of the simulated split (default 50,000: ImageNet val) */
    long batch;       /* batch_size (default 16) */
    double image_ms;  /* simulated compute per image (default 10 ms) */
    double jitter;    /* each shard's time varies by up to this share (default 0.1) */
    double read_frac; /* a shard's first-batch read, as a share of a batch's compute (default 0.15) */
    long old_shard;   /* the "before" shard size (default 144) */
    long per_rank;    /* the "after" plan's shards_per_rank (default recal run's, 32) */
};

/* Under mpirun: both passes, one JSON line each on rank 0; an EXIT_* code. */
int bench_tail(int argc, char **argv, const struct bench_tail_opts *o);
#endif
