/* src/run_images.c — see run_images.h. */
#define _GNU_SOURCE /* open_memstream */
#include "run_images.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"

/* A CSV field as RFC 4180 and pandas read it: quoted when it holds a comma,
 * a quote, a line break or edge spaces, quotes doubled. */
static void put_csv_field(FILE *f, const char *s) {
    const size_t n = strlen(s);
    if (!strpbrk(s, ",\"\r\n") && (n == 0 || (s[0] != ' ' && s[n - 1] != ' '))) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int run_write_images(const char *run_dir, const struct ds_dataset *ds, const struct rec_layout *l,
                     const double *records, long n_shards, size_t len, char *err, size_t errlen) {
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (!f) {
        snprintf(err, errlen, "out of memory for images.csv");
        return -1;
    }
    fputs("image_id,source,record,label,prediction,correct,target,target_logit,target_prob\n", f);
    for (long s = 0; s < n_shards; s++)
        for (size_t p = 0; p < l->pi_rows; p++) {
            const double *row = records + (size_t)s * len + l->sums + p * l->pi_stride;
            if (row[REC_IM_ID] < 0) continue; /* no image, or one skipped under on_error: skip */
            const long id = (long)row[REC_IM_ID];
            long rec = -1;
            const char *src = ds_source(ds, id, &rec);
            fprintf(f, "%ld,", id);
            put_csv_field(f, src ? src : "");
            if (rec >= 0) fprintf(f, ",%ld", rec);
            else fputc(',', f);
            const long label = (long)row[REC_IM_LABEL], pred = (long)row[REC_IM_PRED];
            fprintf(f, ",%ld,%ld,%d,%ld,%.9g,%.9g\n", label, pred, label == pred, (long)row[REC_IM_TARGET],
                    row[REC_IM_LOGIT], row[REC_IM_PROB]);
        }
    int rc = fclose(f) == 0 ? 0 : -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/images.csv", run_dir);
    if (rc) snprintf(err, errlen, "out of memory for images.csv");
    else rc = fs_write_atomic(path, text, n, err, errlen);
    free(text);
    return rc;
}
