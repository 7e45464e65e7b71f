/* inet_list.c - the ImageNet reader's listing of a split, in one buffer.
 *
 * Listing is the part of opening ImageNet that grows with the data set:
 * 50,000 entries for val/, 1.28 M for train/. recal run lists once, on
 * rank 0, and sends this buffer to the other ranks (src/run_listing.c), so a
 * run costs the file system one listing whatever its rank count; ds_open
 * reads the same buffer whether it made it or received it, so both paths
 * are one code path. The buffer is a sequence of NUL-terminated strings:
 *
 *   "recal-listing 1" dir split "folder" n_classes {class n_files {file}...}...
 *   "recal-listing 1" dir split "flat" n_files {file}...
 *
 * counts in decimal. */
#define _DEFAULT_SOURCE /* DT_DIR, DT_REG, DT_LNK, DT_UNKNOWN */
#include "ds_internal.h"
#include "inet_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LISTING_MAGIC "recal-listing 1"
#define LIST_PATH_MAX 4096

int sv_push(struct strvec *v, const char *s) {
    if (v->n == v->cap) {
        long cap = v->cap ? v->cap * 2 : 256;
        char **ns = realloc(v->s, (size_t)cap * sizeof *ns);
        if (!ns) return -1;
        v->s = ns;
        v->cap = cap;
    }
    if (!(v->s[v->n] = strdup(s))) return -1;
    v->n++;
    return 0;
}

void sv_free(struct strvec *v) {
    for (long i = 0; i < v->n; i++) free(v->s[i]);
    free(v->s);
    memset(v, 0, sizeof *v);
}

int inet_cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Entries of dir (not starting with '.') that are directories (want_dir) or
 * regular files, sorted bytewise (as Python's sorted() on names). readdir's
 * d_type tells a file from a folder without a stat: one stat an image was
 * 50,000 calls for val/ on every rank, minutes on a cluster file system. */
static int list_dir(const char *dir, int want_dir, struct strvec *out, char *err, size_t errlen) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[LIST_PATH_MAX];
    struct stat sb;
    if (!d) {
        ds_errf(err, errlen,
                "%s: %s (set dataset.path to the directory holding the split "
                "directories val/ and train/)",
                dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p)
            continue; /* longer than any path the reader opens */
        int is_dir = e->d_type == DT_DIR, is_reg = e->d_type == DT_REG, dangling = 0;
        if (e->d_type == DT_LNK || e->d_type == DT_UNKNOWN) { /* the target's kind, or no d_type */
            if (stat(p, &sb) == 0) {
                is_dir = S_ISDIR(sb.st_mode);
                is_reg = S_ISREG(sb.st_mode);
            } else {
                /* A dangling symlink among the images is listed: its read fails
                 * and names it (on_error: fail), or it is counted and named with
                 * the other skipped files (skip); dropping it said nothing. */
                dangling = !want_dir && lstat(p, &sb) == 0 && S_ISLNK(sb.st_mode);
            }
        }
        if (dangling || (want_dir ? is_dir : is_reg)) {
            if (sv_push(out, e->d_name)) {
                closedir(d);
                ds_errf(err, errlen, "%s: out of memory while listing", dir);
                return -1;
            }
        }
    }
    closedir(d);
    if (out->n > 1) /* an empty directory leaves out->s NULL, which qsort must not get */
        qsort(out->s, (size_t)out->n, sizeof *out->s, inet_cmp_str);
    return 0;
}

