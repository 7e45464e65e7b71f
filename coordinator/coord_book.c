/* coordinator/coord_book.c — see coord_book.h. */
#define _POSIX_C_SOURCE 200809L
#include "coord_book.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "job.h"
#include "log.h"
#include "shard_plan.h"

/* err holds the holder ("pid N on host H") on the way in. */
static int in_use(const char *dir, char *err, size_t errlen) {
    char holder[300];
    snprintf(holder, sizeof holder, "%s", err);
    snprintf(err, errlen,
             "%s is in use by another recal run (%s): wait for it to end, or stop it (kill -TERM) and resume "
             "with --resume",
             dir, holder);
    return -1;
}

/* What a run directory keeps of the command that made it: config.yaml (the
 * config file's bytes) and overrides.txt (the --set list, a line each).
 * Both malloc'ed; 0, or -1 with a message. */
static int copies_text(const char *config, const char *const *sets, int n_sets, char **cfg, size_t *ncfg, char **ov,
                       size_t *nov, char *err, size_t errlen) {
    *cfg = *ov = NULL;
    if (fs_read_all(config, cfg, ncfg, err, errlen)) return -1;
    size_t total = 1;
    for (int i = 0; i < n_sets; i++) total += strlen(sets[i]) + 1;
    *ov = malloc(total);
    if (!*ov) {
        free(*cfg);
        *cfg = NULL;
        snprintf(err, errlen, "out of memory writing overrides.txt");
        return -1;
    }
    size_t at = 0;
    for (int i = 0; i < n_sets; i++) at += (size_t)sprintf(*ov + at, "%s\n", sets[i]);
    *nov = at;
    return 0;
}

/* config.yaml and overrides.txt say what made the directory; the journal
 * header's sha256 is what a resume is checked against. */
static int write_copies(const char *dir, const char *config, const char *const *sets, int n_sets, char *err,
                        size_t errlen) {
    char path[4200], *cfg, *ov;
    size_t ncfg, nov;
    if (copies_text(config, sets, n_sets, &cfg, &ncfg, &ov, &nov, err, errlen)) return -1;
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    int rc = fs_write_atomic(path, cfg, ncfg, err, errlen);
    snprintf(path, sizeof path, "%s/overrides.txt", dir);
    if (!rc) rc = fs_write_atomic(path, ov, nov, err, errlen);
    free(cfg);
    free(ov);
    return rc;
}

/* 1 when DIR's copies are byte for byte those this command would write,
 * 0 when both are there and one differs, 2 when one is missing and the
 * other matches (a start that stopped while writing them, e.g. on a full
 * disk), 3 otherwise (not a directory this command made), -1 with a
 * message. */
static int copies_match(const char *dir, const char *config, const char *const *sets, int n_sets, char *err,
                        size_t errlen) {
    char path[4200], *want[2], *have = NULL, ignore[256];
    size_t nwant[2], nhave = 0;
    static const char *const names[2] = {"config.yaml", "overrides.txt"};
    if (copies_text(config, sets, n_sets, &want[0], &nwant[0], &want[1], &nwant[1], err, errlen)) return -1;
    int present = 0, matched = 0;
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (fs_read_all(path, &have, &nhave, ignore, sizeof ignore) == 0) {
            present++;
            matched += nhave == nwant[i] && !memcmp(have, want[i], nhave);
        }
        free(have);
        have = NULL;
    }
    int rc = present == 2 ? matched == 2 : present == 1 && matched == 1 ? 2 : 3;
    free(want[0]);
    free(want[1]);
    return rc;
}

void coord_default_run_id(const struct job *job, char *id, size_t n) {
    char stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf(id, n, "%s-%s-%.8s", job->name, stamp, job->sha256);
}

/* logs/ of a submitted run that has not started: only Slurm's own output
 * (slurm-<jobid>.out), which Slurm opens before the batch script runs. */
static int only_slurm_logs(const char *logs) {
    DIR *d = opendir(logs);
    if (!d) return 0;
    struct dirent *de;
    int ok = 1;
    while (ok && (de = readdir(d)))
        ok = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strncmp(de->d_name, "slurm-", 6);
    closedir(d);
    return ok;
}

int coord_rundir_fresh(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 1;
    struct dirent *de;
    int ok = 1;
    char logs[4200];
    while (ok && (de = readdir(d))) {
        /* the lock: callers have checked that no run holds it. Its name
         * is recal's own, so a user's ".lock" makes the directory not
         * fresh (it was taken for recal's and overwritten). */
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, COORD_SUBMIT_SCRIPT) ||
            !strcmp(de->d_name, COORD_LOCK_NAME))
            continue;
        snprintf(logs, sizeof logs, "%s/logs", dir);
        ok = !strcmp(de->d_name, "logs") && only_slurm_logs(logs);
    }
    closedir(d);
    return ok;
}

