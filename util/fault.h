/* util/fault.h — I/O and allocation fault injection for the "nothing lost"
 * tests (SQLite style): RECAL_FAULT=OP:N makes the Nth call of OP in this
 * process fail.
 *
 *   OP     what fails                              errno
 *   write  the Nth write(): half its bytes reach    ENOSPC
 *          the file first, as on a filling disk
 *   fsync  the Nth fsync()                          EIO
 *   rename the Nth rename()                         EIO
 *   alloc  the Nth fault_malloc / fault_calloc:     ENOMEM
 *          the engine's per-shard buffers and the
 *          journal's record buffer (not libtorch's
 *          or MPI's own allocations)
 *   allocsite  the first allocation (malloc, calloc,  ENOMEM
 *          realloc) made at the Kth distinct call
 *          site of recal's own C code, numbered as
 *          the run first reaches them (the recal
 *          executable wraps them at link time)
 *
 * "OP:N+" fails the Nth and every later call (a disk that stays full).
 * Only the artefact, journal and metrics writers go through these (npy.c,
 * journal.c, fsutil.c); logs and the lock file do not. Always compiled in:
 * without RECAL_FAULT the cost is one load and compare per call. Set
 * RECAL_FAULT_LOG=1 to print each counted call to stderr, to find the N
 * worth testing. */
#ifndef RECAL_FAULT_H
#define RECAL_FAULT_H
#include <stddef.h>
#include <sys/types.h>

ssize_t fault_write(int fd, const void *buf, size_t n);
int fault_fsync(int fd);
int fault_rename(const char *from, const char *to);
void *fault_malloc(size_t n);
void *fault_calloc(size_t n, size_t size);
/* allocsite: 1 when the allocation made at SITE (a return address) must
 * fail. Called by the link-time wrappers of src/fault_wrap.c. */
int fault_alloc_site(void *site);
#endif
