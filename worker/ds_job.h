/* ds_job.h — open a job's dataset with every dataset.* option of the config. */
#ifndef RECAL_DS_JOB_H
#define RECAL_DS_JOB_H

#include <stddef.h>

#include "dataset.h"
#include "job.h"

/* The job's dataset.* keys as ds_options (decode threads: dataset.threads,
 * else the job's threads, else 2). */
void wk_ds_options(const struct job *job, struct ds_options *opt);

/* ds_open_opts(job's name and path, split, limit, job's options). */
int wk_ds_open(const struct job *job, const char *split, long limit, struct ds_dataset *out, char *err, size_t errlen);

/* wk_ds_open with the split's listing made elsewhere (ds_list; NULL: the
 * reader lists the directories itself). */
int wk_ds_open_listed(const struct job *job, const char *split, long limit, const struct ds_listing *listing,
                      struct ds_dataset *out, char *err, size_t errlen);

#endif
