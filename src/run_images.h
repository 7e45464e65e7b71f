/* src/run_images.h — RUN_DIR/images.csv: what each image id of a run is.
 * Every per-image output (per_image/ arrays, attributions, masks) is indexed
 * by the image id; this table says which file (and record in it) the id was
 * read from, its label, the model's prediction, and the clean logit and
 * probability of the class the maps explain, so a notebook joins them on
 * image_id instead of re-deriving the readers' order. */
#ifndef RECAL_RUN_IMAGES_H
#define RECAL_RUN_IMAGES_H
#include <stddef.h>

#include "dataset.h"
#include "record.h"

/* Write RUN_DIR/images.csv from the fixed columns of every record's
 * per-image rows (REC_IM_*), ids ascending, with the source of each id from
 * the dataset. 0, or -1 with a message. */
int run_write_images(const char *run_dir, const struct ds_dataset *ds, const struct rec_layout *l,
                     const double *records, long n_shards, size_t len, char *err, size_t errlen);
#endif
