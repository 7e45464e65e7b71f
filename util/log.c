/* util/log.c — see log.h. Lines are timestamped and flushed at once so that
 * a killed rank leaves its last words on disk. */
#include "log.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static FILE *g_log;
static int g_rank;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

int log_open(const char *path, int rank, char *err, size_t errlen) {
    g_rank = rank;
    /* Appended on --resume: never through a link planted at the log's name
     * (an outside file was appended to), and only to a regular file. */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
    if (fd >= 0 && fs_check_own(fd, path, "a log", err, errlen)) {
        close(fd);
        return -1;
    }
    g_log = fd >= 0 ? fdopen(fd, "a") : NULL;
    if (!g_log) {
        snprintf(err, errlen, "%s: cannot open log: %s (%s)", path, strerror(errno),
                 errno == ELOOP ? "a symbolic link, not a log recal made: remove it"
                                : "is the run directory writable?");
        if (fd >= 0) close(fd);
        return -1;
    }
    return 0;
}

void log_close(void) {
    if (g_log) fclose(g_log);
    g_log = NULL;
}

void log_printf(const char *fmt, ...) {
    if (!g_log) return;
    char ts[32];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    pthread_mutex_lock(&g_mu);
    fprintf(g_log, "%s rank %d: ", ts, g_rank);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(g_log, fmt, ap);
    va_end(ap);
    fputc('\n', g_log);
    fflush(g_log);
    pthread_mutex_unlock(&g_mu);
}
