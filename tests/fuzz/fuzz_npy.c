/* fuzz_npy.c - npy_read on arbitrary bytes, then the dtype conversions the
 * dataset reader applies to what it accepted. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct npy_array a = {0};
    char err[512];
    const char *path = fz_put(0, "a.npy", data, size);

    err[0] = '\0';
    if (npy_read(path, &a, err, sizeof err) != 0) {
        if (!err[0]) abort();
        return 0;
    }
    if (npy_count(&a) * npy_itemsize(a.dtype) != a.nbytes)
        abort(); /* accepted an array whose body does not match its header */
    free(npy_to_f32(&a));
    free(npy_to_i64(&a));
    npy_free(&a);
    return 0;
}
