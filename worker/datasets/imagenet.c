/* imagenet.c - ImageNet (ILSVRC-2012) reader: list at open, decode in ds_get.
 *
 * 50,000 validation images at 224x224x3 floats are 30 GB, so nothing is
 * preloaded: ds_open lists the files and their classes, and each ds_get
 * range is read, decoded and resized by a few threads (one TurboJPEG handle
 * each). Two layouts of <path>/<split>:
 *  (a) ImageFolder: <split>/<wnid>/<file>; class = index of wnid among the
 *      sorted directory names (torchvision's ImageFolder order);
 *  (b) flat: <split>/<ImageId>.JPEG with <path>/LOC_val_solution.csv (Kaggle's
 *      ILSVRC layout: "ImageId,PredictionString", the first token of the
 *      prediction being the wnid); class = line number of the wnid in
 *      <path>/LOC_synset_mapping.txt or synsets.txt if present, else its index
 *      among the sorted wnids of the csv.
 * Image ids are the sorted file order (by class directory, then file name). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "ds_image.h"
#include "ds_internal.h"
#include "inet_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define INET_PATH_MAX 4096
#define INET_WNID_MAX 64

struct inet {
    char **files; /* full paths, image id order */
    int32_t *labels;
    long n;
    int oh, ow;               /* resize target of the whole image */
    int top, left;            /* crop window in it; */
    int crop_h, crop_w;       /*  = oh, ow when no crop */
    int crop;                 /* crop side, 0 = none (top/left depend on each image) */
    float scale[3], shift[3]; /* v/255 - mean)/std as v*scale + shift */
    int threads;
    int dct_scaling; /* decode JPEGs at >= this many times the resize target, 0 = full size */
    enum ds_on_error on_error;
    pthread_mutex_t lock;  /* guards the skip list */
    uint8_t *skipped_flag; /* per image */
    long n_skipped;
    long *skipped; /* image ids in the order met */
    /* the flat layout's boxes (LOC_<split>_solution.csv): 5 floats each,
     * xmin ymin xmax ymax class, image i's from box_first[i] to
     * box_first[i + 1]; and each image's stored size, set when it is read */
    float *box;
    long n_box, box_cap, *box_first, box_first_cap;
    int32_t *orig_w, *orig_h;
    long n_bad_box;    /* boxes of the csv left out: not 4 finite, ordered coordinates */
    char bad_box[600]; /* the first of them: "file:line: image: why" */
};

/* ---- the files and their classes, from the listing (inet_list.c) ------ */

static int add_file(struct inet *in, long *cap, const char *dir, const char *name, int32_t label) {
    if (in->n == *cap) {
        long nc = *cap ? *cap * 2 : 1024;
        char **nf = realloc(in->files, (size_t)nc * sizeof *nf);
        if (!nf) return -1;
        in->files = nf;
        int32_t *nl = realloc(in->labels, (size_t)nc * sizeof *nl);
        if (!nl) return -1;
        in->labels = nl;
        *cap = nc;
    }
    size_t len = strlen(dir) + strlen(name) + 2;
    if (!(in->files[in->n] = malloc(len))) return -1;
    snprintf(in->files[in->n], len, "%s/%s", dir, name);
    in->labels[in->n++] = label;
    return 0;
}

/* (a) <split>/<wnid>/<files> */
static int list_folder(struct inet *in, const char *sdir, const struct inet_names *nm, char *err, size_t errlen) {
    long cap = 0;
    for (long c = 0; c < nm->n_classes; c++) {
        char cdir[INET_PATH_MAX];
        int len = snprintf(cdir, sizeof cdir, "%s/%s", sdir, nm->classes[c]);
        if (len < 0 || (size_t)len >= sizeof cdir) {
            ds_errf(err, errlen, "%s/%s: path too long (use a shorter dataset.path)", sdir, nm->classes[c]);
            return -1;
        }
        for (long i = nm->first[c]; i < nm->first[c + 1]; i++)
            if (add_file(in, &cap, cdir, nm->files[i], (int32_t)c)) {
                ds_errf(err, errlen, "%s: out of memory while listing", cdir);
                return -1;
            }
    }
    return 0;
}

