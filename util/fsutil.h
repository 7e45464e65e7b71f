/* util/fsutil.h — small filesystem helpers with messages that say what to do. */
#ifndef RECAL_FSUTIL_H
#define RECAL_FSUTIL_H
#include <stddef.h>

/* mkdir -p; 0 or -1 with message. */
int fs_mkdirs(const char *path, char *err, size_t errlen);
/* 1 when path is a directory with at least one entry, 0 when missing or empty. */
int fs_dir_nonempty(const char *path);
int fs_exists(const char *path);
/* Write a whole file atomically: PATH.tmp, fsync, rename. */
int fs_write_atomic(const char *path, const void *data, size_t n, char *err, size_t errlen);
#endif
