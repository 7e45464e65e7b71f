/* worker/engine_batch.c — see engine_batch.h. The batch stays on the
 * model's device once uploaded (docs/performance.md, "Device-resident
 * batches"): only the logits, f(x)[target], the checks and, where read on
 * the host, the maps come back. */
#include "engine_batch.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "diffid_batch.h"
#include "examples.h"
#include "metric_batch.h"
#include "methods.h"
#include "roar_rank.h"
#include "wk_pool.h"

/* The batch's device tensors: the pool owns the images, labels, logits and
 * f(x)[target]; attr_t[s] slot s's maps (owned here: a job may have more
 * slots than a pool holds). */
struct batch {
    struct wk_pool pool;
    ts_tensor *xt, *yt, *lg, *orig_t;
    ts_tensor *attr_t[REC_MAX_SLOTS];
    int on_host[REC_MAX_SLOTS]; /* slot s's maps are in sb->attr[s] already (a host-computed method) */
    struct wk_batch bt;
};

/* The model's prediction: the first maximal logit. */
static int predicted(const float *logits, int classes) {
    int pred = 0;
    for (int k = 1; k < classes; k++)
        if (logits[k] > logits[pred]) pred = k;
    return pred;
}

/* The class the methods and metrics explain for an image (job->target). */
static int64_t target_of(const struct job *job, int64_t label, const float *logits, int classes) {
    return job->target == JOB_TARGET_LABEL       ? label
           : job->target == JOB_TARGET_PREDICTED ? predicted(logits, classes)
                                                 : job->target;
}

/* An image's fixed per-image columns (REC_IM_*): id, label, prediction,
 * target, and the target's logit and softmax probability (in double,
 * max-shifted). */
static void image_row(double *row, long id, int64_t label, int64_t target, const float *logits, int classes) {
    const int pred = predicted(logits, classes);
    double z = 0;
    for (int k = 0; k < classes; k++) z += exp((double)logits[k] - logits[pred]);
    row[REC_IM_ID] = (double)id;
    row[REC_IM_LABEL] = (double)label;
    row[REC_IM_PRED] = pred;
    row[REC_IM_TARGET] = (double)target;
    row[REC_IM_LOGIT] = logits[target];
    row[REC_IM_PROB] = exp((double)logits[target] - logits[pred]) / z;
}

/* A model that outputs NaN or Inf (a log of 0, a division by zero, an
 * overflow in bf16) would turn every metric into NaN: a clear error naming
 * the model and the first images, never a number. what: "logits" or
 * "attributions" (then m names the method). */
static int nonfinite_rows(const struct wk_engine *e, const char *what, const float *v, long rows, long cols,
                          const int64_t *ids, const struct job_method *m, char *err, size_t errlen) {
    long bad = 0, first_bad[3];
    for (long i = 0; i < rows; i++)
        for (long k = 0; k < cols; k++)
            if (!isfinite(v[i * cols + k])) {
                if (bad < 3) first_bad[bad] = (long)ids[i];
                bad++;
                break;
            }
    if (!bad) return 0;
    char list[96];
    int n = 0;
    for (long j = 0; j < bad && j < 3; j++)
        n += snprintf(list + n, sizeof list - (size_t)n, "%s%ld", j ? ", " : "", first_bad[j]);
    snprintf(err, errlen,
             "%s: the model gives NaN or Inf %s%s%s for %ld image(s) of this batch (image id%s %s%s); recal scores no "
             "non-finite numbers: check the model on these images (a log of 0, a division by zero, an overflow "
             "under precision: bf16?)",
             e->job->model_path, what, m ? " of " : "", m ? job_method_name(m->kind) : "", bad, bad > 1 ? "s" : "",
             list, bad > 3 ? ", ..." : "");
    return -1;
}

/* What the metric batches read of the engine (metric_batch.h). */
static struct wk_metric_ctx metric_ctx(struct wk_engine *e) {
    return (struct wk_metric_ctx){.job = e->job,
                                  .ds = &e->ds,
                                  .layout = &e->layout,
                                  .slots = e->slots,
                                  .n_slots = e->n_slots,
                                  .model = e->model,
                                  .device = e->device,
                                  .chunk_samples = e->chunk_samples,
                                  .mctx = &e->mctx,
                                  .shard_first = e->shard_first};
}

