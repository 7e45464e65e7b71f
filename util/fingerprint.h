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
 * view: image count, shape, classes). Cheap on 50,000 JPEGs: no file is
 * read. 0, or -1 with a message. */
int fp_tree(const char *path, const char *extra, char hex[65], char *err, size_t errlen);
#endif
