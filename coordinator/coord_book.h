/* coordinator/coord_book.h — rank 0's files in the run directory: the lock
 * that keeps a second run out, the copies of the config for humans, and the
 * book of per-shard records backed by the journal. No MPI. */
#ifndef RECAL_COORD_BOOK_H
#define RECAL_COORD_BOOK_H
#include <stddef.h>

#include "journal.h"

struct job;

/* The batch script `recal submit` writes into the run directory. */
#define COORD_SUBMIT_SCRIPT "submit.sbatch"
/* The lock a run holds on its directory: a name of recal's own, never a
 * user's file. */
#define COORD_LOCK_NAME ".recal-lock"

/* "<name>-<YYYYmmdd-HHMMSS>-<first 8 hex of the config sha256>": the run id
 * of a run given no --run-dir (runs/<id>), for `recal run` and `recal submit`. */
void coord_default_run_id(const struct job *job, char *id, size_t n);

/* 1 when DIR may take a new run: missing, empty, or holding only what
 * `recal submit` puts there before the job starts (submit.sbatch, and
 * logs/ with Slurm's slurm-*.out), and a .lock (the caller checks that no
 * run holds it). */
int coord_rundir_fresh(const char *dir);

struct coord_book {
    long n_shards;
    size_t len;          /* doubles per record */
    double *records;     /* n_shards × len, in shard order */
    unsigned char *done; /* n_shards flags: the record is in the journal */
    long n_resumed;      /* shards found in the journal at the start */
    long n_done;         /* shards done at the end of coord_run */
    long images_resumed; /* images in the n_resumed shards (set by coord_run) */
    /* Rank 0's seconds in dispatch bookkeeping (set by coord_run): receiving
     * results, journaling them, picking and sending the next shard, on both
     * of its threads. The polls between messages are not counted: they sleep. */
    double coord_seconds;
    long local_shards; /* shards rank 0 computed itself (set by coord_run) */
    struct journal jn;
};

/* Prepare DIR for a run and lock it (RUN_DIR/.recal-lock, held until *lock_fd is
 * closed or the process ends). A new run needs DIR fresh (coord_rundir_fresh) and
 * writes config.yaml (the config file's bytes) and overrides.txt (the --set
 * list); a resume needs DIR/journal, or, when an earlier start stopped
 * before it made one (nothing finished), DIR's config.yaml and overrides.txt
 * equal to this command's: then *restart is set and the caller starts the
 * run anew in DIR (a copy missing, cut short by a full disk, is written
 * again). Without --resume, the same holds for a DIR with no journal whose
 * copies are this command's (its earlier start failed); any other
 * non-empty DIR is refused and left untouched. A locked DIR is refused at
 * once ("DIR is in use by another recal run (pid N on host H)"). 0, or -1
 * with a message. */
int coord_rundir_open(const char *dir, const char *config, const char *const *sets, int n_sets, int resume,
                      int *lock_fd, int *restart, char *err, size_t errlen);

/* Allocate the book of stage `stage` (0 for a one-stage run) and create
 * DIR/journal (stage 0), or load that stage's section of it (with resume,
 * or for a later stage, which begins its section when it has none: same
 * config and plan only) and pre-fill the done shards. 0, or -1 with a
 * message. */
int coord_book_open(struct coord_book *b, const char *dir, int stage, int resume, const struct journal_meta *m,
                    char *err, size_t errlen);
/* A book with no journal (a benchmark's: what it times is the hand-out,
 * not the disk), for coord_opts.no_journal. 0, or -1 with a message. */
int coord_book_open_memory(struct coord_book *b, long n_shards, size_t len, char *err, size_t errlen);
void coord_book_close(struct coord_book *b);
/* The one way a finished shard enters the book: journaled first (append,
 * checksum, fsync), then counted, so the book never holds a shard the
 * journal would lose. 0, or -1 with the journal's message. */
int coord_book_put(struct coord_book *b, long s, long first, long count, const double *rec, char *err, size_t errlen);
/* Counted only (rec into the book, done, n_done): for a caller that has
 * journaled it under its own lock (coord_run's two threads). */
void coord_book_mark(struct coord_book *b, long s, const double *rec);
/* A journaled shard taken out of the book (its output files are gone): it
 * is computed again; its journal record stays (the first copy wins on a
 * resume, and the recomputed one holds the same numbers). */
void coord_book_forget(struct coord_book *b, long s);
#endif