static char *next_line(char **p) {
    char *s = *p, *e;
    if (!*s) return NULL;
    e = strchr(s, '\n');
    if (e) {
        *e = '\0';
        *p = e + 1;
    } else {
        *p = s + strlen(s);
    }
    if (e && e > s && e[-1] == '\r') e[-1] = '\0';
    return s;
}

struct pair {
    const char *id, *wnid, *rest; /* rest: the boxes after the first wnid, or NULL */
    long line;                    /* in the csv, for messages */
};

static int cmp_pair(const void *a, const void *b) {
    return strcmp(((const struct pair *)a)->id, ((const struct pair *)b)->id);
}

/* The class list of layout (b): a synset file when given, else the sorted
 * distinct wnids of the solution csv. */
static int load_synsets(const char *root, struct strvec *wnids, int *from_file, char *err, size_t errlen) {
    static const char *const names[] = {"LOC_synset_mapping.txt", "synsets.txt"};
    char p[INET_PATH_MAX];
    struct stat sb;
    *from_file = 0;
    for (int k = 0; k < 2; k++) {
        uint8_t *buf;
        size_t len;
        char *s, *line;
        snprintf(p, sizeof p, "%s/%s", root, names[k]);
        if (stat(p, &sb) != 0) continue;
        if (ds_slurp(p, NULL, &buf, &len, err, errlen)) return -1;
        buf[len] = '\0';
        s = (char *)buf;
        while ((line = next_line(&s))) {
            char w[INET_WNID_MAX];
            if (sscanf(line, "%63s", w) == 1 && sv_push(wnids, w)) {
                free(buf);
                ds_errf(err, errlen, "%s: out of memory", p);
                return -1;
            }
        }
        free(buf);
        *from_file = 1;
        return 0;
    }
    return 0;
}

/* The class index of a wnid: its line in the synset file, or its place
 * among the sorted wnids; -1 when not listed. */
static long wnid_class(const struct strvec *wnids, const char *w, int from_file) {
    if (from_file) {
        for (long c = 0; c < wnids->n; c++)
            if (!strcmp(wnids->s[c], w)) return c;
        return -1;
    }
    char **hit = bsearch(&w, wnids->s, (size_t)wnids->n, sizeof *wnids->s, inet_cmp_str);
    return hit ? (long)(hit - wnids->s) : -1;
}

/* The boxes of the image listed next ("xmin ymin xmax ymax wnid xmin ..."
 * after its first wnid), appended to in->box; box_first gets one more
 * entry. -1 when out of memory. A malformed group ends the list: the
 * labels come from the first wnid alone, as before boxes were read. */
/* A box recal can use: finite, ordered, inside any image the decoder
 * accepts (DS_MAX_PIXELS bounds a side). */
static int box_ok(const double v[4]) {
    for (int j = 0; j < 4; j++)
        if (!isfinite(v[j]) || v[j] < 0 || v[j] > 178956970.0) return 0;
    return v[0] <= v[2] && v[1] <= v[3];
}

/* Count a box left out, keeping the first for the message. */
static void bad_box(struct inet *in, const char *csv, const struct pair *pr, const char *why) {
    if (in->n_bad_box++ == 0)
        snprintf(in->bad_box, sizeof in->bad_box, "%.300s:%ld: image %.80s: %.180s", csv, pr->line, pr->id, why);
}

