/* util/fingerprint.c — see fingerprint.h. */
#define _XOPEN_SOURCE 700
#include "fingerprint.h"
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void to_hex(const unsigned char *md, char hex[65]) {
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

int fp_file_sha256(const char *path, char hex[65], char *err, size_t errlen) {
    FILE *f = fs_fopen_read(path);
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, fs_read_strerror());
        return -1;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char buf[1 << 16], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0) ok = EVP_DigestUpdate(ctx, buf, n);
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    fclose(f);
    if (!ok) {
        snprintf(err, errlen, "%s: cannot compute its sha256", path);
        return -1;
    }
    to_hex(md, hex);
    return 0;
}

struct entries {
    char **v;
    size_t n, cap;
};

static int add(struct entries *e, const char *rel, long long size) {
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 256;
        char **v = realloc(e->v, cap * sizeof *v);
        if (!v) return -1;
        e->v = v;
        e->cap = cap;
    }
    size_t len = strlen(rel) + 32;
    char *s = malloc(len);
    if (!s) return -1;
    snprintf(s, len, "%s\t%lld", rel, size);
    e->v[e->n++] = s;
    return 0;
}

/* depth-limited: data sets nest 1–2 levels (ImageNet: class folders) */
static int walk(const char *root, const char *rel, int depth, struct entries *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) return 0; /* unreadable: the reader reports it */
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char r[4096], full[8192];
        snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        snprintf(full, sizeof full, "%s/%s", root, r);
        struct stat st;
        if (stat(full, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < 4) rc = walk(root, r, depth + 1, e);
        } else if (S_ISREG(st.st_mode)) {
            rc = add(e, r, (long long)st.st_size);
        }
    }
    closedir(d);
    return rc;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int fp_tree(const char *path, const char *extra, char hex[65], char *err, size_t errlen) {
    struct entries e = {0};
    struct stat st;
    int rc = -1;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        const char *base = strrchr(path, '/');
        if (add(&e, base ? base + 1 : path, (long long)st.st_size)) goto oom;
    } else if (walk(path, "", 0, &e)) {
        goto oom;
    }
    if (e.n) qsort(e.v, e.n, sizeof *e.v, cmp_str);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; ok && i < e.n; i++)
        ok = EVP_DigestUpdate(ctx, e.v[i], strlen(e.v[i])) && EVP_DigestUpdate(ctx, "\n", 1);
    ok = ok && EVP_DigestUpdate(ctx, extra, strlen(extra)) && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        snprintf(err, errlen, "%s: cannot fingerprint the data set", path);
        goto out;
    }
    to_hex(md, hex);
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "%s: out of memory listing the data set's files", path);
out:
    for (size_t i = 0; i < e.n; i++) free(e.v[i]);
    free(e.v);
    return rc;
}

/* ---- fp_files: the data set by content --------------------------------- */

struct fp_one {
    char hex[65];
    long long size;
};

struct fp_job {
    const char *const *paths;
    size_t n;
    struct fp_one *out;
    pthread_mutex_t lock;
    size_t next; /* under lock */
    int failed;  /* under lock: the first error is kept */
    char *err;
    size_t errlen;
};

/* sha256 of one file's bytes: opened O_NONBLOCK and checked to be a regular
 * file before any read, so a FIFO planted in the data set fails instead of
 * blocking the run's start. */
static int hash_one(const char *path, struct fp_one *o, char *msg, size_t msglen) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(msg, msglen, "%s: %s (the data set's file cannot be read to fingerprint it)", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(msg, msglen, "%s: not a regular file (replace it with the data set's file)", path);
        close(fd);
        return -1;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char buf[1 << 16], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    long long size = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (;;) {
        ssize_t k = read(fd, buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            snprintf(msg, msglen, "%s: %s while fingerprinting it (check the disk)", path, strerror(errno));
            ok = 0;
            break;
        }
        if (k == 0 || !ok) break;
        ok = EVP_DigestUpdate(ctx, buf, (size_t)k);
        size += k;
    }
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    close(fd);
    if (!ok) {
        if (!*msg) snprintf(msg, msglen, "%s: cannot compute its sha256", path);
        return -1;
    }
    to_hex(md, o->hex);
    o->size = size;
    return 0;
}

static void *hash_worker(void *arg) {
    struct fp_job *j = arg;
    char msg[4400];
    for (;;) {
        pthread_mutex_lock(&j->lock);
        size_t i = j->failed ? j->n : j->next++;
        pthread_mutex_unlock(&j->lock);
        if (i >= j->n) return NULL;
        msg[0] = '\0';
        if (hash_one(j->paths[i], &j->out[i], msg, sizeof msg)) {
            pthread_mutex_lock(&j->lock);
            if (!j->failed) snprintf(j->err, j->errlen, "%s", msg);
            j->failed = 1;
            pthread_mutex_unlock(&j->lock);
            return NULL;
        }
    }
}

int fp_files(const char *root, const char *const *paths, size_t n, const char *extra, int threads, char hex[65],
             char **manifest, char *err, size_t errlen) {
    *manifest = NULL;
    struct fp_job j = {.paths = paths, .n = n, .err = err, .errlen = errlen};
    j.out = calloc(n ? n : 1, sizeof *j.out);
    if (!j.out) {
        snprintf(err, errlen, "%s: out of memory fingerprinting %zu files", root, n);
        return -1;
    }
    if (threads < 1) threads = 1;
    if ((size_t)threads > n) threads = n ? (int)n : 1;
    pthread_mutex_init(&j.lock, NULL);
    pthread_t tid[FP_THREADS_MAX];
    int started = 0;
    if (threads > FP_THREADS_MAX) threads = FP_THREADS_MAX;
    for (int t = 1; t < threads; t++)
        if (pthread_create(&tid[started], NULL, hash_worker, &j) == 0) started++;
    hash_worker(&j); /* this thread works too: one thread is enough when none starts */
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    pthread_mutex_destroy(&j.lock);
    int rc = -1;
    size_t rootlen = strlen(root), cap = 0, len = 0;
    while (rootlen > 1 && root[rootlen - 1] == '/') rootlen--;
    char *m = NULL;
    if (j.failed) goto out;
    for (size_t i = 0; i < n; i++) { /* names relative to root: a data set copied elsewhere resumes */
        const char *rel = paths[i];
        if (strncmp(rel, root, rootlen) == 0 && rel[rootlen] == '/') rel += rootlen + 1;
        size_t need = len + strlen(rel) + 96;
        if (need > cap) {
            size_t nc = cap ? 2 * cap : 1 << 16;
            while (nc < need) nc *= 2;
            char *nm = realloc(m, nc);
            if (!nm) {
                snprintf(err, errlen, "%s: out of memory fingerprinting %zu files", root, n);
                goto out;
            }
            m = nm;
            cap = nc;
        }
        len += (size_t)snprintf(m + len, cap - len, "%s\t%lld\t%s\n", rel, j.out[i].size, j.out[i].hex);
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && (!len || EVP_DigestUpdate(ctx, m, len)) &&
             EVP_DigestUpdate(ctx, extra, strlen(extra)) && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        snprintf(err, errlen, "%s: cannot fingerprint the data set", root);
        goto out;
    }
    to_hex(md, hex);
    if (!m) m = calloc(1, 1);
    *manifest = m;
    m = NULL;
    rc = *manifest ? 0 : -1;
out:
    free(m);
    free(j.out);
    return rc;
}
