/* util/fault.c — see fault.h. */
#define _POSIX_C_SOURCE 200809L
#include "fault.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { F_WRITE, F_FSYNC, F_RENAME, F_ALLOC, F_ASITE, F_NOPS };
static const char *const op_names[F_NOPS] = {"write", "fsync", "rename", "alloc", "allocsite"};

/* Parsed once; writers run on several threads (worker pool, coordinator). */
static atomic_int parsed; /* 0 not yet, 1 parsing, 2 done */
static int fault_op = -1; /* -1: no fault asked for */
static long fault_n;
static int fault_sticky, fault_log;
static atomic_long calls[F_NOPS];

enum { MAX_SITES = 4096 };
static pthread_mutex_t site_mu = PTHREAD_MUTEX_INITIALIZER;
static void *sites[MAX_SITES];
static int n_sites, site_failed;
static _Thread_local int in_fault; /* fprintf and getenv may allocate: no recursion */

static void report_sites(void) {
    fprintf(stderr, "recal fault: %d allocation sites reached\n", n_sites);
}

static void parse(void) {
    int expect = 0;
    if (!atomic_compare_exchange_strong(&parsed, &expect, 1)) {
        while (atomic_load(&parsed) != 2) {}
        return;
    }
    const char *s = getenv("RECAL_FAULT"), *lg = getenv("RECAL_FAULT_LOG");
    fault_log = lg && *lg && strcmp(lg, "0");
    if (s && *s) {
        char name[16];
        long n;
        int used = 0;
        if (sscanf(s, "%15[a-z]:%ld%n", name, &n, &used) == 2 && n > 0)
            for (int i = 0; i < F_NOPS; i++)
                if (!strcmp(name, op_names[i])) fault_op = i;
        if (fault_op < 0 || (s[used] && strcmp(s + used, "+"))) {
            /* A test that asked for a fault and silently got none would pass
             * for the wrong reason. */
            fprintf(stderr,
                    "RECAL_FAULT=%s: want write:N, fsync:N, rename:N, alloc:N or allocsite:K (N, K >= 1, "
                    "'+' to keep failing)\n",
                    s);
            exit(2);
        }
        fault_n = n;
        fault_sticky = s[used] == '+';
    }
    if (fault_op == F_ASITE || fault_log) atexit(report_sites);
    atomic_store(&parsed, 2);
}

/* 1 when this call of op is the one (or one of those) to fail. */
static int hit(int op, const char *what) {
    if (atomic_load_explicit(&parsed, memory_order_acquire) != 2) parse();
    if (fault_op < 0 && !fault_log) return 0;
    long k = atomic_fetch_add(&calls[op], 1) + 1;
    int fail = op == fault_op && (k == fault_n || (fault_sticky && k > fault_n));
    if (fault_log || fail)
        fprintf(stderr, "recal fault: %s #%ld%s%s%s\n", op_names[op], k, what ? " " : "", what ? what : "",
                fail ? ": injected failure" : "");
    return fail;
}

ssize_t fault_write(int fd, const void *buf, size_t n) {
    if (!hit(F_WRITE, NULL)) return write(fd, buf, n);
    if (n > 1 && write(fd, buf, n / 2) < 0) return -1;
    errno = ENOSPC;
    return -1;
}

int fault_fsync(int fd) {
    if (!hit(F_FSYNC, NULL)) return fsync(fd);
    errno = EIO;
    return -1;
}

int fault_rename(const char *from, const char *to) {
    if (!hit(F_RENAME, to)) return rename(from, to);
    errno = EIO;
    return -1;
}

void *fault_malloc(size_t n) {
    if (!hit(F_ALLOC, NULL)) return malloc(n);
    errno = ENOMEM;
    return NULL;
}

void *fault_calloc(size_t n, size_t size) {
    if (!hit(F_ALLOC, NULL)) return calloc(n, size);
    errno = ENOMEM;
    return NULL;
}

/* ---- allocsite:K (the recal executable's malloc/calloc/realloc, wrapped
 * at link time by src/fault_wrap.c): call sites are numbered in the order
 * a run first reaches them, and the first allocation of site K fails.
 * Sweeping K over every site a run reaches tests each one once; with
 * RECAL_FAULT_LOG set, the count is printed at exit. */
int fault_alloc_site(void *site) {
    /* every allocation of recal's code passes here: once parsed, and with
     * no allocsite asked for, one load and two compares */
    int ready = atomic_load_explicit(&parsed, memory_order_acquire) == 2;
    if (ready && fault_op != F_ASITE && !fault_log) return 0;
    if (in_fault) return 0;
    in_fault = 1;
    if (!ready) parse();
    int fail = 0;
    if (fault_op == F_ASITE || fault_log) {
        pthread_mutex_lock(&site_mu);
        int k = 0;
        while (k < n_sites && sites[k] != site) k++;
        if (k == n_sites && n_sites < MAX_SITES) sites[n_sites++] = site;
        fail = fault_op == F_ASITE && k + 1 == fault_n && (!site_failed || fault_sticky);
        if (fail) site_failed = 1;
        pthread_mutex_unlock(&site_mu);
        if (fail) fprintf(stderr, "recal fault: allocation site %d (%p): injected failure\n", k + 1, site);
    }
    in_fault = 0;
    return fail;
}
