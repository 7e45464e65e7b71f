/* train/dp_nccl.c — see dp_nccl.h.
 *
 * libnccl is opened at run time (dlopen), not linked: the same binary runs
 * on CPU-only nodes, and on GPU nodes it shares the libnccl.so.2 that a CUDA
 * libtorch has already loaded (dlopen by soname finds it), so there is one
 * NCCL in the process. nccl.h is needed at build time only for its types. */
#include "dp_nccl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef RECAL_WITH_NCCL
#include <dlfcn.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <nccl.h>
#pragma GCC diagnostic pop

struct dp_nccl {
    ncclComm_t comm;
    ncclResult_t (*all_reduce)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
    ncclResult_t (*destroy)(ncclComm_t);
    const char *(*errstr)(ncclResult_t);
};

static void *open_nccl(void) {
    void *h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_NOLOAD); /* libtorch's, when loaded */
    return h ? h : dlopen("libnccl.so.2", RTLD_NOW);
}

int dp_nccl_open(struct dp_nccl **out, MPI_Comm comm, char *err, size_t errlen) {
    *out = NULL;
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    struct dp_nccl *n = calloc(1, sizeof *n);
    void *h = n ? open_nccl() : NULL;
    ncclResult_t (*get_id)(ncclUniqueId *) = NULL;
    ncclResult_t (*init)(ncclComm_t *, int, ncclUniqueId, int) = NULL;
    if (h) {
        *(void **)&get_id = dlsym(h, "ncclGetUniqueId");
        *(void **)&init = dlsym(h, "ncclCommInitRank");
        *(void **)&n->all_reduce = dlsym(h, "ncclAllReduce");
        *(void **)&n->destroy = dlsym(h, "ncclCommDestroy");
        *(void **)&n->errstr = dlsym(h, "ncclGetErrorString");
    }
    int ok = h && get_id && init && n->all_reduce && n->destroy && n->errstr, all = 0;
    char why[256] = "";
    if (!ok) snprintf(why, sizeof why, "libnccl.so.2 not loadable: %s", n ? dlerror() : "out of memory");
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    int id_ok = 1;
    if (all && rank == 0) {
        ncclResult_t r = get_id(&id);
        if (r != ncclSuccess) {
            id_ok = 0;
            snprintf(why, sizeof why, "ncclGetUniqueId: %s", n->errstr(r));
        }
    }
    if (all) {
        MPI_Bcast(&id_ok, 1, MPI_INT, 0, comm);
        all = id_ok;
    }
    if (all) {
        MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, comm);
        ncclResult_t r = init(&n->comm, size, id, rank);
        ok = r == ncclSuccess;
        if (!ok) snprintf(why, sizeof why, "ncclCommInitRank: %s", n->errstr(r));
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
        if (!all && ok) n->destroy(n->comm);
    }
    if (!all) {
        snprintf(err, errlen, "%s", why[0] ? why : "another rank could not set up NCCL");
        free(n);
        return -1;
    }
    *out = n;
    return 0;
}

int dp_nccl_sum_f32(struct dp_nccl *n, void *buf, size_t count, char *err, size_t errlen) {
    /* The legacy default stream orders this after libtorch's kernels (its
     * default stream is that one) and before the caller's next ones. */
    ncclResult_t r = n->all_reduce(buf, buf, count, ncclFloat32, ncclSum, n->comm, (cudaStream_t)0);
    if (r != ncclSuccess) {
        snprintf(err, errlen, "ncclAllReduce of %zu floats: %s", count, n->errstr(r));
        return -1;
    }
    return 0;
}

void dp_nccl_close(struct dp_nccl *n) {
    if (!n) return;
    n->destroy(n->comm);
    free(n);
}

void dp_nccl_versions(int *built, int *loaded) {
    *built = NCCL_VERSION_CODE;
    *loaded = 0;
    /* RTLD_NOLOAD: report the one libtorch loaded, never load another */
    void *h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_NOLOAD);
    if (!h) return;
    ncclResult_t (*get)(int *) = NULL;
    *(void **)&get = dlsym(h, "ncclGetVersion");
    if (get && get(loaded) != ncclSuccess) *loaded = 0;
    dlclose(h);
}

#else /* built without nccl.h: the MPI path only */

int dp_nccl_open(struct dp_nccl **out, MPI_Comm comm, char *err, size_t errlen) {
    (void)comm;
    *out = NULL;
    snprintf(err, errlen, "this recal was built without NCCL (nccl.h not found at build time)");
    return -1;
}

int dp_nccl_sum_f32(struct dp_nccl *n, void *buf, size_t count, char *err, size_t errlen) {
    (void)n, (void)buf, (void)count;
    snprintf(err, errlen, "built without NCCL");
    return -1;
}

void dp_nccl_close(struct dp_nccl *n) {
    (void)n;
}

void dp_nccl_versions(int *built, int *loaded) {
    *built = 0;
    *loaded = 0;
}
#endif
