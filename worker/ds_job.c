/* ds_job.c — the one place that turns struct job's dataset.* fields into
 * struct ds_options, so run, train and dataset-dump read a config alike. */
#include "ds_job.h"

#include <string.h>

void wk_ds_options(const struct job *job, struct ds_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->resize = job->ds_resize;
    opt->crop = job->ds_crop;
    opt->dct_scaling = job->ds_dct_scaling;
    opt->label_coarse = job->ds_label_coarse;
    opt->on_error = job->ds_skip_errors ? DS_ON_ERROR_SKIP : DS_ON_ERROR_FAIL;
    opt->n_mean = job->ds_n_mean;
    opt->n_std = job->ds_n_std;
    for (int i = 0; i < 3; i++) {
        opt->mean[i] = (float)job->ds_mean[i];
        opt->std[i] = (float)job->ds_std[i];
    }
    opt->classes = job->ds_classes;
    opt->threads = job->ds_threads > 0 ? job->ds_threads : job->threads > 0 ? job->threads : 2;
}

int wk_ds_open(const struct job *job, const char *split, long limit, struct ds_dataset *out, char *err, size_t errlen) {
    return wk_ds_open_listed(job, split, limit, NULL, out, err, errlen);
}

int wk_ds_open_listed(const struct job *job, const char *split, long limit, const struct ds_listing *listing,
                      struct ds_dataset *out, char *err, size_t errlen) {
    struct ds_options opt;
    wk_ds_options(job, &opt);
    opt.listing = listing;
    return ds_open_opts(job->dataset_name, job->dataset_path, split, limit, &opt, out, err, errlen);
}