/* Labels checked here, once a batch, before they go up: the shim then need
 * not read them back after every pass (the open checked the data set's
 * classes against the model's; this holds a reader to it), and a target
 * made from them (label, the prediction, a class checked at open) is in
 * range too. */
static int check_labels(const struct wk_engine *e, const struct wk_shard_bufs *sb, long b, char *err, size_t errlen) {
    for (long i = 0; i < b; i++)
        if (sb->y[i] >= e->classes) {
            snprintf(
                err, errlen,
                "%s: image %lld has label %lld, outside the model's %d classes (%s; check dataset and model match)",
                e->job->dataset_path, (long long)sb->ids[i], (long long)sb->y[i], e->classes, e->job->model_path);
            return -1;
        }
    return 0;
}

/* The images and labels up, the clean forward: the accuracy (against the
 * label), each image's target into sb->y (from here on every method and
 * metric explains the target), its per-image columns, f(x)[target] on the
 * device and in sb->orig; bs->bt the batch as the methods see it. */
static int batch_forward(struct wk_engine *e, struct wk_shard_bufs *sb, long b, double *record, struct batch *bs,
                         char *err, size_t errlen) {
    const struct job *job = e->job;
    int64_t shape[4] = {b, e->ds.c, e->ds.h, e->ds.w}, s_b[1] = {b};
    int64_t correct = 0, *y = sb->y;
    int finite = 1;
    float *clean = sb->clean;
    WK_T(&bs->pool, ts_from_f32(sb->x, shape, 4, e->device, &bs->xt), bs->xt);
    WK_T(&bs->pool, ts_from_i64(y, s_b, 1, e->device, &bs->yt), bs->yt);
    WK_T(&bs->pool, ts_module_forward(e->model, bs->xt, &bs->lg), bs->lg);
    WK_CHECK(ts_all_finite(bs->lg, &finite));
    if (!finite) { /* the logits come back only to name the images */
        WK_CHECK(ts_to_f32(bs->lg, clean, (size_t)(b * e->classes)));
        if (nonfinite_rows(e, "logits", clean, b, e->classes, sb->ids, NULL, err, errlen)) goto fail;
    }
    WK_T(&bs->pool, ts_label_logits(bs->lg, bs->yt, &bs->orig_t, &correct), bs->orig_t);
    record[REC_CORRECT] += (double)correct;
    record[REC_IMAGES] += (double)b;
    /* images.csv's columns: one host copy of the batch's logits (classes
     * floats an image, beside the attribution's passes) */
    if (finite) WK_CHECK(ts_to_f32(bs->lg, clean, (size_t)(b * e->classes)));
    for (long i = 0; i < b; i++) {
        const int64_t t = target_of(job, y[i], clean + i * e->classes, e->classes);
        double *row = wk_pi_row(e, record, sb->ids[i]);
        if (row) image_row(row, sb->ids[i], y[i], t, clean + i * e->classes, e->classes);
        y[i] = t;
    }
    if (job->target != JOB_TARGET_LABEL) {
        int64_t ignored;
        WK_T(&bs->pool, ts_from_i64(y, s_b, 1, e->device, &bs->yt), bs->yt);
        WK_T(&bs->pool, ts_label_logits(bs->lg, bs->yt, &bs->orig_t, &ignored), bs->orig_t);
    }
    WK_CHECK(ts_to_f32(bs->orig_t, sb->orig, (size_t)b)); /* f(x)[target]: 4 bytes an image, for the host metrics */
    bs->bt = (struct wk_batch){.x = bs->xt,
                               .xh = sb->x,
                               .labels = y,
                               .y = bs->yt,
                               .ids = sb->ids,
                               .b = b,
                               .c = e->ds.c,
                               .h = e->ds.h,
                               .w = e->ds.w,
                               .logits = bs->lg};
    return 0;
fail:
    return -1;
}

