/* util/fingerprint.h — what a run's inputs were, so that --resume can refuse
 * to mix two models or two data sets in one set of results (a model file
 * replaced between the interrupt and the resume gave accuracy 0.50 from a
 * 0.89 and a 0.11 model, exit 0). */
#ifndef RECAL_FINGERPRINT_H
#define RECAL_FINGERPRINT_H
#include <stddef.h>

/* sha256 of a file's bytes, 64 hex chars + NUL. 0, or -1 with a message. */
int fp_file_sha256(const char *path, char hex[65], char *err, size_t errlen);

/* sha256 over the sorted (relative name, size) of every regular file under
 * path (a file itself: its name and size), followed by `extra` (the reader's
 * view: image count, shape, classes). No file is read, so other content of
 * the same sizes passes: kept only to check run directories made before
 * fp_files. 0, or -1 with a message. */
int fp_tree(const char *path, const char *extra, char hex[65], char *err, size_t errlen);

#define FP_THREADS_MAX 16
/* The data set by content: sha256 of every file in paths (in that order),
 * read whole by up to `threads` threads (a FIFO or device refused before any
 * read). *manifest (malloc'd; the caller frees) gets one line per file,
 * "name<TAB>size<TAB>sha256", the name relative to root so that a data set
 * copied to another directory (a node's scratch) resumes; hex = sha256 of
 * the manifest followed by `extra`. 0, or -1 with a message naming the
 * file. Cost: one read of the files (docs/hardening.md has the figures). */
int fp_files(const char *root, const char *const *paths, size_t n, const char *extra, int threads, char hex[65],
             char **manifest, char *err, size_t errlen);
#endif
