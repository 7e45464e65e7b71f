/* fuzz_cifar.c - the CIFAR binary reader's per-file step (ds_cifar_parse,
 * what ds_cifar_load runs on each batch file after reading it) on one
 * file's bytes. A real batch holds 10000 records; at 30 MB per input the
 * fuzzer would crawl, so the first input byte sets a batch of 1..4 records
 * (bits 2..3), CIFAR-100 (bit 0) and its coarse labels (bit 1); the rest
 * is the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ds_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct ds_store st;
    char err[1024];
    int variant, coarse, nlab;
    long expect, at = 0;

    if (size < 1) return 0;
    variant = data[0] & 1 ? 100 : 10;
    coarse = (data[0] >> 1) & 1;
    expect = 1 + ((data[0] >> 2) & 3);
    nlab = variant == 10 ? 1 : 2;
    memset(&st, 0, sizeof st);
    st.pixels = malloc((size_t)expect * 3072);
    st.labels = malloc((size_t)expect * sizeof *st.labels);
    if (!st.pixels || !st.labels) abort();
    err[0] = '\0';
    if (ds_cifar_parse("fuzz.bin", data + 1, size - 1, variant, expect, nlab, variant == 10 ? 0 : (coarse ? 0 : 1),
                       variant == 10 ? 10 : (coarse ? 20 : 100), &st, &at, err, sizeof err) != 0) {
        if (!err[0]) abort();
    } else if (at != expect) {
        abort(); /* accepted a file without filling every record */
    }
    ds_store_release(&st); /* pixels, labels and the list of files read */
    return 0;
}
