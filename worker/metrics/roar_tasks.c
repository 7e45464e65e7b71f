/* worker/metrics/roar_tasks.c — see roar_tasks.h. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "roar_tasks.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"

void roar_tasks_dir(char *buf, size_t n, const char *out_dir) {
    snprintf(buf, n, "%s/roar-tasks", out_dir);
}

static void task_path(char *buf, size_t n, const char *out_dir, int task) {
    char dir[4200];
    roar_tasks_dir(dir, sizeof dir, out_dir);
    snprintf(buf, n, "%s/task-%05d.txt", dir, task);
}

int roar_tasks_count(const char *out_dir) {
    char dir[4200];
    roar_tasks_dir(dir, sizeof dir, out_dir);
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "task-", 5) && strstr(e->d_name, ".txt") && !strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

/* One line; %.17g gives the double back exactly. */
static int format_record(char *buf, size_t n, const char *sha256, const struct roar_task_id *id, double acc) {
    return snprintf(buf, n,
                    "recal-roar-task 1 config=%s task=%d method=%s estimator=%s fraction=%.17g kept=%s acc=%.17g\n",
                    sha256, id->task, id->method, id->estimator, id->fraction, id->top ? "top" : "bottom", acc);
}

int roar_task_save(const char *out_dir, const char *sha256, const struct roar_task_id *id, double acc, char *err,
                   size_t errlen) {
    char dir[4200], path[4300], line[512];
    roar_tasks_dir(dir, sizeof dir, out_dir);
    if (fs_mkdirs(dir, err, errlen)) return -1;
    task_path(path, sizeof path, out_dir, id->task);
    int len = format_record(line, sizeof line, sha256, id, acc);
    if (len < 0 || (size_t)len >= sizeof line) {
        snprintf(err, errlen, "%s: record too long (method or estimator name)", path);
        return -1;
    }
    if (fs_write_atomic(path, line, (size_t)len, err, errlen)) return -1;
    /* the rename is durable only once the directory is */
    fs_fsync_parent(path);
    return 0;
}

int roar_task_load(const char *out_dir, const char *sha256, const struct roar_task_id *id, double *acc, char *err,
                   size_t errlen) {
    char path[4300], line[512], want[512];
    task_path(path, sizeof path, out_dir, id->task);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    /* Everything but the accuracy must be this task's, byte for byte. */
    format_record(want, sizeof want, sha256, id, 0.0);
    const char *a = ok ? strstr(line, " acc=") : NULL, *wa = strstr(want, " acc=");
    char *end = NULL;
    if (a && (size_t)(a - line) == (size_t)(wa - want) && !strncmp(line, want, (size_t)(wa - want))) {
        *acc = strtod(a + 5, &end);
        if (end && end != a + 5 && *end == '\n' && *acc >= 0 && *acc <= 1) return 1;
    }
    if (ok && !strncmp(line, "recal-roar-task 1 config=", 25) && strncmp(line + 25, sha256, 64)) {
        snprintf(err, errlen,
                 "%s is a fine-tune of another config (sha256 %.12s…, this one %.12s…): resume with the "
                 "config and --set values of the interrupted run, or remove %s/roar-tasks to start over",
                 path, line + 25, sha256, out_dir);
    } else {
        snprintf(err, errlen,
                 "%s: not a finished fine-tune of this task (%s/%s k=%g %s): remove it to run that "
                 "fine-tune again",
                 path, id->method, id->estimator, id->fraction, id->top ? "top" : "bottom");
    }
    return -1;
}
