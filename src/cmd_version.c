/* src/cmd_version.c — `recal --version`: what this recal was built against and
 * what the loader found when it started (docs/install.md, "Check the build").
 *
 * On a cluster the question is rarely "which version" but "which copy": a
 * `module load` can put another CUDA runtime or NCCL in front, so each line
 * names the file the library was loaded from (dl_iterate_phdr). */
#define _GNU_SOURCE
#include "cli.h"
#include "dp_nccl.h"
#include "torch_shim.h"

#include <limits.h>
#include <link.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The libraries worth naming, by the start of their file name. */
static const char *const LIBS[] = {"libtorch_cpu.so", "libc10.so",    "libcudart.so", "libcudnn.so",
                                   "libnccl.so",      "libcublas.so", "libmpi.so"};
enum { N_LIBS = sizeof LIBS / sizeof LIBS[0] };

struct loaded {
    char path[N_LIBS][PATH_MAX];
};

static int note_lib(struct dl_phdr_info *info, size_t size, void *ctx) {
    (void)size;
    struct loaded *l = ctx;
    const char *name = info->dlpi_name;
    if (!name || !*name) return 0;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    for (int i = 0; i < N_LIBS; i++)
        if (!strncmp(base, LIBS[i], strlen(LIBS[i])) && !l->path[i][0]) {
            /* wheels load through $ORIGIN/../../nvidia/...: print the plain path */
            char real[PATH_MAX];
            snprintf(l->path[i], sizeof l->path[i], "%s", realpath(name, real) ? real : name);
        }
    return 0;
}

static const char *where(const struct loaded *l, const char *lib) {
    for (int i = 0; i < N_LIBS; i++)
        if (!strcmp(LIBS[i], lib)) return l->path[i][0] ? l->path[i] : "not loaded";
    return "?";
}

/* 13020 → "13.2"; 92600 → "9.26.0"; NCCL 22807 → "2.28.7" */
static void cuda_ver(long v, char *out, size_t n) {
    if (v <= 0) snprintf(out, n, "none");
    else snprintf(out, n, "%ld.%ld", v / 1000, v % 1000 / 10);
}

static void three_part(long v, long major_div, long minor_div, char *out, size_t n) {
    if (v <= 0) snprintf(out, n, "none");
    else snprintf(out, n, "%ld.%ld.%ld", v / major_div, v % major_div / minor_div, v % minor_div);
}

int cmd_version(void) {
    struct loaded l;
    memset(&l, 0, sizeof l);
    struct ts_cuda_info cu;
    ts_cuda_info(&cu); /* before the scan: it may load CUDA's libraries */
    int nccl_built, nccl_loaded;
    dp_nccl_versions(&nccl_built, &nccl_loaded);
    dl_iterate_phdr(note_lib, &l);

    char mpi[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;
    MPI_Get_library_version(mpi, &len); /* allowed before MPI_Init */
    mpi[strcspn(mpi, ",\n")] = '\0';

    char cudart[32], cudnn[32], nb[32], nl[32];
    cuda_ver(cu.cudart, cudart, sizeof cudart);
    three_part(cu.cudnn, 10000, 100, cudnn, sizeof cudnn);
    three_part(nccl_built, 10000, 100, nb, sizeof nb);
    three_part(nccl_loaded, 10000, 100, nl, sizeof nl);
    if (nccl_built > 0 && nccl_built < 10000) /* NCCL < 2.9 coded as 1000·major + 100·minor + patch */
        three_part(nccl_built, 1000, 100, nb, sizeof nb);

    printf("recal 0.1.0 (libtorch %s)\n", ts_version());
    printf("  %-9s %-28s %s\n", "libtorch", ts_version(), where(&l, "libtorch_cpu.so"));
    printf("  %-9s %-28s %s\n", "c10", "", where(&l, "libc10.so"));
    printf("  %-9s %-28s %s\n", "CUDA", cu.cudart > 0 ? cudart : "none (CPU-only libtorch)", where(&l, "libcudart.so"));
    printf("  %-9s %-28s %s\n", "cuDNN", cu.cudnn > 0 ? cudnn : "none", where(&l, "libcudnn.so"));
    printf("  %-9s %-28s %s\n", "cuBLAS", "", where(&l, "libcublas.so"));
    char nccl[80];
    snprintf(nccl, sizeof nccl, "%s built, %s loaded", nb, nl);
    printf("  %-9s %-28s %s\n", "NCCL", nccl, where(&l, "libnccl.so"));
    printf("  %-9s %-28s %s\n", "MPI", mpi, where(&l, "libmpi.so"));
    if (cu.cudart > 0)
        printf("  devices   cpu, %d CUDA device%s usable now%s\n", cu.devices, cu.devices == 1 ? "" : "s",
               cu.devices ? "" : " (no GPU or no driver on this node: runs on the CPU)");
    else printf("  devices   cpu\n");
    return EXIT_OK;
}
