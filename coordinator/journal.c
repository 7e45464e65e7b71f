/* coordinator/journal.c — see journal.h. */
#define _POSIX_C_SOURCE 200809L
#include "journal.h"
#include "fault.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "fsutil.h"
#include "log.h"
#include "shard_plan.h"

#define MAGIC_HEADER 0x484a4352u /* "RCJH" in a little-endian file */
#define MAGIC_RECORD 0x524a4352u /* "RCJR" */
#define RECORD_HEAD 40u          /* record bytes before the doubles */

static uint32_t crc_of(const unsigned char *p, size_t n) {
    uLong c = crc32(0L, Z_NULL, 0);
    /* zlib takes uInt lengths; records stay far below 4 GiB, but be exact. */
    while (n > 0) {
        uInt k = n > 0x40000000u ? 0x40000000u : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

/* Serialization helpers: memcpy keeps unaligned access defined. */
static unsigned char *put(unsigned char *p, const void *v, size_t n) {
    memcpy(p, v, n);
    return p + n;
}
static const unsigned char *get(const unsigned char *p, void *v, size_t n) {
    memcpy(v, p, n);
    return p + n;
}

static void encode_header(unsigned char *b, const struct journal_meta *m) {
    uint32_t magic = MAGIC_HEADER, version = JOURNAL_VERSION;
    char sha[64];
    memset(sha, '0', sizeof sha);
    memcpy(sha, m->sha256, strnlen(m->sha256, sizeof sha));
    unsigned char *p = put(b, &magic, 4);
    p = put(p, &version, 4);
    p = put(p, sha, 64);
    p = put(p, &m->n_images, 8);
    p = put(p, &m->n_shards, 8);
    p = put(p, &m->shard_images, 8);
    p = put(p, &m->record_len, 8);
    uint32_t crc = crc_of(b, (size_t)(p - b));
    put(p, &crc, 4);
}

static int write_all(int fd, const unsigned char *p, size_t n) {
    while (n > 0) {
        ssize_t w = fault_write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int init_handle(struct journal *j, const char *path, const struct journal_meta *m, char *err, size_t errlen) {
    memset(j, 0, sizeof *j);
    j->fd = -1;
    snprintf(j->path, sizeof j->path, "%s", path);
    j->meta = *m;
    j->buf = fault_malloc(JOURNAL_RECORD_BYTES(m->record_len));
    if (!j->buf) {
        snprintf(err, errlen, "%s: out of memory for a journal record", path);
        return -1;
    }
    return 0;
}

int journal_create(struct journal *j, const char *path, const struct journal_meta *m, char *err, size_t errlen) {
    if (init_handle(j, path, m, err, errlen)) return -1;
    j->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0666);
    if (j->fd < 0) {
        snprintf(err, errlen, "%s: cannot create the journal: %s", path, strerror(errno));
        journal_close(j);
        return -1;
    }
    unsigned char hdr[JOURNAL_HEADER_BYTES];
    encode_header(hdr, m);
    if (write_all(j->fd, hdr, sizeof hdr) || fault_fsync(j->fd) || fs_fsync_parent(path)) {
        snprintf(err, errlen, "%s: cannot write the journal: %s (free disk space and start again)", path,
                 strerror(errno));
        journal_close(j);
        /* A torn header would read as "not a recal journal" on --resume;
         * no journal reads as what it is: nothing done yet. */
        unlink(path);
        return -1;
    }
    return 0;
}

/* The JOURNAL_HEADER_BYTES at b, the inverse of encode_header: the meta
 * (f->sha256 NUL-terminated), magic and version; 1 when its checksum holds. */
static int decode_header(const unsigned char *b, struct journal_meta *f, uint32_t *magic, uint32_t *version) {
    uint32_t crc;
    const unsigned char *p = get(b, magic, 4);
    p = get(p, version, 4);
    p = get(p, f->sha256, 64);
    f->sha256[64] = '\0';
    p = get(p, &f->n_images, 8);
    p = get(p, &f->n_shards, 8);
    p = get(p, &f->shard_images, 8);
    p = get(p, &f->record_len, 8);
    get(p, &crc, 4);
    return crc == crc_of(b, (size_t)(p - b));
}

/* Section `stage`'s header at b (size bytes from there to the end) must be
 * ours, of the same config as m, and with plan set of the same plan. */
static int check_header(const struct journal *j, int stage, const struct journal_meta *m, const unsigned char *b,
                        size_t size, int plan, char *err, size_t errlen) {
    uint32_t magic, version;
    struct journal_meta f;
    if (size < JOURNAL_HEADER_BYTES) {
        snprintf(err, errlen, "%s: %zu bytes, shorter than a journal header: not a recal journal (use a new --run-dir)",
                 j->path, size);
        return -1;
    }
    int crc_ok = decode_header(b, &f, &magic, &version);
    const char *sha = f.sha256;
    if (magic == MAGIC_HEADER && version < JOURNAL_VERSION) {
        snprintf(err, errlen,
                 "%s: a version-%" PRIu32 " journal, made by an older recal (this one writes version %u): finish "
                 "or re-report that run with the recal that started it, or start again with a new --run-dir",
                 j->path, version, JOURNAL_VERSION);
        return -1;
    }
    if (magic != MAGIC_HEADER || version != JOURNAL_VERSION) {
        snprintf(err, errlen,
                 "%s: not a version-%u recal journal (magic %08" PRIx32 ", version %" PRIu32 "): use a new --run-dir",
                 j->path, JOURNAL_VERSION, magic, version);
        return -1;
    }
    if (!crc_ok) {
        snprintf(err, errlen, "%s: journal corrupt at its header (stage %d): use a new --run-dir", j->path, stage);
        return -1;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", j->path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    if (strcmp(sha, m->sha256) != 0) {
        snprintf(err, errlen,
                 "%s was made by config sha256 %s; this config is %s: use a new --run-dir (or resume with the "
                 "same config file and --set/--limit values)",
                 dir, sha, m->sha256);
        return -1;
    }
    if (plan && (f.n_images != m->n_images || f.n_shards != m->n_shards || f.shard_images != m->shard_images ||
                 f.record_len != m->record_len)) {
        snprintf(err, errlen,
                 "%s: stage %d was planned as %" PRId64 " images in %" PRId64 " shards of %" PRId64 " (record %" PRIu64
                 " doubles); this run plans %" PRId64 " in %" PRId64 " of %" PRId64 " (record %" PRIu64
                 "): the dataset or the program changed, use a new --run-dir",
                 dir, stage, f.n_images, f.n_shards, f.shard_images, f.record_len, m->n_images, m->n_shards,
                 m->shard_images, m->record_len);
        return -1;
    }
    return 0;
}

/* 0 when the record at b is intact and belongs to the plan f (fills
 * *shard), 1 when its checksum or framing is bad, 2 when intact but
 * off-plan. */
static int check_record(const struct journal_meta *f, const unsigned char *b, int64_t *shard) {
    size_t len = (size_t)f->record_len, body = RECORD_HEAD + 8 * len;
    uint32_t magic, version, crc;
    int64_t first, count;
    uint64_t rlen;
    const unsigned char *p = get(b, &magic, 4);
    p = get(p, &version, 4);
    p = get(p, shard, 8);
    p = get(p, &first, 8);
    p = get(p, &count, 8);
    get(p, &rlen, 8);
    get(b + body, &crc, 4);
    if (magic != MAGIC_RECORD || version != JOURNAL_VERSION || rlen != f->record_len || crc != crc_of(b, body))
        return 1;
    struct shard sh;
    if (shard_plan_get((long)f->n_images, (long)f->shard_images, (long)*shard, &sh) || sh.first != first ||
        sh.count != count)
        return 2;
    return 0;
}

static int read_file(const char *path, int fd, unsigned char **out, size_t *size, char *err, size_t errlen) {
    struct stat st;
    if (fstat(fd, &st)) {
        snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        return -1;
    }
    *size = (size_t)st.st_size;
    *out = malloc(*size ? *size : 1);
    if (!*out) {
        snprintf(err, errlen, "%s: out of memory reading %zu bytes", path, *size);
        return -1;
    }
    size_t got = 0;
    while (got < *size) {
        ssize_t r = pread(fd, *out + got, *size - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            snprintf(err, errlen, "%s: read failed: %s", path, r < 0 ? strerror(errno) : "file shrank");
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

static uint32_t magic_at(const unsigned char *b) {
    uint32_t m;
    memcpy(&m, b, 4);
    return m;
}

/* Walk the sections of b (size bytes): fill stage `stage`'s records and
 * done flags from its section (checked against m), count the sections
 * (*sections) and stop at a torn tail (*end: where the intact part ends).
 * 0, or -1 with a message. */
static int walk(struct journal *j, const unsigned char *b, size_t size, int stage, const struct journal_meta *m,
                double *records, unsigned char *done, long *n_done, int *sections, size_t *end, char *err,
                size_t errlen) {
    struct journal_meta f;
    memset(&f, 0, sizeof f);
    int sec = -1;
    size_t off = 0;
    long all = 0; /* records of every stage so far */
    while (off < size || sec < 0) {
        uint32_t magic = size - off >= 4 ? magic_at(b + off) : 0, ver;
        if (sec < 0 || magic == MAGIC_HEADER) {
            /* a header after the first may be cut short at the end (a crash while a stage began) */
            const int later = sec >= 0;
            if (later && off + JOURNAL_HEADER_BYTES > size) break;
            if (later && !decode_header(b + off, &f, &magic, &ver) && off + JOURNAL_HEADER_BYTES >= size) break;
            if (check_header(j, sec + 1, m, b + off, size - off, sec + 1 == stage, err, errlen)) return -1;
            decode_header(b + off, &f, &magic, &ver);
            if (f.record_len == 0 || f.record_len > JOURNAL_MAX_RECORD) { /* its checksum held: not ours */
                snprintf(err, errlen,
                         "%s: journal corrupt at the header of stage %d (record of %" PRIu64
                         " doubles): start again with a new --run-dir",
                         j->path, sec + 1, f.record_len);
                return -1;
            }
            sec++;
            off += JOURNAL_HEADER_BYTES;
            continue;
        }
        size_t rb = JOURNAL_RECORD_BYTES(f.record_len);
        int64_t s = -1;
        int bad = off + rb > size ? 1 : check_record(&f, b + off, &s);
        if (bad == 1 && off + rb >= size) break; /* a write cut short by a crash or a full disk */
        if (bad) {
            snprintf(err, errlen,
                     "%s: journal corrupt at record %ld (byte offset %zu)%s: the run directory was damaged; start "
                     "again with a new --run-dir",
                     j->path, all + 1, off, bad == 2 ? ", a shard outside the plan" : "");
            return -1;
        }
        if (sec == stage) {
            /* A shard is journaled once; a repeat (never written by this
             * version) must not be counted twice, so the first copy stands. */
            size_t len = (size_t)m->record_len;
            if (!done[s]) {
                memcpy(records + (size_t)s * len, b + off + RECORD_HEAD, len * sizeof *records);
                done[s] = 1;
                ++*n_done;
            } else {
                log_printf("journal %s: shard %" PRId64 " appears twice; keeping its first record", j->path, s);
            }
            j->n_records++;
        }
        all++;
        off += rb;
    }
    *sections = sec + 1;
    *end = off;
    return 0;
}

int journal_open_stage(struct journal *j, const char *path, int stage, const struct journal_meta *m, double *records,
                       unsigned char *done, long *n_done, char *err, size_t errlen) {
    *n_done = 0;
    if (init_handle(j, path, m, err, errlen)) return -1;
    /* appended to and cut: never through a link (another run's journal, or
     * a cp -al copy's, would take this run's records) */
    j->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (j->fd < 0 && errno == ELOOP)
        snprintf(err, errlen,
                 "%s is a symbolic link, not a journal recal made: remove it and start a new --run-dir (recal never "
                 "writes through a link it did not make)",
                 path);
    else if (j->fd < 0)
        snprintf(err, errlen, "%s: cannot open the journal: %s (nothing to resume? start without --resume)", path,
                 strerror(errno));
    if (j->fd < 0) {
        journal_close(j);
        return -1;
    }
    if (fs_check_own(j->fd, path, "a journal", err, errlen)) {
        journal_close(j);
        return -1;
    }
    unsigned char *b = NULL;
    size_t size = 0, end = 0;
    int sections = 0;
    int rc = read_file(path, j->fd, &b, &size, err, errlen);
    if (!rc) rc = walk(j, b, size, stage, m, records, done, n_done, &sections, &end, err, errlen);
    free(b);
    if (!rc && end < size) {
        log_printf("journal %s: dropping a torn last record (%zu bytes at offset %zu); it is written again", path,
                   size - end, end);
        j->dropped_bytes = (long)(size - end);
        if (ftruncate(j->fd, (off_t)end) || fault_fsync(j->fd)) {
            snprintf(err, errlen, "%s: cannot cut the torn last record: %s", path, strerror(errno));
            rc = -1;
        }
    }
    if (!rc && sections > stage + 1 && *n_done < m->n_shards) {
        snprintf(err, errlen,
                 "%s: journal corrupt: stage %d has %ld of %" PRId64 " shards but a later stage has begun; start "
                 "again with a new --run-dir",
                 path, stage, *n_done, m->n_shards);
        rc = -1;
    }
    if (!rc && sections < stage) {
        snprintf(err, errlen, "%s: journal holds %d stage(s), so stage %d cannot begin (internal error)", path,
                 sections, stage);
        rc = -1;
    }
    j->sealed = sections > stage + 1;
    if (!rc && sections == stage) { /* this stage begins: its header follows the last one's records */
        unsigned char hdr[JOURNAL_HEADER_BYTES];
        encode_header(hdr, m);
        if (write_all(j->fd, hdr, sizeof hdr) || fault_fsync(j->fd)) {
            snprintf(err, errlen, "%s: cannot begin stage %d: %s (free disk space, then resume with --resume)", path,
                     stage, strerror(errno));
            if (ftruncate(j->fd, (off_t)end) == 0) fsync(j->fd);
            rc = -1;
        }
    }
    if (rc) journal_close(j);
    return rc;
}

int journal_resume(struct journal *j, const char *path, const struct journal_meta *m, double *records,
                   unsigned char *done, long *n_done, char *err, size_t errlen) {
    return journal_open_stage(j, path, 0, m, records, done, n_done, err, errlen);
}

int journal_append(struct journal *j, int64_t shard, int64_t first, int64_t count, const double *rec, char *err,
                   size_t errlen) {
    if (j->sealed) {
        snprintf(err, errlen, "%s: shard %" PRId64 " of a stage that a later one follows (internal error)", j->path,
                 shard);
        return -1;
    }
    uint32_t magic = MAGIC_RECORD, version = JOURNAL_VERSION;
    size_t body = RECORD_HEAD + 8 * (size_t)j->meta.record_len;
    unsigned char *p = put(j->buf, &magic, 4);
    p = put(p, &version, 4);
    p = put(p, &shard, 8);
    p = put(p, &first, 8);
    p = put(p, &count, 8);
    p = put(p, &j->meta.record_len, 8);
    put(p, rec, 8 * (size_t)j->meta.record_len);
    uint32_t crc = crc_of(j->buf, body);
    put(j->buf + body, &crc, 4);
    off_t before = lseek(j->fd, 0, SEEK_END);
    if (write_all(j->fd, j->buf, body + 4) || fault_fsync(j->fd)) {
        int e = errno;
        /* Leave no half record for the next append to follow. */
        if (before >= 0 && ftruncate(j->fd, before) == 0) fsync(j->fd);
        snprintf(err, errlen, "%s: cannot journal shard %" PRId64 ": %s (free disk space, then resume with --resume)",
                 j->path, shard, strerror(e));
        return -1;
    }
    j->n_records++;
    return 0;
}

int journal_peek(const char *path, long *n_shards, long *n_records) {
    struct journal j;
    struct journal_meta none;
    char err[16];
    memset(&j, 0, sizeof j);
    memset(&none, 0, sizeof none);
    snprintf(j.path, sizeof j.path, "%s", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    unsigned char *b = NULL, h[JOURNAL_HEADER_BYTES];
    size_t size = 0;
    int rc = read_file(path, fd, &b, &size, err, sizeof err);
    close(fd);
    uint32_t magic, version;
    struct journal_meta f;
    *n_shards = *n_records = 0;
    /* every section: its plan's shards and its whole records (a torn tail not counted) */
    for (size_t off = 0; !rc && off + JOURNAL_HEADER_BYTES <= size;) {
        memcpy(h, b + off, sizeof h);
        if (!decode_header(h, &f, &magic, &version) || magic != MAGIC_HEADER || version != JOURNAL_VERSION ||
            f.record_len > ((uint64_t)1 << 32)) {
            rc = off == 0 ? -1 : 0;
            break;
        }
        *n_shards += (long)f.n_shards;
        off += JOURNAL_HEADER_BYTES;
        size_t rb = JOURNAL_RECORD_BYTES(f.record_len);
        while (off + rb <= size && magic_at(b + off) == MAGIC_RECORD) {
            ++*n_records;
            off += rb;
        }
    }
    if (size < JOURNAL_HEADER_BYTES) rc = -1;
    free(b);
    return rc;
}

void journal_close(struct journal *j) {
    if (j->fd >= 0) close(j->fd);
    j->fd = -1;
    free(j->buf);
    j->buf = NULL;
}
