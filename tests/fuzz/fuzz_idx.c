/* fuzz_idx.c - the IDX reader (plain or gzip'd, via zlib) on arbitrary
 * bytes. The reader loads an images file and a labels file; the input is
 * split in two at the offset held in its first two bytes (little-endian),
 * so one input covers both headers and the cross-checks between them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ds_internal.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct ds_store st;
    char err[1024];
    size_t cut;

    if (size < 2) return 0;
    cut = (size_t)data[0] | (size_t)data[1] << 8;
    data += 2;
    size -= 2;
    if (cut > size) cut = size;
    fz_put(0, "t-images-idx3-ubyte", data, cut);
    fz_put(1, "t-labels-idx1-ubyte", data + cut, size - cut);
    memset(&st, 0, sizeof st);
    err[0] = '\0';
    /* 4x4 images keep valid inputs tiny; 10 classes as (Fashion-)MNIST. */
    if (ds_idx_load(fz_dir(), "t", 4, 4, 10, "fuzz", "fuzz", &st, err, sizeof err) != 0) {
        if (!err[0]) abort();
        return 0;
    }
    if (st.total <= 0 || !st.pixels || !st.labels) abort();
    ds_store_release(&st); /* pixels, labels and the list of files read */
    return 0;
}
