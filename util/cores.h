/* util/cores.h — the cores and memory this process may use, and the thread
 * counts a user gives against them.
 * `threads: 100000` was accepted and started 13,521 threads (104 GB of virtual
 * memory) before anyone noticed; more intra-op threads than a few per core
 * only thrash, so a count above CORES_THREADS_PER_CORE × the usable cores is
 * refused where the work starts (the config is validated on the submit host,
 * which is not the node).
 * "Usable" is the node as its control group sees it (a Slurm allocation or a
 * container's cpuset and memory limit), not the whole machine: a job given 8
 * of a node's 128 cores that starts 128 threads a rank only thrashes, and a
 * memory check against the host's RAM passes what the job's limit kills.
 * Not the calling thread's affinity: mpirun binds each rank to its own core,
 * and the node's share is what the ranks divide among themselves. */
#ifndef RECAL_CORES_H
#define RECAL_CORES_H
#include <stddef.h>

#define CORES_THREADS_PER_CORE 4
/* The largest `threads` a config may name anywhere: no node has more cores. */
#define CORES_THREADS_MAX 4096

/* Online cores, lowered to the control group's cpuset and CPU quota where
 * those are set (cgroup v2, else v1); at least 1. */
long cores_usable(void);

/* Physical memory in bytes, lowered to the control group's memory limit
 * where one is set; 0 when unknown. */
double mem_usable_bytes(void);

/* 0 when threads (0 = auto) fits this machine, else -1 with a message
 * naming what (e.g. "threads", "--threads") and the limit. */
int cores_check_threads(const char *what, long threads, char *err, size_t errlen);
#endif