static int add_boxes(struct inet *in, const struct pair *pr, const char *csv, const struct strvec *wnids,
                     int from_file) {
    if (in->n + 2 > in->box_first_cap) { /* geometric: 50,000 images, not 50,000 reallocs */
        long cap = in->box_first_cap ? 2 * in->box_first_cap : 1024;
        long *nf = realloc(in->box_first, (size_t)cap * sizeof *nf);
        if (!nf) return -1;
        in->box_first = nf;
        in->box_first_cap = cap;
    }
    if (in->n == 0) in->box_first[0] = 0;
    char w[INET_WNID_MAX];
    int used, k = 0;
    for (const char *p = pr->rest; p && *p; k++) {
        while (isspace((unsigned char)*p)) p++; /* trailing blanks or tabs end the line, not a box */
        if (!*p) break;
        /* the first box follows the wnid already read; later ones start with theirs */
        if (k > 0 && sscanf(p, "%63s%n", w, &used) == 1) p += used;
        else if (k == 0) w[0] = '\0';
        double v[4];
        int got = 0;
        for (char *end; got < 4; got++, p = end) {
            v[got] = strtod(p, &end);
            if (end == p) break;
        }
        while (isspace((unsigned char)*p)) p++;
        if (got < 4) { /* the rest cannot be split into boxes any more */
            bad_box(in, csv, pr, "a box with fewer than 4 numbers (wnid xmin ymin xmax ymax); the rest of the line");
            break;
        }
        if (!box_ok(v)) {
            bad_box(in, csv, pr,
                    "a box with a coordinate that is not a number, negative or over any image's "
                    "size, or xmax < xmin / ymax < ymin");
            continue;
        }
        if (in->n_box == in->box_cap) {
            long cap = in->box_cap ? in->box_cap * 2 : 1024;
            float *nb = realloc(in->box, (size_t)cap * 5 * sizeof *nb);
            if (!nb) return -1;
            in->box = nb;
            in->box_cap = cap;
        }
        float *b = in->box + in->n_box * 5;
        for (int j = 0; j < 4; j++) b[j] = (float)v[j];
        b[4] = (float)(k == 0 ? -2 : wnid_class(wnids, w, from_file)); /* -2: the image's own class */
        in->n_box++;
    }
    in->box_first[in->n + 1] = in->n_box; /* add_file follows: this image is in->n */
    return 0;
}

