/* util/fingerprint.c — see fingerprint.h. */
#define _XOPEN_SOURCE 700
#include "fingerprint.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void to_hex(const unsigned char *md, char hex[65]) {
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

int fp_file_sha256(const char *path, char hex[65], char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
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
