/* util/fsutil.h — small filesystem helpers with messages that say what to do. */
#ifndef RECAL_FSUTIL_H
#define RECAL_FSUTIL_H
#include <stddef.h>
#include <stdio.h>

/* mkdir -p; 0 or -1 with message. */
int fs_mkdirs(const char *path, char *err, size_t errlen);
/* 1 when path is a directory with at least one entry, 0 when missing or empty. */
int fs_dir_nonempty(const char *path);
/* mkdir of a directory inside the run directory (logs/, attributions/,
 * per_image/, ...): one that exists must be a directory itself, not a link
 * planted at its name (the rank log was created, and shard files replaced,
 * in the directory it named). 0, or -1 with a message. */
int fs_mkdir_own(const char *path, char *err, size_t errlen);
/* A run-directory file recal appends to or rewrites in place (the lock, the
 * journal, the rank logs), open as fd: 0 when it is a regular file with one
 * name; else -1 with a message saying what is wrong and what to do (what:
 * "a lock file", "a journal", "a log"). A hard link (a cp -al copy of a run)
 * would carry the writes into the other copy or an outside file. */
int fs_check_own(int fd, const char *path, const char *what, char *err, size_t errlen);
int fs_exists(const char *path);
/* 1 when a and b name the same file: the same string, or existing files
 * with the same device and inode (a link, ./x vs x); else 0. For outputs
 * that would overwrite an input (`attribute --out X --input X`). */
int fs_same_file(const char *a, const char *b);
/* open(PATH, O_RDONLY) of a regular file only, and never blocking in open():
 * a FIFO's open() waits for a writer forever, and a stop signal (caught,
 * SA_RESTART) restarts it, so SIGTERM went unheard. Opened O_NONBLOCK,
 * checked with fstat, then blocking again. The fd, or -1 with errno (a
 * directory EISDIR, another special file EINVAL); fs_read_strerror() says
 * why in words ("is a FIFO, not a regular file"). */
int fs_open_read(const char *path);
/* fs_open_read as a FILE * ("rb"); NULL on failure, fs_read_strerror() why. */
FILE *fs_fopen_read(const char *path);
/* Why this thread's last fs_open_read / fs_fopen_read failed. */
const char *fs_read_strerror(void);
/* Read a whole file into a malloc'ed buffer with a NUL after its *n bytes
 * (so text can be used as a string). 0, or -1 with a message. */
int fs_read_all(const char *path, char **out, size_t *n, char *err, size_t errlen);
/* The one atomic writer of every artefact (metrics, npy arrays, sweep files,
 * run-dir copies): the parts, in order, into PATH.tmp.PID, fsync, rename
 * over PATH, fsync of the directory, so that a reader or a crash sees the
 * old file or the whole new one. Every write, fsync and rename goes through
 * fault.h (RECAL_FAULT). 0, or -1 with a message naming PATH and what to do;
 * the temporary file never stays behind. */
struct fs_part {
    const void *data;
    size_t n;
};
/* An existing PATH that is not a regular file (a device, a FIFO, a directory,
 * a symbolic link) is refused, never replaced. */
int fs_write_parts(const char *path, const struct fs_part *parts, int n_parts, char *err, size_t errlen);
/* The same check alone, for a command to make before its work: -1 with that
 * message when PATH exists and is not a regular file, else 0 (`recal train`
 * trained for its whole run and then refused train.out). */
int fs_output_ok(const char *path, char *err, size_t errlen);
/* "a directory", "a character device", "a FIFO", ... for a stat mode. */
const char *fs_kind(unsigned mode);
int fs_write_atomic(const char *path, const void *data, size_t n, char *err, size_t errlen);
/* A file another library wrote at tmp (a TorchScript save): fsync it, rename
 * it over path and fsync the directory, as fs_write_parts ends. tmp is
 * removed on failure. */
int fs_commit_tmp(const char *tmp, const char *path, char *err, size_t errlen);
/* fsync the directory holding PATH, so a new entry in it survives a crash. */
int fs_fsync_parent(const char *path);
/* Take an exclusive flock(LOCK_NB) on PATH, created when create is set, and
 * write "pid N on host H" into it. Returns the open fd, which holds the lock
 * until closed or the process ends (a crash frees it); FS_LOCK_ABSENT when
 * PATH is missing and !create; FS_LOCK_BUSY when another process holds it
 * (err then holds that process's "pid N on host H"); -1 with a message. */
enum { FS_LOCK_ABSENT = -2, FS_LOCK_BUSY = -3 };
int fs_lock(const char *path, int create, char *err, size_t errlen);
#endif