/* (b) flat <split>/<ImageId>.<ext> + <root>/LOC_<split>_solution.csv */
static int list_flat(struct inet *in, const char *root, const char *split, const char *sdir,
                     const struct inet_names *nm, struct strvec *wnids, char *err, size_t errlen) {
    char csv[INET_PATH_MAX];
    uint8_t *buf = NULL;
    size_t len;
    struct pair *pairs = NULL;
    long np = 0, cap = 0, lineno = 0, fcap = 0;
    int from_file, rc = -1;
    char *s, *line;

    snprintf(csv, sizeof csv, "%s/LOC_%s_solution.csv", root, split);
    if (ds_slurp(csv,
                 "a flat split directory needs the labels file LOC_<split>_solution.csv "
                 "beside it; or sort the images into <split>/<wnid>/ directories",
                 &buf, &len, err, errlen))
        return -1;
    buf[len] = '\0';
    s = (char *)buf;
    while ((line = next_line(&s))) {
        char *comma, *tok;
        lineno++;
        if (lineno == 1 && strncmp(line, "ImageId", 7) == 0) continue;
        if (!*line) continue;
        comma = strchr(line, ',');
        tok = comma ? comma + 1 : NULL;
        while (tok && *tok == ' ') tok++;
        if (!comma || !*tok || *tok == ' ') {
            ds_errf(err, errlen, "%s:%ld: expected 'ImageId,wnid ...' (re-download the file)", csv, lineno);
            goto out;
        }
        *comma = '\0';
        const size_t wl = strcspn(tok, " ");
        char *rest = tok[wl] ? tok + wl + 1 : NULL;
        tok[wl] = '\0';
        if (np == cap) {
            cap = cap ? cap * 2 : 1024;
            struct pair *npairs = realloc(pairs, (size_t)cap * sizeof *npairs);
            if (!npairs) {
                ds_errf(err, errlen, "%s: out of memory", csv);
                goto out;
            }
            pairs = npairs;
        }
        pairs[np].id = line;
        pairs[np].wnid = tok;
        pairs[np].rest = rest;
        pairs[np].line = lineno;
        np++;
    }
    if (np > 1) qsort(pairs, (size_t)np, sizeof *pairs, cmp_pair);
    if (load_synsets(root, wnids, &from_file, err, errlen)) goto out;
    if (!from_file) {
        for (long i = 0; i < np; i++)
            if (sv_push(wnids, pairs[i].wnid)) {
                ds_errf(err, errlen, "%s: out of memory", csv);
                goto out;
            }
        if (wnids->n > 1) qsort(wnids->s, (size_t)wnids->n, sizeof *wnids->s, inet_cmp_str);
        long k = 0; /* drop duplicates */
        for (long i = 0; i < wnids->n; i++) {
            if (k > 0 && strcmp(wnids->s[k - 1], wnids->s[i]) == 0) {
                free(wnids->s[i]);
                continue;
            }
            wnids->s[k++] = wnids->s[i];
        }
        wnids->n = k;
    }
    for (long i = 0; i < nm->n_files; i++) {
        char id[INET_PATH_MAX];
        struct pair key, *hit;
        snprintf(id, sizeof id, "%s", nm->files[i]);
        if (strrchr(id, '.')) *strrchr(id, '.') = '\0';
        key.id = id;
        hit = np ? bsearch(&key, pairs, (size_t)np, sizeof *pairs, cmp_pair) : NULL;
        if (!hit) {
            ds_errf(err, errlen, "%s/%s: no line for image '%s' in %s (a stray file? move it out of %s)", sdir,
                    nm->files[i], id, csv, sdir);
            goto out;
        }
        if (add_boxes(in, hit, csv, wnids, from_file)) goto oom;
        const long c = wnid_class(wnids, hit->wnid, from_file);
        if (c < 0) { /* only a synset file can leave a wnid of the csv out */
            ds_errf(err, errlen,
                    "%s: image %s has class %s, which the synset list in %s does not name "
                    "(use the synset file of the same release)",
                    csv, id, hit->wnid, root);
            goto out;
        }
        if (add_file(in, &fcap, sdir, nm->files[i], (int32_t)c)) goto oom;
    }
    rc = 0;
    goto out;
oom:
    ds_errf(err, errlen, "%s: out of memory while listing", sdir);
out:
    free(pairs);
    free(buf);
    return rc;
}

/* ---- decoding ---------------------------------------------------------- */

/* One thread's share of a ds_get range: images t, t+nthreads, ... */
struct inet_task {
    struct inet *in;
    long first, count;
    float *x;
    int nthreads, t;
    int *status;      /* per image: 0 ok, -1 failed */
    char (*msg)[512]; /* per image: why it failed */
};

/* Crop window of an h x w image under the options: (oh, ow) the resized
 * size, (top, left) the crop origin. torchvision: Resize(int) sizes the
 * shorter side, the longer is truncated; CenterCrop rounds half to even. */
static void geometry(const struct inet *in, int h, int w, int *oh, int *ow, int *top, int *left) {
    if (!in->crop) {
        *oh = in->oh;
        *ow = in->ow;
        *top = *left = 0;
        return;
    }
    int r = in->oh;
    if (h <= w) {
        *oh = r;
        *ow = (int)((long long)r * w / h);
    } else {
        *ow = r;
        *oh = (int)((long long)r * h / w);
    }
    int dh = *oh - in->crop, dw = *ow - in->crop;
    *top = dh / 2 + ((dh & 1) && ((dh / 2) & 1));
    *left = dw / 2 + ((dw & 1) && ((dw / 2) & 1));
}

