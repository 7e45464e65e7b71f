/* src/run_inputs.h — what rank 0 fixes in the run directory when a run
 * starts and checks when it resumes (run_inputs.c): the directory itself
 * (made and locked), the chunk and shard size (RUN_DIR/chunk_samples,
 * RUN_DIR/shard_images: float summation order and the journal's plan
 * follow them), and the inputs by content (RUN_DIR/inputs, RUN_DIR/
 * data_files: a resume over another model or data set is refused). */
#ifndef RECAL_RUN_INPUTS_H
#define RECAL_RUN_INPUTS_H
#include <stddef.h>

#include "job.h"

struct wk_engine;

/* Rank 0 picks the run directory (given, else runs/<run id>), then
 * prepares and locks it (coord_rundir_open). 0, or -1 with a message. */
int run_dir_make(const struct job *job, const char *given, const char *config, const char *const *sets, int n_sets,
                 int resume, char *dir, size_t n, char *run_id, size_t idn, int *lock_fd, int *restart, char *err,
                 size_t errlen);
/* The run's chunk: written when the run starts, read back by --resume
 * (when present). 0, or -1 with a message. */
int run_keep_chunk(const char *dir, int resume, long *chunk, char *err, size_t errlen);
/* The model's and the data set's sha256, written when the run starts and
 * compared by --resume. 0, or -1 with a message naming what changed. */
int run_keep_inputs(const struct job *job, const struct wk_engine *e, const char *dir, int resume, char *err,
                    size_t errlen);
/* The run's shard size for `ranks` computing ranks (shards_per_rank),
 * written when the run starts; --resume reads it back. 0, or -1 with a
 * message. */
int run_keep_shard_size(const struct wk_engine *e, const struct job *job, const char *dir, int resume, int ranks,
                        long *shard, char *err, size_t errlen);
#endif