int coord_rundir_open(const char *dir, const char *config, const char *const *sets, int n_sets, int resume,
                      int *lock_fd, int *restart, char *err, size_t errlen) {
    char lock[4200], path[4200];
    struct stat st;
    *lock_fd = -1;
    *restart = 0;
    snprintf(lock, sizeof lock, "%s/" COORD_LOCK_NAME, dir);
    if (resume) {
        if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s is a file, not a run directory: pass the directory of the run to resume", dir);
            return -1;
        }
        if (stat(dir, &st) != 0) {
            snprintf(err, errlen, "%s: no such run directory, nothing to resume (drop --resume to start a new run)",
                     dir);
            return -1;
        }
        snprintf(path, sizeof path, "%s/journal", dir);
        const int had_lock = fs_exists(lock); /* a refused resume removes the lock it made */
        int fd = fs_lock(lock, 1, err, errlen);
        if (fd == FS_LOCK_BUSY) return in_use(dir, err, errlen);
        if (fd < 0) return -1;
        /* Stopped before its plan was journaled: nothing was finished, so
         * the same command may start the run again where it is. */
        int journaled = fs_exists(path), fresh = !journaled && coord_rundir_fresh(dir);
        int same = journaled ? 1 : fresh ? 0 : copies_match(dir, config, sets, n_sets, err, errlen);
        /* a copy cut short (full disk) is written again by the restart */
        if (same == 2 && write_copies(dir, config, sets, n_sets, err, errlen) == 0) same = 1;
        *restart = !journaled && same == 1;
        if (same != 1) {
            if (!had_lock) unlink(lock);
            close(fd);
            if (same < 0) return -1;
            if (fresh)
                snprintf(err, errlen,
                         "%s: no journal (the directory is empty), so nothing to resume: drop --resume to start a "
                         "new run in it",
                         dir);
            else if (same == 0)
                snprintf(err, errlen,
                         "%s has no journal and was started by another config or --set list (its config.yaml or "
                         "overrides.txt differ): resume with that command, or use a new --run-dir",
                         dir);
            else
                snprintf(err, errlen,
                         "%s has no journal, so nothing to resume (the run stopped before it planned its shards, "
                         "or recal did not make it): start again with a new --run-dir",
                         dir);
            return -1;
        }
        snprintf(path, sizeof path, "%s/logs", dir);
        if (fs_mkdir_own(path, err, errlen)) {
            close(fd);
            return -1;
        }
        *lock_fd = fd;
        return 0;
    }
    /* Look at an existing lock without creating one: a refused directory
     * must be left exactly as it was. */
    int fd = fs_lock(lock, 0, err, errlen);
    if (fd == FS_LOCK_BUSY) return in_use(dir, err, errlen);
    if (fd >= 0) close(fd);
    if (fd == -1) return -1;
    if (!coord_rundir_fresh(dir)) {
        /* The same command's earlier start that ended before it planned
         * its shards (a missing model, a full disk while writing the
         * copies): nothing was finished, so it starts again in it. */
        snprintf(path, sizeof path, "%s/journal", dir);
        int same = fs_exists(path) ? 0 : copies_match(dir, config, sets, n_sets, err, errlen);
        if (same < 0) return -1;
        if (same != 1 && same != 2) {
            snprintf(err, errlen,
                     "%s: run directory exists and is not empty; pass a new --run-dir, or add --resume to continue "
                     "the run in it (nothing was modified)",
                     dir);
            return -1;
        }
        *restart = 1;
    }
    snprintf(path, sizeof path, "%s/logs", dir);
    if (fs_mkdirs(dir, err, errlen) || fs_mkdir_own(path, err, errlen)) return -1;
    fd = fs_lock(lock, 1, err, errlen);
    if (fd == FS_LOCK_BUSY) return in_use(dir, err, errlen); /* lost a race with a run just started */
    if (fd < 0) return -1;
    if (write_copies(dir, config, sets, n_sets, err, errlen)) {
        close(fd);
        return -1;
    }
    *lock_fd = fd;
    return 0;
}

int coord_book_open_memory(struct coord_book *b, long n_shards, size_t len, char *err, size_t errlen) {
    memset(b, 0, sizeof *b);
    b->jn.fd = -1;
    b->n_shards = n_shards;
    b->len = len;
    size_t n = (size_t)(b->n_shards ? b->n_shards : 1);
    b->records = calloc(n * b->len, sizeof *b->records);
    b->done = calloc(n, 1);
    if (!b->records || !b->done) {
        snprintf(err, errlen, "rank 0: out of memory for %ld shard records", b->n_shards);
        coord_book_close(b);
        return -1;
    }
    return 0;
}

int coord_book_open(struct coord_book *b, const char *dir, int stage, int resume, const struct journal_meta *m,
                    char *err, size_t errlen) {
    if (coord_book_open_memory(b, (long)m->n_shards, (size_t)m->record_len, err, errlen)) return -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/journal", dir);
    /* a later stage always opens the journal its first stage made */
    int rc = resume || stage > 0
                 ? journal_open_stage(&b->jn, path, stage, m, b->records, b->done, &b->n_resumed, err, errlen)
                 : journal_create(&b->jn, path, m, err, errlen);
    if (rc) {
        coord_book_close(b);
        return -1;
    }
    b->n_done = b->n_resumed;
    if (resume)
        log_printf("resume: stage %d: %ld of %ld shards already in the journal (%ld records)", stage, b->n_resumed,
                   b->n_shards, b->jn.n_records);
    return 0;
}

void coord_book_close(struct coord_book *b) {
    journal_close(&b->jn);
    free(b->records);
    free(b->done);
    b->records = NULL;
    b->done = NULL;
}

void coord_book_mark(struct coord_book *b, long s, const double *rec) {
    memcpy(b->records + (size_t)s * b->len, rec, b->len * sizeof *rec);
    b->done[s] = 1;
    b->n_done++;
}

int coord_book_put(struct coord_book *b, long s, long first, long count, const double *rec, char *err, size_t errlen) {
    if (journal_append(&b->jn, s, first, count, rec, err, errlen)) return -1;
    coord_book_mark(b, s, rec);
    return 0;
}

void coord_book_forget(struct coord_book *b, long s) {
    if (!b->done[s]) return;
    b->done[s] = 0;
    memset(b->records + (size_t)s * b->len, 0, b->len * sizeof *b->records);
    b->n_resumed--;
    b->n_done--;
}
