/* imagenet.c - ImageNet reader (lazy JPEG decode + resize). */
#include "ds_internal.h"

int ds_imagenet_open(const char *dir, const char *split, const struct ds_options *opt,
                     const float mean[3], const float std[3], struct ds_store *st,
                     char *err, size_t errlen)
{
    (void)split; (void)opt; (void)mean; (void)std; (void)st;
    ds_errf(err, errlen, "%s: dataset 'imagenet' is not supported yet in this build", dir);
    return -1;
}
