/* util/gpu_pick.h — one GPU per rank: which CUDA device a rank should see,
 * from the node-local rank and the CUDA_VISIBLE_DEVICES it inherited. The
 * rank then narrows CUDA_VISIBLE_DEVICES to that one device before libtorch
 * first touches CUDA, so "cuda" means its own GPU in every shim call. */
#ifndef RECAL_GPU_PICK_H
#define RECAL_GPU_PICK_H
#include <stddef.h>

/* visible: the inherited CUDA_VISIBLE_DEVICES (NULL = unset). Writes the
 * value to set into out and returns 1, or returns 0 to leave it alone:
 *   one rank on the node, or exactly one device listed (Slurm's
 *   --gpus-per-task=1 did it already)      -> leave it
 *   unset                                  -> "<local_rank>"
 *   a list of k >= local_size devices     -> its local_rank-th entry
 *   a list of 2 <= k < local_size devices -> -1: fewer GPUs than ranks on
 *                                            the node (ranks would share)
 * An empty list ("" = no GPU) is left alone. */
int gpu_pick(const char *visible, int local_rank, int local_size, char *out, size_t outlen);
#endif
