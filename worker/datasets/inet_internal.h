/* inet_internal.h - what imagenet.c shares with inet_list.c (the split's
 * listing). Private to worker/datasets. */
#ifndef RECAL_INET_INTERNAL_H
#define RECAL_INET_INTERNAL_H

#include <stddef.h>

#include "dataset.h"

/* A growing list of strdup'ed strings. */
struct strvec {
    char **s;
    long n, cap;
};
int sv_push(struct strvec *v, const char *s); /* 0, or -1 out of memory */
void sv_free(struct strvec *v);
int inet_cmp_str(const void *a, const void *b); /* qsort/bsearch over char * */

/* List <dir>/<split> into out (ds_listing_free frees it): the sorted class
 * folders and each one's sorted image files, or, when the split holds no
 * folder, its sorted files (the flat layout). Names starting with '.' are
 * left out; an entry's kind comes from readdir's d_type, and a stat only
 * where that does not tell (a symbolic link, a file system without d_type).
 * 0, or -1 with a message naming the directory. */
int inet_list(const char *dir, const char *split, struct ds_listing *out, char *err, size_t errlen);

/* A listing read back: pointers into the listing's buffer, which must
 * outlive it. Folder layout: class c's files are files[first[c] ..
 * first[c + 1]); flat: n_classes 0 and every file. */
struct inet_names {
    int flat;
    long n_classes, n_files;
    const char **classes;
    long *first;
    const char **files;
};

/* Read a listing made by inet_list, checked to list <dir>/<split> and to be
 * whole (a listing from another data set or a cut buffer is refused). 0, or
 * -1 with a message. */
int inet_unpack(const struct ds_listing *l, const char *dir, const char *split, struct inet_names *out, char *err,
                size_t errlen);
void inet_names_free(struct inet_names *nm);

#endif