static int one_image(struct inet *in, void *dec, long id, float *x, char *err, size_t errlen) {
    const char *path = in->files[id];
    uint8_t *buf;
    size_t len, plane = (size_t)in->crop_h * (size_t)in->crop_w;
    struct ds_rgb rgb;
    int oh, ow, top, left, rc;
    if (ds_slurp(path, NULL, &buf, &len, err, errlen)) return -1;
    /* The geometry comes from the stored size, so a DCT-scaled decode is
     * resized to exactly the window a full decode would give. */
    int fw = 0, fh = 0, min_w = 0, min_h = 0;
    if (in->dct_scaling && ds_image_size(dec, buf, len, &fw, &fh) == 0) {
        geometry(in, fh, fw, &oh, &ow, &top, &left);
        min_w = ow * in->dct_scaling;
        min_h = oh * in->dct_scaling;
    }
    rc = ds_decode_rgb(dec, path, buf, len, min_w, min_h, &rgb, err, errlen);
    free(buf);
    if (rc) return -1;
    if (!min_w) { /* full decode (or a PNG): the decoded size is the stored one */
        geometry(in, rgb.h, rgb.w, &oh, &ow, &top, &left);
        fw = rgb.w;
        fh = rgb.h;
    }
    if (in->orig_w) { /* for its boxes; each image's own slot, whichever thread reads it */
        in->orig_w[id] = fw;
        in->orig_h[id] = fh;
    }
    rc = ds_resize_rgb(&rgb, oh, ow, top, left, in->crop_h, in->crop_w, x);
    free(rgb.px);
    if (rc) {
        ds_errf(err, errlen,
                "%s: cannot resize a %dx%d image to %dx%d (out of memory, or over 255x "
                "smaller)",
                path, rgb.w, rgb.h, ow, oh);
        return -1;
    }
    for (int c = 0; c < 3; c++)
        for (size_t k = 0; k < plane; k++) x[c * plane + k] = x[c * plane + k] * in->scale[c] + in->shift[c];
    return 0;
}

static void *worker(void *arg) {
    struct inet_task *j = arg;
    struct inet *in = j->in;
    const size_t per = (size_t)3 * in->crop_h * in->crop_w;
    void *dec = ds_decoder_new();
    for (long i = j->t; i < j->count; i += j->nthreads) {
        long id = j->first + i;
        int rc = dec ? one_image(in, dec, id, j->x + (size_t)i * per, j->msg[i], sizeof j->msg[i]) : -1;
        if (!dec) snprintf(j->msg[i], sizeof j->msg[i], "%s: out of memory for a JPEG decoder", in->files[id]);
        j->status[i] = rc;
    }
    ds_decoder_free(dec);
    return NULL;
}

static int inet_get(void *lazy, long first, long count, float *x, int64_t *y, char *err, size_t errlen) {
    struct inet *in = lazy;
    const size_t per = (size_t)3 * in->crop_h * in->crop_w;
    int nt = in->threads < 1 ? 1 : in->threads, rc = 0;
    if (nt > count) nt = (int)count;
    struct inet_task *jobs = calloc((size_t)nt, sizeof *jobs);
    pthread_t *tid = calloc((size_t)nt, sizeof *tid);
    int *status = calloc((size_t)count, sizeof *status);
    char(*msg)[512] = calloc((size_t)count, sizeof *msg);
    if (!jobs || !tid || !status || !msg) {
        ds_errf(err, errlen, "imagenet: out of memory for a batch of %ld images (lower batch_size)", count);
        rc = -1;
        goto out;
    }
    int started = 0;
    for (int t = 0; t < nt; t++) jobs[t] = (struct inet_task){in, first, count, x, nt, t, status, msg};
    /* Thread 0's share runs here: a 1-thread setting starts no thread. */
    for (int t = 1; t < nt; t++) {
        if (pthread_create(&tid[t], NULL, worker, &jobs[t]) != 0) break;
        started = t;
    }
    worker(&jobs[0]);
    for (int t = 1; t <= started; t++) pthread_join(tid[t], NULL);
    for (int t = started + 1; t < nt; t++) /* threads that could not start: do their share here */
        worker(&jobs[t]);

    for (long i = 0; i < count; i++) {
        if (y) y[i] = status[i] ? -1 : in->labels[first + i];
        if (!status[i]) continue;
        if (in->on_error == DS_ON_ERROR_FAIL) {
            /* The first failing image of the range, whichever thread met it. */
            ds_errf(err, errlen,
                    "%s (dataset.on_error: skip replaces such images by zeros and "
                    "leaves them out; or re-download the file)",
                    msg[i]);
            rc = -1;
            goto out;
        }
        memset(x + (size_t)i * per, 0, per * sizeof *x);
        pthread_mutex_lock(&in->lock);
        if (!in->skipped_flag[first + i]) {
            in->skipped_flag[first + i] = 1;
            in->skipped[in->n_skipped++] = first + i;
            fprintf(stderr, "recal: dataset.on_error: skip: %s\n", msg[i]);
        }
        pthread_mutex_unlock(&in->lock);
    }
out:
    free(jobs);
    free(tid);
    free(status);
    free(msg);
    return rc;
}

