/* src/run_listing.c — see run_listing.h. */
#include "run_listing.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine.h"
#include "log.h"

/* MPI counts are ints: a listing of more than 1 GiB goes in pieces. */
#define BCAST_PIECE (1L << 30)

/* One split: listed on rank 0, then its length, file count and bytes sent. */
static void share_one(const struct job *job, const char *split, MPI_Comm comm, int rank, int size,
                      struct ds_listing *l) {
    double t = clock_now_s();
    long hdr[2] = {0, 0}; /* bytes, files */
    memset(l, 0, sizeof *l);
    if (rank == 0) {
        char err[2048] = "";
        if (ds_list(job->dataset_name, job->dataset_path, split, l, err, sizeof err)) {
            /* the reader lists again on every rank and stops the run with its own message */
            log_printf("listing: %s: %s; every rank lists the split for itself", split, err);
            ds_listing_free(l);
        }
        hdr[0] = (long)l->len;
        hdr[1] = l->files;
    }
    MPI_Bcast(hdr, 2, MPI_LONG, 0, comm);
    if (hdr[0] <= 0) return; /* nothing to send: a data set of fixed file names, or a failure above */
    if (rank != 0) l->buf = malloc((size_t)hdr[0]);
    int ok = l->buf != NULL, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    if (!all) { /* a rank out of memory: no one waits for bytes it cannot take */
        log_printf("listing: %s: %s; every rank lists the split for itself", split,
                   ok ? "another rank had no memory for the listing" : "no memory for the listing");
        ds_listing_free(l);
        return;
    }
    for (long at = 0; at < hdr[0]; at += BCAST_PIECE) {
        long n = hdr[0] - at < BCAST_PIECE ? hdr[0] - at : BCAST_PIECE;
        MPI_Bcast(l->buf + at, (int)n, MPI_CHAR, 0, comm);
    }
    l->len = (size_t)hdr[0];
    l->files = hdr[1];
    const double dt = clock_now_s() - t, mb = (double)hdr[0] / 1e6;
    if (rank == 0)
        log_printf("listing: %s/%s: listed %ld files, sent to %d other rank(s) (%.2f MB) in %.3f s", job->dataset_path,
                   split, hdr[1], size - 1, mb, dt);
    else
        log_printf("listing: %s/%s: listed 0 files, received %ld (%.2f MB) from rank 0 in %.3f s", job->dataset_path,
                   split, hdr[1], mb, dt);
}

void run_share_listings(const struct job *job, MPI_Comm comm, struct ds_listing list[2], double *seconds) {
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    const char *split[2];
    const int n = wk_engine_splits(job, split);
    const double t = clock_now_s();
    memset(list, 0, 2 * sizeof *list);
    for (int k = 0; k < n; k++) share_one(job, split[k], comm, rank, size, &list[k]);
    *seconds += clock_now_s() - t;
}

void run_listings_free(struct ds_listing list[2]) {
    for (int k = 0; k < 2; k++) ds_listing_free(&list[k]);
}