/* Append s and its NUL to the listing. */
static int put(struct ds_listing *l, size_t *cap, const char *s) {
    size_t n = strlen(s) + 1;
    if (l->len + n > *cap) {
        size_t nc = *cap ? *cap : 1 << 16;
        while (nc < l->len + n) nc *= 2;
        char *nb = realloc(l->buf, nc);
        if (!nb) return -1;
        l->buf = nb;
        *cap = nc;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    return 0;
}

static int put_count(struct ds_listing *l, size_t *cap, long n) {
    char s[32];
    snprintf(s, sizeof s, "%ld", n);
    return put(l, cap, s);
}

/* The names of v, after their count. */
static int put_names(struct ds_listing *l, size_t *cap, const struct strvec *v) {
    if (put_count(l, cap, v->n)) return -1;
    for (long i = 0; i < v->n; i++)
        if (put(l, cap, v->s[i])) return -1;
    return 0;
}

int inet_list(const char *dir, const char *split, struct ds_listing *out, char *err, size_t errlen) {
    char sdir[LIST_PATH_MAX];
    struct strvec classes = {0}, files = {0};
    size_t cap = 0;
    int rc = -1;
    memset(out, 0, sizeof *out);
    snprintf(sdir, sizeof sdir, "%s/%s", dir, split);
    if (list_dir(sdir, 1, &classes, err, errlen)) goto out;
    const int flat = classes.n == 0;
    if (put(out, &cap, LISTING_MAGIC) || put(out, &cap, dir) || put(out, &cap, split) ||
        put(out, &cap, flat ? "flat" : "folder"))
        goto oom;
    if (flat) {
        if (list_dir(sdir, 0, &files, err, errlen)) goto out;
        if (put_names(out, &cap, &files)) goto oom;
        out->files = files.n;
    } else {
        if (put_count(out, &cap, classes.n)) goto oom;
        for (long c = 0; c < classes.n; c++) {
            char cdir[LIST_PATH_MAX];
            int len = snprintf(cdir, sizeof cdir, "%s/%s", sdir, classes.s[c]);
            if (len < 0 || (size_t)len >= sizeof cdir) {
                ds_errf(err, errlen, "%s/%s: path too long (use a shorter dataset.path)", sdir, classes.s[c]);
                goto out;
            }
            if (list_dir(cdir, 0, &files, err, errlen)) goto out;
            if (put(out, &cap, classes.s[c]) || put_names(out, &cap, &files)) goto oom;
            out->files += files.n;
            sv_free(&files);
        }
    }
    rc = 0;
    goto out;
oom:
    ds_errf(err, errlen, "%s: out of memory while listing", sdir);
out:
    sv_free(&classes);
    sv_free(&files);
    if (rc) ds_listing_free(out);
    return rc;
}

/* ---- reading a listing back -------------------------------------------- */

struct cursor {
    const char *p, *end;
};

/* The next string, or NULL when the buffer ends before its NUL. */
static const char *next(struct cursor *c) {
    const char *nul = c->p < c->end ? memchr(c->p, '\0', (size_t)(c->end - c->p)) : NULL;
    if (!nul) return NULL;
    const char *s = c->p;
    c->p = nul + 1;
    return s;
}

/* A count, at most what the rest of the buffer can hold (2 bytes a name):
 * a damaged count cannot make a huge allocation. -1 when not one. */
static long next_count(struct cursor *c) {
    const char *s = next(c);
    char *e;
    if (!s || !*s) return -1;
    errno = 0;
    long n = strtol(s, &e, 10);
    return *e || errno || n < 0 || n > (c->end - c->p) / 2 ? -1 : n;
}

/* A name the listing may hold: one path component, not hidden. */
static const char *next_name(struct cursor *c) {
    const char *s = next(c);
    return s && *s && *s != '.' && !strchr(s, '/') ? s : NULL;
}

void inet_names_free(struct inet_names *nm) {
    free(nm->classes);
    free(nm->first);
    free(nm->files);
    memset(nm, 0, sizeof *nm);
}

int inet_unpack(const struct ds_listing *l, const char *dir, const char *split, struct inet_names *out, char *err,
                size_t errlen) {
    struct cursor c = {l->buf, l->buf + l->len};
    memset(out, 0, sizeof *out);
    const char *magic = next(&c), *ldir = next(&c), *lsplit = next(&c), *kind = next(&c);
    if (!magic || strcmp(magic, LISTING_MAGIC) != 0 || !ldir || !lsplit || !kind ||
        (strcmp(kind, "flat") != 0 && strcmp(kind, "folder") != 0))
        goto bad;
    if (strcmp(ldir, dir) != 0 || strcmp(lsplit, split) != 0) {
        ds_errf(err, errlen, "%s/%s: the listing given is of %s/%s (a caller bug: list this split)", dir, split, ldir,
                lsplit);
        return -1;
    }
    out->flat = strcmp(kind, "flat") == 0;
    out->n_classes = out->flat ? 0 : next_count(&c);
    if (out->n_classes < 0) goto bad;
    /* every name ends with a NUL: their count bounds the files */
    long most = 1;
    for (const char *p = c.p; p < c.end; p++) most += *p == '\0';
    out->classes = malloc((size_t)(out->n_classes + 1) * sizeof *out->classes);
    out->first = malloc((size_t)(out->n_classes + 1) * sizeof *out->first);
    out->files = malloc((size_t)most * sizeof *out->files);
    if (!out->classes || !out->first || !out->files) {
        inet_names_free(out);
        ds_errf(err, errlen, "%s/%s: out of memory reading the listing", dir, split);
        return -1;
    }
    for (long k = 0; k < (out->flat ? 1 : out->n_classes); k++) {
        if (!out->flat && !(out->classes[k] = next_name(&c))) goto bad;
        out->first[k] = out->n_files;
        long n = next_count(&c);
        if (n < 0 || out->n_files + n > most) goto bad;
        for (long i = 0; i < n; i++)
            if (!(out->files[out->n_files++] = next_name(&c))) goto bad;
    }
    out->first[out->n_classes] = out->n_files;
    if (c.p != c.end) goto bad;
    return 0;
bad:
    inet_names_free(out);
    ds_errf(err, errlen, "%s/%s: the listing given is damaged or cut (a caller bug: list the split again)", dir, split);
    return -1;
}
