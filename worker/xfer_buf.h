/* worker/xfer_buf.h — host buffers whose contents cross to the device or
 * back in bulk (a batch's images, its maps, a group's references). On CUDA
 * they are page-locked, so those copies go by DMA at full bus speed instead
 * of through a pageable staging buffer; on the CPU they are plain heap. */
#ifndef RECAL_XFER_BUF_H
#define RECAL_XFER_BUF_H
#include <stddef.h>

#include "torch_shim.h"

/* bytes of host memory for data bound to `device`. heap (malloc, or
 * fault_malloc where the fault tests drive the allocation) serves the CPU,
 * and CUDA too when page-locked memory runs out: pageable memory does the
 * same work, only slower. *owner is the tensor that holds page-locked
 * memory, NULL for heap. NULL when out of memory. */
void *wk_xfer_alloc(int device, size_t bytes, void *(*heap)(size_t), ts_tensor **owner);
/* Frees what wk_xfer_alloc gave (p NULL ok). */
void wk_xfer_free(void *p, ts_tensor *owner);
#endif