/* Every slot's maps on the device (bs->attr_t), one call a method: its
 * estimators share the gradients. A host-computed method writes its maps
 * into the slots' host buffers as well (bs->on_host). */
static int batch_maps(struct wk_engine *e, struct wk_shard_bufs *sb, struct batch *bs, char *err, size_t errlen) {
    const struct job *job = e->job;
    for (int s = 0; s < e->n_slots;) {
        const struct job_method *m = &job->methods[e->slots[s].method];
        int s_end = s;
        ts_tensor *out[JOB_EST_COUNT] = {0};
        while (s_end < e->n_slots && e->slots[s_end].method == e->slots[s].method) s_end++;
        float *keep[JOB_EST_COUNT] = {0}; /* a host method's maps straight into the slots' host buffers */
        for (int t = s; t < s_end; t++) keep[e->slots[t].estimator] = sb->attr[t];
        int maps_kept = 0;
        if (wk_method_run_dev_keep(&e->mctx, m, &bs->bt, out, keep, &maps_kept, err, errlen)) {
            /* name the method and images: the shim's message cannot */
            char why[1024];
            snprintf(why, sizeof why, "%s", err);
            snprintf(err, errlen, "%s: %s on images %ld..%ld: %s", job->model_path, job_method_name(m->kind),
                     (long)sb->ids[0], (long)sb->ids[bs->bt.b - 1], why);
            return -1;
        }
        for (int t = s; t < s_end; t++) {
            bs->attr_t[t] = out[e->slots[t].estimator];
            out[e->slots[t].estimator] = NULL;
            bs->on_host[t] = maps_kept;
        }
        for (int k = 0; k < JOB_EST_COUNT; k++) ts_tensor_free(out[k]); /* none expected */
        for (int t = s; t < s_end; t++) {
            if (!bs->attr_t[t]) {
                snprintf(err, errlen, "internal: %s gave no map for slot %d", job_method_name(m->kind), t);
                return -1;
            }
        }
        s = s_end;
    }
    return 0;
}

/* Every slot's maps finite: one read for all of them (a sync each was
 * n_slots a batch); the first slot that is not is named, with its method
 * and images. */
static int check_maps(struct wk_engine *e, struct wk_shard_bufs *sb, struct batch *bs, char *err, size_t errlen) {
    const long b = bs->bt.b, d = (long)e->ds.c * e->ds.h * e->ds.w;
    int bad = -1;
    if (e->n_slots > 0) WK_CHECK(ts_all_finite_each((const ts_tensor *const *)bs->attr_t, e->n_slots, &bad));
    if (bad < 0) return 0;
    if (!bs->on_host[bad]) WK_CHECK(ts_to_f32(bs->attr_t[bad], sb->attr[bad], (size_t)(b * d)));
    return nonfinite_rows(e, "attributions", sb->attr[bad], b, d, sb->ids, &e->job->methods[e->slots[bad].method], err,
                          errlen);
fail:
    return -1;
}

/* The maps come to the host only for what reads them there: saved maps,
 * rank maps and figures, DiffID's host path, faithfulness correlation and
 * estimate on the images they cover. Then into the shard's outputs. */