/* The boxes of image id through its resize and crop (dataset.h). */
static int inet_boxes(void *lazy, long id, struct ds_box *out, int max) {
    struct inet *in = lazy;
    if (!in->orig_w[id]) return -2;
    int oh, ow, top, left, n = 0;
    geometry(in, in->orig_h[id], in->orig_w[id], &oh, &ow, &top, &left);
    const double sx = (double)ow / in->orig_w[id], sy = (double)oh / in->orig_h[id];
    for (long b = in->box_first[id]; b < in->box_first[id + 1] && n < max; b++, n++) {
        const float *v = in->box + 5 * b;
        out[n].x0 = (float)(v[0] * sx - left);
        out[n].y0 = (float)(v[1] * sy - top);
        out[n].x1 = (float)((v[2] + 1) * sx - left); /* xmax, ymax: the last pixel the box covers */
        out[n].y1 = (float)((v[3] + 1) * sy - top);
        out[n].cls = v[4] == -2 ? in->labels[id] : (int)v[4];
    }
    return n;
}

static long inet_bad_boxes(void *lazy, const char **first) {
    struct inet *in = lazy;
    *first = in->bad_box;
    return in->n_bad_box;
}

static long inet_skipped(void *lazy) {
    struct inet *in = lazy;
    long n;
    pthread_mutex_lock(&in->lock);
    n = in->n_skipped;
    pthread_mutex_unlock(&in->lock);
    return n;
}

static const char *inet_skipped_name(void *lazy, long i) {
    struct inet *in = lazy;
    const char *s = NULL;
    pthread_mutex_lock(&in->lock);
    if (i >= 0 && i < in->n_skipped) s = in->files[in->skipped[i]];
    pthread_mutex_unlock(&in->lock);
    return s;
}

static const char *inet_source(void *lazy, long id) {
    struct inet *in = lazy;
    return id >= 0 && id < in->n ? in->files[id] : NULL;
}

static long inet_label(void *lazy, long id) {
    struct inet *in = lazy;
    return id >= 0 && id < in->n ? in->labels[id] : -1;
}

static void inet_free(void *lazy) {
    struct inet *in = lazy;
    if (!in) return;
    for (long i = 0; i < in->n; i++) free(in->files[i]);
    free(in->files);
    free(in->labels);
    free(in->skipped_flag);
    free(in->skipped);
    free(in->box);
    free(in->box_first);
    free(in->orig_w);
    free(in->orig_h);
    pthread_mutex_destroy(&in->lock);
    free(in);
}

