/* coordinator/journal.h — RUN_DIR/journal: the append-only list of finished
 * shards that makes a run resumable (issue #6, "nothing lost, never counted
 * twice"). A shard counts as done only once its record is appended and
 * fsync'ed here, so a crash loses at most the shards in flight, and a resume
 * fills the same per-shard slots an uninterrupted run would have filled.
 *
 * Layout (host byte order, little-endian on every supported machine):
 *   header: magic u32 "RCJH", version u32, config sha256 (64 hex chars),
 *           n_images i64, n_shards i64, shard_images i64, record_len u64,
 *           crc32 u32 over the bytes before it
 *   record: magic u32 "RCJR", version u32, shard i64, first i64, count i64,
 *           record_len u64, record_len doubles, crc32 u32 over the bytes
 *           before it
 * A run of several stages (Diff-ROAR: the evaluation split, the train
 * split's rank maps, the fine-tunes) keeps them in one file: each stage is a
 * section, its header (the layout above, with that stage's plan) followed
 * by its records; a stage begins only once the one before it is complete,
 * so sections follow each other in stage order. A one-stage run's journal
 * is exactly the layout above.
 * Pure C (no MPI), so the unit tests drive it directly. */
#ifndef RECAL_JOURNAL_H
#define RECAL_JOURNAL_H
#include <stddef.h>
#include <stdint.h>

#define JOURNAL_VERSION 2u /* 2: records carry images.csv's columns for every image (REC_PI_FIXED) */
#define JOURNAL_HEADER_BYTES 108u
#define JOURNAL_RECORD_BYTES(len) (44u + 8u * (size_t)(len))
/* The longest record a journal holds (doubles): a longer one in a header is
 * damage, not ours; a run whose records would be longer is refused at start. */
#define JOURNAL_MAX_RECORD ((uint64_t)1 << 24)

/* What a journal belongs to; a resume must match it exactly. */
struct journal_meta {
    char sha256[65]; /* of the config bytes and the --set list */
    int64_t n_images;
    int64_t n_shards;
    int64_t shard_images;
    uint64_t record_len; /* doubles per record (wk_record_len) */
};

struct journal {
    int fd; /* open for appending; -1 when closed */
    char path[4096];
    struct journal_meta meta;
    unsigned char *buf; /* one serialized record */
    long n_records;     /* records in the file */
    long dropped_bytes; /* torn tail removed by journal_resume */
    int sealed;         /* a later stage follows this one: appends are refused */
};

/* Create PATH (it must not exist) holding only the header, fsync'ed with
 * its directory. 0, or -1 with a message. */
int journal_create(struct journal *j, const char *path, const struct journal_meta *m, char *err, size_t errlen);

/* Open an existing journal to continue it: check its header against m
 * (a different config sha256 or plan is refused), verify every record's
 * checksum, copy record s into records[s * m->record_len] and set done[s].
 * A torn last record (short, or bad checksum with nothing after it) is cut
 * off the file and logged; a bad record followed by more data is an error
 * ("journal corrupt at record N (byte offset O)"). *n_done gets the number
 * of distinct done shards. 0, or -1 with a message. */
int journal_resume(struct journal *j, const char *path, const struct journal_meta *m, double *records,
                   unsigned char *done, long *n_done, char *err, size_t errlen);

/* Open stage `stage` (0, 1, ...) of the journal at PATH, which exists:
 * stage 0 as journal_resume; a later one is loaded the same way when its
 * section is there (every earlier section intact and of this config), and
 * begun (its header appended and fsync'ed) when the file ends with the
 * stage before it. A stage that a later one follows must be complete
 * (else "journal corrupt"); its handle is sealed. 0, or -1 with a message. */
int journal_open_stage(struct journal *j, const char *path, int stage, const struct journal_meta *m, double *records,
                       unsigned char *done, long *n_done, char *err, size_t errlen);

/* Append one finished shard and fsync; only after 0 may it count as done.
 * On failure the file is cut back to its previous length. */
int journal_append(struct journal *j, int64_t shard, int64_t first, int64_t count, const double *rec, char *err,
                   size_t errlen);

/* What a journal at PATH holds, read without taking it over (for messages
 * after a run died): the shard count of the plans of the stages it has
 * begun and the number of whole records (a torn tail not counted; this
 * version journals a shard once). 0, or -1 when PATH is missing or not a recal journal. */
int journal_peek(const char *path, long *n_shards, long *n_records);

void journal_close(struct journal *j);
#endif
