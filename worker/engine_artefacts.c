/* worker/engine_artefacts.c — see engine_artefacts.h. */
#include "engine_artefacts.h"

#include <stdio.h>
#include <string.h>

#include "examples.h"
#include "fsutil.h"

/* shard-<first>-<last><ext>: the one name a shard's files have, which a
 * resume checks too (wk_shard_file). */
static void shard_name(char *buf, size_t n, long first, long count, const char *ext) {
    snprintf(buf, n, "shard-%08ld-%08ld%s", first, first + count - 1, ext);
}

void wk_shard_file(char *buf, size_t n, const char *run_dir, const char *dir, long first, long count, const char *ext) {
    char name[64];
    shard_name(name, sizeof name, first, count, ext);
    snprintf(buf, n, "%s/%s/%s", run_dir, dir, name);
}

int wk_artefact_write(const char *run_dir, const struct wk_artefact *a, char *err, size_t errlen) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", run_dir, a->dir);
    if (fs_mkdir_own(path, err, errlen)) return -1;
    snprintf(path, sizeof path, "%s/%s/%s", run_dir, a->dir, a->name);
    if (a->is_npy) return npy_write(path, a->dtype, a->ndim, a->shape, a->data, err, errlen);
    return fs_write_atomic(path, a->data, a->len, err, errlen);
}

static struct wk_artefact text_file(const char *dir, const char *text, size_t len) {
    return (struct wk_artefact){.dir = dir, .data = text, .len = len};
}

/* An npy file of shape {n, slots or 1 + slots, c or nothing, h, w}. */
static struct wk_artefact npy_file(const char *dir, enum npy_dtype dtype, const void *data, int64_t n, int64_t per,
                                   const struct ds_dataset *ds, int with_channels) {
    struct wk_artefact a = {.dir = dir, .is_npy = 1, .dtype = dtype, .data = data, .shape = {n, per}};
    int k = 2;
    if (with_channels) a.shape[k++] = ds->c;
    a.shape[k++] = ds->h;
    a.shape[k++] = ds->w;
    a.ndim = k;
    return a;
}

int wk_shard_artefacts_write(const struct wk_engine *e, const struct wk_shard_bufs *sb, long first, long count,
                             char *err, size_t errlen) {
    struct wk_artefact a[5];
    char ids_text[WK_EXAMPLES_TEXT_MAX];
    int n = 0;
    if (sb->maps) { /* count × slots × C × H × W */
        a[n] = npy_file("attributions", NPY_F32, sb->maps, count, e->n_slots, &e->ds, 1);
        shard_name(a[n++].name, sizeof a->name, first, count, ".npy");
    }
    if (sb->skipped) {
        a[n] = text_file("skipped", sb->skipped, sb->skipped_len);
        shard_name(a[n++].name, sizeof a->name, first, count, ".txt");
    }
    if (sb->ranks) { /* count × slots × H × W */
        a[n] = npy_file("masks", NPY_U16, sb->ranks, count, e->n_slots, &e->ds, 0);
        shard_name(a[n++].name, sizeof a->name, first, count, ".npy");
    }
    if (sb->n_ex) { /* the ids first: a report that finds the maps finds their ids */
        size_t len = wk_examples_ids_text(e->ex_ids, e->n_ex_ids, first, count, ids_text, sizeof ids_text);
        a[n] = text_file("figures", ids_text, len);
        snprintf(a[n++].name, sizeof a->name, "examples-%08ld.txt", first);
        /* n_ex × (1 + slots) × C × H × W: the image in pixel space, then each slot's map */
        a[n] = npy_file("figures", NPY_F32, sb->ex, sb->n_ex, 1 + e->n_slots, &e->ds, 1);
        snprintf(a[n++].name, sizeof a->name, "examples-%08ld.npy", first);
    }
    for (int k = 0; k < n; k++)
        if (wk_artefact_write(e->run_dir, &a[k], err, errlen)) return -1;
    return 0;
}
