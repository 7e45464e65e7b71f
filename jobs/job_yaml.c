/* jobs/job_yaml.c — job_load: read the file, apply --set, validate every
 * section into struct job, and fingerprint the inputs with SHA-256. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cores.h"
#include "fsutil.h"
#include "job_internal.h"

/* A config is a few KiB; a bound keeps a mistaken path (a dataset file)
 * from being slurped whole. */
#define JOB_FILE_MAX (16u << 20)

static int read_file(const char *path, const struct job_err *e, char **buf, size_t *len) {
    FILE *f = fs_fopen_read(path);
    if (!f) return job_errf(e, NULL, "cannot read: %s", fs_read_strerror());
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b) {
        if (n == cap) {
            char *nb = cap >= JOB_FILE_MAX ? NULL : realloc(b, cap * 2);
            if (!nb) {
                free(b);
                fclose(f);
                return job_errf(e, NULL, "cannot read: file too large or out of memory");
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    const char *why = !b ? "out of memory" : ferror(f) ? strerror(errno) : NULL;
    fclose(f);
    if (why) {
        free(b);
        return job_errf(e, NULL, "cannot read: %s", why);
    }
    *buf = b;
    *len = n;
    return 0;
}

/* The fingerprint covers what decides the result: the file bytes as read
 * and each --set in order, so two runs agree iff their inputs agree. */
static int fingerprint(const char *buf, size_t len, const char *const *sets, int n_sets, char hex[65]) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, buf, len);
    for (int i = 0; ok && i < n_sets; i++)
        ok = EVP_DigestUpdate(ctx, "\n--set ", 7) && EVP_DigestUpdate(ctx, sets[i], strlen(sets[i]));
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok) return -1;
    for (unsigned i = 0; i < mdlen; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static void set_defaults(struct job *j, const char *path) {
    static const double ratios[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
    memset(j, 0, sizeof *j);
    snprintf(j->file, sizeof j->file, "%s", path);
    snprintf(j->name, sizeof j->name, "recal");
    snprintf(j->device, sizeof j->device, "auto");
    snprintf(j->precision, sizeof j->precision, "fp32");
    snprintf(j->split, sizeof j->split, "test");
    j->batch_size = 64;
    j->memory_budget_mb = JOB_MEMORY_DEFAULT_MB;
    j->shard_images = 256;
    j->shards_per_rank = JOB_SHARDS_PER_RANK;
    j->stop_grace_seconds = 60.0;
    j->watchdog_seconds = 600.0;
    j->coordinator_computes = true;
    j->target = JOB_TARGET_LABEL;
    j->n_diffid_ratios = 9;
    memcpy(j->diffid_ratios, ratios, sizeof ratios);
    j->out_figures = true;
    j->stats.resamples = 1000;
    j->stats.level = 0.95;
    j->train.epochs = 3;
    j->train.lr = 0.05;
    j->train.momentum = 0.9;
    j->train.weight_decay = 0.0;
    j->train.batch_size = 64;
}

/* Optional integer KEY of MAP into *dst (left alone when absent). */
static int opt_int(const struct job_err *e, const struct job_node *map, const char *key, long long min, long long max,
                   long long *dst) {
    const struct job_node *v = job_map_get(map, key, NULL);
    return v ? job_want_int(e, v, key, min, max, dst) : 0;
}

/* Maps read from a file cannot be made again for other inputs: the metrics
 * that re-attribute (perturbed copies, another split) are refused. */
static int check_precomputed(const struct job_err *e, const struct job_node *v, const struct job *j) {
    for (int k = 0; k < j->n_methods; k++) {
        if (j->methods[k].kind != JOB_M_PRECOMPUTED) continue;
        const char *why = j->lipschitz.on  ? "lipschitz"
                          : j->max_sens.on ? "max_sensitivity"
                          : j->roar.on     ? "roar"
                                           : NULL;
        if (why)
            return job_errf(e, v,
                            "metrics.%s re-attributes other inputs (%s), which a precomputed method (methods.%d) "
                            "cannot: score its maps with the other metrics, or run the metric in a job of its own",
                            why, j->roar.on && !strcmp(why, "roar") ? "the train split" : "perturbed copies", k);
    }
    return 0;
}

/* target: label | predicted | a class index. */
static int read_target(const struct job_err *e, const struct job_node *v, int *out) {
    if (v->kind == JOB_N_SCALAR && v->text && !job_casecmp(v->text, "label")) *out = JOB_TARGET_LABEL;
    else if (v->kind == JOB_N_SCALAR && v->text && !job_casecmp(v->text, "predicted")) *out = JOB_TARGET_PREDICTED;
    else {
        long long k;
        if (v->kind != JOB_N_SCALAR || !v->text || v->text[0] < '0' || v->text[0] > '9' ||
            job_want_int(e, v, "target", 0, 1000000, &k))
            return job_bad(e, v, "target", "label, predicted or a class index >= 0");
        *out = (int)k;
    }
    return 0;
}

static int opt_enum(const struct job_err *e, const struct job_node *map, const char *key, const char *const *names,
                    int n, char *dst, size_t cap) {
    const struct job_node *v = job_map_get(map, key, NULL);
    int i;
    if (!v) return 0;
    if (job_want_enum(e, v, key, names, n, &i)) return -1;
    snprintf(dst, cap, "%s", names[i]); /* canonical lower-case spelling */
    return 0;
}

static int read_model(const struct job_err *e, const struct job_node *m, struct job *j) {
    static const char *const keys[] = {"path"};
    if (!m) return job_errf(e, NULL, "missing required key 'model.path'");
    if (job_want_section(e, m, "model") || job_check_keys(e, m, keys, 1, NULL, 0, "key", "'model'")) return -1;
    const struct job_node *v = job_map_get(m, "path", NULL);
    if (!v) return job_errf(e, m, "missing required key 'model.path'");
    return job_want_str(e, v, "path", j->model_path, sizeof j->model_path);
}

/* dataset.mean / dataset.std: one number (every channel) or three. */
static int read_channels(const struct job_err *e, const struct job_node *d, const char *key, bool positive, double *dst,
                         int *n) {
    const struct job_node *v = job_map_get(d, key, NULL);
    const char *rule =
        positive ? "a number > 0 or a list of 1 or 3 numbers > 0" : "a number or a list of 1 or 3 numbers";
    if (!v) return 0;
    if (v->kind == JOB_N_SCALAR) {
        if (job_want_double(e, v, key, &dst[0])) return -1;
        if (positive && !(dst[0] > 0)) return job_bad(e, v, key, rule);
        *n = 1;
        return 0;
    }
    if (v->kind != JOB_N_SEQ || (v->n != 1 && v->n != 3)) return job_bad(e, v, key, rule);
    for (size_t i = 0; i < v->n; i++) {
        if (job_want_double(e, v->kids[i], key, &dst[i])) return -1;
        if (positive && !(dst[i] > 0)) return job_bad(e, v->kids[i], key, "a number > 0");
    }
    *n = (int)v->n;
    return 0;
}

static int read_dataset(const struct job_err *e, const struct job_node *d, struct job *j) {
    static const char *const keys[] = {"name",     "path", "split", "limit",   "resize",  "crop",       "label",
                                       "on_error", "mean", "std",   "classes", "threads", "dct_scaling"};
    static const char *const names[] = {"fashion-mnist", "mnist", "cifar10", "cifar100", "imagenet", "npy"};
    static const char *const splits[] = {"test", "train", "val"};
    static const char *const labels[] = {"fine", "coarse"};
    static const char *const on_error[] = {"fail", "skip"};
    const struct job_node *v;
    if (!d) return job_errf(e, NULL, "missing required key 'dataset.name'");
    if (job_want_section(e, d, "dataset") || job_check_keys(e, d, keys, 13, NULL, 0, "key", "'dataset'")) return -1;
    if (!job_map_get(d, "name", NULL)) return job_errf(e, d, "missing required key 'dataset.name'");
    if (!job_map_get(d, "path", NULL)) return job_errf(e, d, "missing required key 'dataset.path'");
    long long limit = 0, resize = 0, crop = 0, classes = 0, threads = 0;
    if (opt_enum(e, d, "name", names, 6, j->dataset_name, sizeof j->dataset_name) ||
        job_want_str(e, job_map_get(d, "path", NULL), "path", j->dataset_path, sizeof j->dataset_path) ||
        opt_enum(e, d, "split", splits, 3, j->split, sizeof j->split) || opt_int(e, d, "limit", 0, LONG_MAX, &limit) ||
        opt_int(e, d, "resize", 1, 65536, &resize) || opt_int(e, d, "crop", 1, 65536, &crop) ||
        opt_int(e, d, "classes", 1, 1000000, &classes) || opt_int(e, d, "threads", 1, 256, &threads) ||
        read_channels(e, d, "mean", false, j->ds_mean, &j->ds_n_mean) ||
        read_channels(e, d, "std", true, j->ds_std, &j->ds_n_std))
        return -1;
    int k;
    if ((v = job_map_get(d, "label", NULL))) {
        if (job_want_enum(e, v, "label", labels, 2, &k)) return -1;
        j->ds_label_coarse = k == 1;
    }
    if ((v = job_map_get(d, "on_error", NULL))) {
        if (job_want_enum(e, v, "on_error", on_error, 2, &k)) return -1;
        j->ds_skip_errors = k == 1;
    }
    /* Keys that only one dataset reads are refused elsewhere, at the key,
     * rather than silently ignored. */
    bool inet = !strcmp(j->dataset_name, "imagenet");
    if ((v = job_map_get(d, "label", NULL)) && strcmp(j->dataset_name, "cifar100"))
        return job_errf(e, v, "'label' applies to dataset cifar100 only (remove it)");
    if ((v = job_map_get(d, "resize", NULL)) && !inet)
        return job_errf(e, v, "'resize' applies to dataset imagenet only (remove it)");
    if ((v = job_map_get(d, "crop", NULL)) && !inet)
        return job_errf(e, v, "'crop' applies to dataset imagenet only (remove it)");
    if ((v = job_map_get(d, "dct_scaling", NULL))) {
        if (!inet) return job_errf(e, v, "'dct_scaling' applies to dataset imagenet only (remove it)");
        if (job_want_bool(e, v, "dct_scaling", &j->ds_dct_scaling)) return -1;
    }
    if ((v = job_map_get(d, "crop", NULL)) && crop > (resize ? resize : 224))
        return job_errf(e, v, "'crop' (%lld) must not exceed 'resize' (%lld)", crop, resize ? resize : 224LL);
    if ((v = job_map_get(d, "classes", NULL)) && strcmp(j->dataset_name, "npy"))
        return job_errf(e, v, "'classes' applies to dataset npy only (remove it)");
    if ((v = job_map_get(d, "split", NULL)) && inet && !strcmp(j->split, "test"))
        return job_errf(e, v, "dataset imagenet has no split 'test' (use 'val' or 'train')");
    if (inet && !v) snprintf(j->split, sizeof j->split, "val"); /* ImageNet's test labels are not public */
    j->limit = (long)limit;
    j->ds_resize = (int)resize;
    j->ds_crop = (int)crop;
    j->ds_classes = (int)classes;
    j->ds_threads = (int)threads;
    return 0;
}

/* outputs.examples: image ids, each once; whether each id is in the data
 * set is known only once it is open (wk_examples_plan). */
static int read_examples(const struct job_err *e, const struct job_node *v, struct job *j) {
    char rule[96];
    snprintf(rule, sizeof rule, "a list of 1 to %d image ids, like [0, 17, 42]", JOB_MAX_EXAMPLES);
    if (v->kind != JOB_N_SEQ || v->n == 0 || v->n > JOB_MAX_EXAMPLES) return job_bad(e, v, "examples", rule);
    for (size_t i = 0; i < v->n; i++) {
        long long id = 0;
        if (job_want_int(e, v->kids[i], "examples", 0, LONG_MAX, &id)) return -1;
        for (size_t k = 0; k < i; k++)
            if (j->examples[k] == (long)id)
                return job_errf(e, v->kids[i], "'examples' lists image %lld twice (list each id once)", id);
        j->examples[i] = (long)id;
    }
    j->n_examples = (int)v->n;
    return 0;
}

static int read_outputs(const struct job_err *e, const struct job_node *o, struct job *j) {
    static const char *const keys[] = {"attributions", "masks", "figures", "per_image", "heatmap", "examples"};
    static const char *const heatmaps[] = {"abs", "signed"};
    bool *dst[] = {&j->out_attributions, &j->out_masks, &j->out_figures, &j->out_per_image};
    if (job_want_section(e, o, "outputs") || job_check_keys(e, o, keys, 6, NULL, 0, "key", "'outputs'")) return -1;
    for (int i = 0; i < 4; i++) {
        const struct job_node *v = job_map_get(o, keys[i], NULL);
        if (v && job_want_bool(e, v, keys[i], dst[i])) return -1;
    }
    const struct job_node *v = job_map_get(o, "heatmap", NULL);
    int h = 0;
    if (v && job_want_enum(e, v, "heatmap", heatmaps, 2, &h)) return -1;
    j->out_heatmap = (enum job_heatmap)h;
    v = job_map_get(o, "examples", NULL);
    return v ? read_examples(e, v, j) : 0;
}

static int opt_double(const struct job_err *e, const struct job_node *map, const char *key, double lo, bool lo_open,
                      double hi, bool hi_open, const char *rule, double *dst) {
    const struct job_node *v = job_map_get(map, key, NULL);
    double x;
    if (!v) return 0;
    if (job_want_double(e, v, key, &x)) return -1;
    if (x < lo || x > hi || (lo_open && x == lo) || (hi_open && x == hi)) return job_bad(e, v, key, rule);
    *dst = x;
    return 0;
}

static int read_statistics(const struct job_err *e, const struct job_node *t, struct job *j) {
    static const char *const keys[] = {"resamples", "level"};
    long long resamples = j->stats.resamples;
    if (job_want_section(e, t, "statistics") || job_check_keys(e, t, keys, 2, NULL, 0, "key", "'statistics'"))
        return -1;
    /* 10^6 resamples of 50,000 images is already minutes on one core */
    if (opt_int(e, t, "resamples", 0, 1000000, &resamples) ||
        opt_double(e, t, "level", 0.0, true, 1.0, true, "a number in (0, 1), e.g. 0.95", &j->stats.level))
        return -1;
    j->stats.resamples = (int)resamples;
    return 0;
}

static int read_train(const struct job_err *e, const struct job_node *t, struct job *j) {
    static const char *const keys[] = {"epochs", "lr", "momentum", "weight_decay", "batch_size", "out"};
    struct job_train *tr = &j->train;
    long long epochs = tr->epochs, bs = tr->batch_size;
    if (job_want_section(e, t, "train") || job_check_keys(e, t, keys, 6, NULL, 0, "key", "'train'")) return -1;
    tr->present = true;
    if (opt_int(e, t, "epochs", 1, INT_MAX, &epochs) ||
        opt_double(e, t, "lr", 0.0, true, HUGE_VAL, false, "a number > 0", &tr->lr) ||
        opt_double(e, t, "momentum", 0.0, false, 1.0, true, "a number in [0, 1)", &tr->momentum) ||
        opt_double(e, t, "weight_decay", 0.0, false, HUGE_VAL, false, "a number >= 0", &tr->weight_decay) ||
        opt_int(e, t, "batch_size", 1, INT_MAX, &bs))
        return -1;
    tr->epochs = (int)epochs;
    tr->batch_size = (int)bs;
    const struct job_node *out = job_map_get(t, "out", NULL);
    if (!out) return job_errf(e, t, "missing required key 'train.out'");
    return job_want_str(e, out, "out", tr->out, sizeof tr->out);
}

static int check_top(const struct job_err *e, const struct job_node *root) {
    if (root->kind == JOB_N_MAP) return 0;
    if (root->kind == JOB_N_NULL && !root->text[0])
        return job_errf(e, root, "config is empty; expected a mapping of settings");
    return job_bad(e, root, "the top level", "a mapping of settings");
}

static const char *const precisions[] = {"fp32", "tf32", "bf16"};

bool job_precision_known(const char *name) {
    for (size_t i = 0; i < sizeof precisions / sizeof *precisions; i++)
        if (!strcmp(name, precisions[i])) return true;
    return false;
}

static int validate(const struct job_err *e, const struct job_node *root, struct job *j) {
    static const char *const keys[] = {"name",
                                       "seed",
                                       "device",
                                       "threads",
                                       "model",
                                       "dataset",
                                       "batch_size",
                                       "memory_budget_mb",
                                       "shard_images",
                                       "methods",
                                       "metrics",
                                       "outputs",
                                       "train",
                                       "chunk_samples",
                                       "sweep",
                                       "precision",
                                       "shard_seconds",
                                       "shards_per_rank",
                                       "stop_grace_seconds",
                                       "coordinator_computes",
                                       "watchdog_seconds",
                                       "statistics",
                                       "target"};
    static const char *const devices[] = {"auto", "cpu", "cuda"};
    const struct job_node *v;
    long long seed = 0, threads = 0, bs = j->batch_size, mem = j->memory_budget_mb, shard = j->shard_images, chunk = 0;
    long long per_rank = j->shards_per_rank;
    /* shard_seconds, the size from a timed probe, is gone (the probe idled
     * every other rank): old configs still load, and its 0 (off) still
     * means shards of shard_images, i.e. shards_per_rank: 0 */
    double shard_seconds = -1;

    if (job_check_keys(e, root, keys, (int)(sizeof keys / sizeof *keys), NULL, 0, "key", "top level")) return -1;
    if ((v = job_map_get(root, "name", NULL)) && job_want_str(e, v, "name", j->name, sizeof j->name)) return -1;
    /* The name starts the run directory's (runs/<name>-<date>-<hash>): one
     * path component, or `name: ../../x` made the run outside runs/. */
    for (const char *c = j->name; v && *c; c++)
        if (*c == '/' || (unsigned char)*c < 0x20 || *c == 0x7f)
            return job_errf(e, v,
                            "'name' starts the run directory's name, so it may not hold '/' or control "
                            "characters (got '%.60s'): use letters, digits, '-', '_' or '.'",
                            j->name);
    if ((v = job_map_get(root, "target", NULL)) && read_target(e, v, &j->target)) return -1;
    if ((v = job_map_get(root, "coordinator_computes", NULL)) &&
        job_want_bool(e, v, "coordinator_computes", &j->coordinator_computes))
        return -1;
    if (opt_int(e, root, "seed", 0, LLONG_MAX, &seed) ||
        opt_enum(e, root, "device", devices, 3, j->device, sizeof j->device) ||
        opt_enum(e, root, "precision", precisions, 3, j->precision, sizeof j->precision) ||
        opt_int(e, root, "threads", 0, CORES_THREADS_MAX, &threads) ||
        opt_int(e, root, "batch_size", 1, INT_MAX, &bs) || opt_int(e, root, "shard_images", 1, INT_MAX, &shard) ||
        opt_double(e, root, "shard_seconds", 0, false, 1e6, false, "seconds between 0 (off) and 1e6", &shard_seconds) ||
        opt_int(e, root, "shards_per_rank", 0, 1000000, &per_rank) ||
        opt_double(e, root, "stop_grace_seconds", 0, false, 1e6, false, "seconds between 0 and 1e6",
                   &j->stop_grace_seconds) ||
        opt_double(e, root, "watchdog_seconds", 0, false, 1e7, false, "seconds between 0 (off) and 1e7",
                   &j->watchdog_seconds))
        return -1;
    /* memory_budget_mb: MB >= 1, or "auto" (from the device's free memory). */
    if ((v = job_map_get(root, "memory_budget_mb", NULL)) && v->kind == JOB_N_SCALAR && v->text &&
        !job_casecmp(v->text, "auto"))
        mem = JOB_MEMORY_AUTO;
    else if (opt_int(e, root, "memory_budget_mb", 1, LONG_MAX, &mem)) return -1;
    /* chunk_samples: N, 0 (from memory_budget_mb) or "auto" (measured). */
    if ((v = job_map_get(root, "chunk_samples", NULL)) && v->kind == JOB_N_SCALAR && v->text &&
        !job_casecmp(v->text, "auto"))
        chunk = -1;
    else if (opt_int(e, root, "chunk_samples", 0, INT_MAX, &chunk)) return -1;
    j->chunk_samples = (long)chunk;
    j->seed = (uint64_t)seed;
    j->threads = (int)threads;
    j->batch_size = (int)bs;
    j->memory_budget_mb = (long)mem;
    j->shard_images = (int)shard;
    j->shards_per_rank = shard_seconds == 0 && !job_map_get(root, "shards_per_rank", NULL) ? 0 : (int)per_rank;

    if (read_model(e, job_map_get(root, "model", NULL), j) || read_dataset(e, job_map_get(root, "dataset", NULL), j))
        return -1;
    if ((v = job_map_get(root, "outputs", NULL)) && read_outputs(e, v, j)) return -1;
    if ((v = job_map_get(root, "train", NULL)) && read_train(e, v, j)) return -1;
    if ((v = job_map_get(root, "statistics", NULL)) && read_statistics(e, v, j)) return -1;
    if ((v = job_map_get(root, "metrics", NULL)) && job_read_metrics(e, v, j)) return -1;
    if ((v = job_map_get(root, "sweep", NULL)) && job_read_sweep(e, v, j)) return -1;

    /* `methods:` left empty reads as absent: a train-only config needs none,
     * an evaluation config needs at least one. */
    v = job_map_get(root, "methods", NULL);
    if (v && v->kind != JOB_N_NULL && job_read_methods(e, v, j)) return -1;
    if (j->n_methods == 0 && !j->train.present) return job_errf(e, v, "'methods' must list at least one method");
    return check_precomputed(e, v, j);
}

int job_load(const char *path, const char *const *sets, int n_sets, struct job *out, char *err, size_t errlen) {
    struct job_err e = {path ? path : "(null)", err, errlen};
    if (err && errlen) err[0] = '\0';
    if (!path || !out) return job_errf(&e, NULL, "job_load: no config path or output");
    if (n_sets < 0 || n_sets > JOB_MAX_SETS || (n_sets > 0 && !sets))
        return job_errf(&e, NULL, "between 0 and %d --set overrides are allowed, got %d", JOB_MAX_SETS, n_sets);
    if (strlen(path) >= sizeof out->file) return job_errf(&e, NULL, "config path is too long");
    for (int i = 0; i < n_sets; i++)
        if (!sets[i]) return job_errf(&e, NULL, "--set %d is NULL", i);

    char *buf = NULL;
    size_t len = 0;
    if (read_file(path, &e, &buf, &len)) return -1;
    struct job_node *root = NULL;
    int rc = job_tree_parse(buf, len, NULL, &e, &root);
    if (!rc) rc = check_top(&e, root); /* --set needs a mapping to walk */
    for (int i = 0; !rc && i < n_sets; i++) rc = job_tree_apply_set(root, sets[i], &e);
    if (!rc) {
        set_defaults(out, path);
        rc = validate(&e, root, out);
    }
    if (!rc && fingerprint(buf, len, sets, n_sets, out->sha256)) rc = job_errf(&e, NULL, "cannot compute sha256");
    job_tree_free(root);
    free(buf);
    return rc;
}
