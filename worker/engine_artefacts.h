/* worker/engine_artefacts.h — a shard's files under RUN_DIR, written after
 * its last batch and before its record is journaled (docs/outputs.md): the
 * maps (attributions/), the files a reader skipped (skipped/), the ROAR
 * rank maps (masks/) and the report's example images (figures/). All go
 * through one writer; what differs between them — the folder, the file's
 * name, text or an npy array of which type and shape — is data. */
#ifndef RECAL_ENGINE_ARTEFACTS_H
#define RECAL_ENGINE_ARTEFACTS_H
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "engine_buffers.h"
#include "npy.h"

/* One file: RUN_DIR/dir/name. */
struct wk_artefact {
    const char *dir; /* a folder of the run directory, made when missing (fs_mkdir_own) */
    char name[64];
    int is_npy; /* 1: an npy array (dtype, ndim, shape, data); 0: len bytes of text */
    enum npy_dtype dtype;
    int ndim;
    int64_t shape[5];
    const void *data;
    size_t len;
};

/* a's file, atomically (npy_write, fs_write_atomic: temp, fsync, rename).
 * 0, or -1 with the message naming the file. */
int wk_artefact_write(const char *run_dir, const struct wk_artefact *a, char *err, size_t errlen);

/* The shard [first, first+count)'s artefacts from its buffers, those the
 * job asks for, in a fixed order. 0 or -1 (message in err). */
int wk_shard_artefacts_write(const struct wk_engine *e, const struct wk_shard_bufs *sb, long first, long count,
                             char *err, size_t errlen);
#endif
