/* worker/metrics/roar_tasks.h — the finished fine-tunes of `recal roar`, one small file
 * each under OUT/roar-tasks/, so that an interrupted Diff-ROAR resumes
 * (`--resume`) instead of starting over: a CIFAR or ImageNet sweep is tens
 * of fine-tunes of minutes to hours each. A file is written atomically
 * (temporary file, fsync, rename) by the rank that finished the task, and is
 * keyed by the config's sha256 and the task's identity, so a resumed run
 * never mixes in a fine-tune of other settings, and a task is either in the
 * record once or not at all. Rank 0 alone reads the record. */
#ifndef RECAL_ROAR_TASKS_H
#define RECAL_ROAR_TASKS_H
#include <stddef.h>

struct roar_task_id {
    int task; /* index in cmd_roar's task order */
    const char *method, *estimator;
    double fraction;
    int top; /* 1: the top-k pixels kept, 0: the bottom-k */
};

/* OUT/roar-tasks, where the files live. */
void roar_tasks_dir(char *buf, size_t n, const char *out_dir);
/* Number of task files in the directory (0 when it does not exist). */
int roar_tasks_count(const char *out_dir);
/* Record one finished task's accuracy. 0, or -1 with err (disk full, ...). */
int roar_task_save(const char *out_dir, const char *sha256, const struct roar_task_id *id, double acc, char *err,
                   size_t errlen);
/* 1 with *acc when the task's file exists and matches (config and
 * identity), 0 when there is none, -1 with err when it is unreadable or
 * from another config or task. */
int roar_task_load(const char *out_dir, const char *sha256, const struct roar_task_id *id, double *acc, char *err,
                   size_t errlen);
#endif