int ds_imagenet_open(const char *dir, const char *split, const struct ds_options *opt, const float mean[3],
                     const float std[3], struct ds_store *st, char *err, size_t errlen) {
    char sdir[INET_PATH_MAX];
    struct strvec wnids = {0};
    struct ds_listing own = {0};
    struct inet_names nm = {0};
    struct inet *in = calloc(1, sizeof *in);
    int resize = opt->resize ? opt->resize : 224;
    if (!in) {
        ds_errf(err, errlen, "%s: out of memory", dir);
        return -1;
    }
    pthread_mutex_init(&in->lock, NULL);
    if (opt->crop > resize) {
        ds_errf(err, errlen,
                "dataset imagenet: crop %d is larger than resize %d (crop at most the resized "
                "shorter side)",
                opt->crop, resize);
        goto fail;
    }
    snprintf(sdir, sizeof sdir, "%s/%s", dir, split);
    /* The listing given (rank 0's, under recal run), else this reader's own. */
    const struct ds_listing *l = opt->listing && opt->listing->len ? opt->listing : &own;
    if (l == &own && inet_list(dir, split, &own, err, errlen)) goto fail;
    if (inet_unpack(l, dir, split, &nm, err, errlen)) goto fail;
    const int flat = nm.flat;
    if (!flat) {
        if (list_folder(in, sdir, &nm, err, errlen)) goto fail;
        st->classes = (int)nm.n_classes;
    } else {
        if (list_flat(in, dir, split, sdir, &nm, &wnids, err, errlen)) goto fail;
        st->classes = (int)wnids.n;
    }
    inet_names_free(&nm);
    ds_listing_free(&own);
    if (in->n == 0) {
        ds_errf(err, errlen,
                "%s: no images (expected %s/<wnid>/*.JPEG or %s/*.JPEG with "
                "LOC_%s_solution.csv)",
                sdir, sdir, sdir, split);
        goto fail;
    }
    in->crop = opt->crop;
    in->oh = in->ow = resize;
    in->crop_h = in->crop_w = opt->crop ? opt->crop : resize;
    for (int c = 0; c < 3; c++) {
        in->scale[c] = 1.0f / (255.0f * std[c]);
        in->shift[c] = -mean[c] / std[c];
    }
    in->threads = opt->threads > 0 ? opt->threads : 2;
    in->dct_scaling = opt->dct_scaling ? DS_DCT_MARGIN : 0;
    in->on_error = opt->on_error;
    in->skipped_flag = calloc((size_t)in->n, 1);
    in->skipped = malloc((size_t)in->n * sizeof *in->skipped);
    if (in->box_first) {
        in->orig_w = calloc((size_t)in->n, sizeof *in->orig_w);
        in->orig_h = calloc((size_t)in->n, sizeof *in->orig_h);
    }
    if (!in->skipped_flag || !in->skipped || (in->box_first && (!in->orig_w || !in->orig_h))) {
        ds_errf(err, errlen, "%s: out of memory", sdir);
        goto fail;
    }
    sv_free(&wnids);
    st->lazy = in;
    st->lazy_get = inet_get;
    st->lazy_skipped = inet_skipped;
    st->lazy_skipped_name = inet_skipped_name;
    st->lazy_free = inet_free;
    st->lazy_source = inet_source;
    st->lazy_label = inet_label;
    if (flat) { /* the flat layout's labels, boxes and class list (as load_synsets finds it) */
        static const char *const syn[] = {"LOC_synset_mapping.txt", "synsets.txt"};
        char p[INET_PATH_MAX];
        struct stat sb;
        snprintf(p, sizeof p, "%s/LOC_%s_solution.csv", dir, split);
        ds_store_add_file(st, p, 0, 0);
        for (int k = 0; k < 2; k++) {
            snprintf(p, sizeof p, "%s/%s", dir, syn[k]);
            if (stat(p, &sb) == 0) {
                ds_store_add_file(st, p, 0, 0);
                break;
            }
        }
    }
    st->lazy_boxes = in->box_first ? inet_boxes : NULL;
    st->lazy_bad_boxes = inet_bad_boxes;
    st->total = in->n;
    st->c = 3;
    st->h = in->crop_h;
    st->w = in->crop_w;
    return 0;
fail:
    inet_names_free(&nm);
    ds_listing_free(&own);
    sv_free(&wnids);
    inet_free(in);
    return -1;
}
