/* src/run_listing.h — a run's data set listed once, not once a rank: rank 0
 * lists each split the engine reads (ds_list) and sends the bytes to every
 * other rank with MPI_Bcast, and each rank's reader opens from them without
 * reading a directory (docs/performance.md, "Start-up"). */
#ifndef RECAL_RUN_LISTING_H
#define RECAL_RUN_LISTING_H
#include <mpi.h>

#include "dataset.h"
#include "job.h"

/* Collective over comm. list[k] gets the listing of split k of
 * wk_engine_splits(job) on every rank (len 0: nothing to list, or rank 0
 * could not: then each reader lists for itself and says what is wrong);
 * *seconds grows by the time taken here. Logs "listing: ..." on every rank:
 * files listed here and received. */
void run_share_listings(const struct job *job, MPI_Comm comm, struct ds_listing list[2], double *seconds);
void run_listings_free(struct ds_listing list[2]);
#endif
