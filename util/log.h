/* util/log.h — the per-rank log file (RUN_DIR/logs/rank-<r>.log). */
#ifndef RECAL_LOG_H
#define RECAL_LOG_H
#include <stddef.h>

int log_open(const char *path, int rank, char *err, size_t errlen);
void log_close(void);
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void log_printf(const char *fmt, ...);
#endif
