/* worker/xfer_buf.c — see xfer_buf.h. */
#include "xfer_buf.h"

#include <stdlib.h>

void *wk_xfer_alloc(int device, size_t bytes, void *(*heap)(size_t), ts_tensor **owner) {
    void *p = NULL;
    *owner = NULL;
    if (device != TS_DEV_CPU && ts_host_buffer(bytes, 1, owner, &p) == TS_OK) return p;
    return heap(bytes);
}

void wk_xfer_free(void *p, ts_tensor *owner) {
    if (owner) ts_tensor_free(owner);
    else free(p);
}