static int maps_to_host(struct wk_engine *e, struct wk_shard_bufs *sb, struct batch *bs, long first, long count,
                        char *err, size_t errlen) {
    const struct job *job = e->job;
    const long b = bs->bt.b, d = (long)e->ds.c * e->ds.h * e->ds.w, hw = sb->hw;
    const int64_t *ids = sb->ids;
    int in_fig = 0; /* the batch holds one of the report's example images */
    for (long i = 0; i < b; i++) in_fig |= wk_examples_row(e->ex_ids, e->n_ex_ids, first, count, (long)ids[i]) >= 0;
    if (sb->maps || sb->ranks || in_fig || (job->diffid && !wk_diffid_copies_on_device(e->device)) ||
        wk_metrics_read_maps(job, e->ds.n, ids, b))
        for (int s = 0; s < e->n_slots; s++)
            if (!bs->on_host[s]) WK_CHECK(ts_to_f32(bs->attr_t[s], sb->attr[s], (size_t)(b * d)));
    if (sb->maps)
        for (long i = 0; i < b; i++)
            for (int s = 0; s < e->n_slots; s++)
                memcpy(sb->maps + ((ids[i] - first) * e->n_slots + s) * d, sb->attr[s] + i * d,
                       (size_t)d * sizeof *sb->maps);
    if (sb->ranks)
        for (long i = 0; i < b; i++)
            for (int s = 0; s < e->n_slots; s++)
                roar_rank_map(sb->attr[s] + i * d, e->ds.c, hw, sb->ranks + ((ids[i] - first) * e->n_slots + s) * hw,
                              sb->rk_order, sb->rk_sal);
    for (long i = 0; i < b; i++) {
        const long row = wk_examples_row(e->ex_ids, e->n_ex_ids, first, count, (long)ids[i]);
        if (row < 0) continue;
        float *dst = sb->ex + row * (1 + e->n_slots) * d;
        for (long k = 0; k < d; k++) dst[k] = sb->x[i * d + k] * e->ds.std[k / hw] + e->ds.mean[k / hw];
        for (int s = 0; s < e->n_slots; s++) memcpy(dst + (1 + s) * d, sb->attr[s] + i * d, (size_t)d * sizeof *dst);
    }
    return 0;
fail:
    return -1;
}

/* DiffID of every slot, on the device (or the host path), into the
 * shard's sums and the images' per-image rows. */
static int batch_diffid(struct wk_engine *e, struct wk_shard_bufs *sb, struct batch *bs, double *record, char *err,
                        size_t errlen) {
    const struct job *job = e->job;
    const long b = bs->bt.b;
    const int dev_diffid = wk_diffid_copies_on_device(e->device);
    for (int s = 0; s < e->n_slots; s++) {
        int drc = dev_diffid
                      ? wk_diffid_batch_dev(e->model, e->classes, e->ds.c, e->ds.h, e->ds.w, e->chunk_samples,
                                            job->diffid_ratios, job->n_diffid_ratios, bs->xt, bs->attr_t[s], bs->yt,
                                            bs->orig_t, b, &sb->acc[s], sb->pi_diffid, err, errlen)
                      : wk_diffid_batch(e->model, e->device, e->classes, e->ds.c, e->ds.h, e->ds.w, e->chunk_samples,
                                        job->diffid_ratios, job->n_diffid_ratios, sb->x, bs->xt, sb->attr[s], sb->y,
                                        sb->orig, b, &sb->acc[s], sb->pi_diffid, err, errlen);
        if (drc) return -1;
        for (long i = 0; sb->pi_diffid && i < b; i++) {
            double *row = wk_pi_row(e, record, sb->ids[i]);
            rec_pi_put(&e->layout, row, s, REC_PI_DIFF_ACC, sb->pi_diffid[2 * i]);
            rec_pi_put(&e->layout, row, s, REC_PI_DIFF_LOGIT, sb->pi_diffid[2 * i + 1]);
        }
    }
    return 0;
}

int wk_engine_batch(struct wk_engine *e, struct wk_shard_bufs *sb, long first, long count, long b, double *record,
                    char *err, size_t errlen) {
    if (check_labels(e, sb, b, err, errlen)) return -1;
    struct batch bs;
    memset(&bs, 0, sizeof bs);
    int rc = -1;
    if (batch_forward(e, sb, b, record, &bs, err, errlen) || batch_maps(e, sb, &bs, err, errlen) ||
        check_maps(e, sb, &bs, err, errlen) || maps_to_host(e, sb, &bs, first, count, err, errlen))
        goto done;
    if (e->job->diffid && batch_diffid(e, sb, &bs, record, err, errlen)) goto done;
    const struct wk_metric_ctx mc = metric_ctx(e);
    if (wk_perturb_metrics(&mc, &bs.bt, sb->orig, sb->attr, bs.attr_t, record, err, errlen) ||
        wk_stability_metrics(&mc, &bs.bt, bs.attr_t, record, err, errlen))
        goto done;
    rc = 0;
done:
    wk_pool_free(&bs.pool);
    for (int s = 0; s < e->n_slots; s++) ts_tensor_free(bs.attr_t[s]);
    return rc;
}
