/* util/fsutil.c — see fsutil.h. */
#define _POSIX_C_SOURCE 200809L
#include "fsutil.h"
#include "fault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_mkdirs(const char *path, char *err, size_t errlen) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c == '/' || c == '\0') {
            *p = '\0';
            if (mkdir(buf, 0777) && errno != EEXIST) {
                snprintf(err, errlen, "%s: cannot create directory: %s", buf, strerror(errno));
                return -1;
            }
            *p = c;
        }
        if (c == '\0') break;
    }
    return 0;
}

int fs_mkdir_own(const char *path, char *err, size_t errlen) {
    struct stat st;
    if (mkdir(path, 0777) == 0) return 0;
    if (errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create directory: %s", path, strerror(errno));
        return -1;
    }
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    snprintf(err, errlen,
             "%s is %s, not a directory recal made: remove it (recal writes only inside the run directory, never "
             "through a link it did not make)",
             path, fs_kind(st.st_mode));
    return -1;
}

int fs_check_own(int fd, const char *path, const char *what, char *err, size_t errlen) {
    struct stat st;
    memset(&st, 0, sizeof st);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is %s, not %s recal made: remove it (recal never writes through it)", path,
                 fs_kind(st.st_mode), what);
        return -1;
    }
    if (st.st_nlink > 1) {
        snprintf(err, errlen,
                 "%s has %lu hard links (a copy made with cp -l or rsync --link-dest?): writing to it would change "
                 "the other names too; break the link (cp %s %s.own && mv %s.own %s) and run again",
                 path, (unsigned long)st.st_nlink, path, path, path, path);
        return -1;
    }
    return 0;
}

int fs_dir_nonempty(const char *path) {
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
    closedir(d);
    return n > 0;
}

int fs_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int fs_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (!a || !b) return 0;
    if (!strcmp(a, b)) return 1;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Why the calling thread's last fs_open_read failed (the data set is hashed
 * on two threads). */
static _Thread_local int g_open_errno;
static _Thread_local const char *g_open_kind;

int fs_open_read(const char *path) {
    g_open_kind = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && fcntl(fd, F_SETFL, 0) == 0) return fd;
    if (fd >= 0) {
        g_open_kind = fs_kind(st.st_mode);
        close(fd);
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    }
    g_open_errno = errno;
    return -1;
}

FILE *fs_fopen_read(const char *path) {
    int fd = fs_open_read(path);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (fd >= 0 && !f) {
        g_open_errno = errno;
        close(fd);
    }
    return f;
}

const char *fs_read_strerror(void) {
    static _Thread_local char why[96];
    if (!g_open_kind) return strerror(g_open_errno);
    snprintf(why, sizeof why, "is %s, not a regular file", g_open_kind);
    return why;
}

int fs_read_all(const char *path, char **out, size_t *n, char *err, size_t errlen) {
    *out = NULL;
    *n = 0;
    FILE *f = fs_fopen_read(path);
    if (!f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, fs_read_strerror());
        return -1;
    }
    size_t cap = 1 << 14, len = 0;
    char *buf = malloc(cap + 1);
    for (size_t r; buf && (r = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += r;
        if (len == cap) {
            char *nb = realloc(buf, (cap *= 2) + 1);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        snprintf(err, errlen, "%s: %s", path, buf ? "read failed (check the file)" : "out of memory reading it");
        free(buf);
        return -1;
    }
    buf[len] = '\0';
    *out = buf;
    *n = len;
    return 0;
}

static int fs_write_fd(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        /* at most 1 GiB a call: some kernels cap a write below 2 GiB */
        ssize_t w = fault_write(fd, p, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync the written tmp (fd), close it, rename it over path, fsync the
 * directory; tmp removed on failure. */
static int fs_finish(int fd, const char *tmp, const char *path, char *err, size_t errlen) {
    if (fault_fsync(fd) != 0) {
        snprintf(err, errlen, "%s: fsync failed: %s (free disk space or check the file system)", path, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0) {
        snprintf(err, errlen, "%s: close failed: %s (free disk space or check the file system)", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (fault_rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: cannot rename %s over it: %s (check the directory's permissions and file system)",
                 path, tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    /* The rename itself made durable; best effort: the data is safe already. */
    (void)fs_fsync_parent(path);
    return 0;
}

const char *fs_kind(unsigned mode) {
    return S_ISDIR(mode)    ? "a directory"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
           : S_ISFIFO(mode) ? "a FIFO"
           : S_ISSOCK(mode) ? "a socket"
           : S_ISLNK(mode)  ? "a symbolic link"
           : S_ISREG(mode)  ? "a regular file"
                            : "a special file";
}

int fs_output_ok(const char *path, char *err, size_t errlen) {
    struct stat st;
    if (lstat(path, &st) != 0 || S_ISREG(st.st_mode)) return 0;
    snprintf(err, errlen,
             "%s exists and is %s: recal writes only regular files and replaces nothing else (choose another output "
             "path)",
             path, fs_kind(st.st_mode));
    return -1;
}

int fs_write_parts(const char *path, const struct fs_part *parts, int n_parts, char *err, size_t errlen) {
    /* Only regular files are replaced: rename over a device node turned
     * /dev/null (as root) into a regular file, and a symlink at the output
     * path is refused rather than replaced (docs/hardening.md, "What recal
     * writes"). */
    if (fs_output_ok(path, err, errlen)) return -1;
    char tmp[4096];
    int k = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (k < 0 || (size_t)k >= sizeof tmp) {
        snprintf(err, errlen, "%.200s...: path too long (use a shorter output directory)", path);
        return -1;
    }
    /* Made new, never opened through whatever has its name (a link planted
     * there would otherwise be written through); a leftover is removed. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create %s: %s (check that the directory exists and is writable)", path, tmp,
                 strerror(errno));
        return -1;
    }
    for (int i = 0; i < n_parts; i++)
        if (fs_write_fd(fd, parts[i].data, parts[i].n) != 0) {
            snprintf(err, errlen, "%s: write failed: %s (free disk space or choose another output directory)", path,
                     strerror(errno));
            close(fd);
            unlink(tmp);
            return -1;
        }
    return fs_finish(fd, tmp, path, err, errlen);
}

int fs_write_atomic(const char *path, const void *data, size_t n, char *err, size_t errlen) {
    struct fs_part p = {data, n};
    return fs_write_parts(path, &p, 1, err, errlen);
}

int fs_commit_tmp(const char *tmp, const char *path, char *err, size_t errlen) {
    if (fs_output_ok(path, err, errlen)) {
        unlink(tmp);
        return -1;
    }
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot reopen %s to sync it: %s", path, tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return fs_finish(fd, tmp, path, err, errlen);
}

int fs_fsync_parent(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = '\0';
    else if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    /* Some filesystems refuse fsync on directories; the entry is then as
     * durable as they make it, which is not an error of ours. */
    int rc = fault_fsync(fd) && errno != EINVAL && errno != EROFS ? -1 : 0;
    close(fd);
    return rc;
}

int fs_lock(const char *path, int create, char *err, size_t errlen) {
    /* O_NOFOLLOW + a regular file: the holder's name is written into the lock,
     * and a .recal-lock planted as a link in a shared run directory made the
     * next --resume overwrite the file it pointed to. */
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (create ? O_CREAT : 0), 0666);
    /* and one name only: a hard link to an outside file was overwritten */
    if (fd >= 0 && fs_check_own(fd, path, "a lock file", err, errlen)) {
        close(fd);
        return -1;
    }
    if (fd < 0) {
        if (errno == ENOENT && !create) return FS_LOCK_ABSENT;
        if (errno == ELOOP) {
            snprintf(err, errlen,
                     "%s is a symbolic link, not a lock file recal made: remove it (recal never writes "
                     "through a link it did not make)",
                     path);
            return -1;
        }
        snprintf(err, errlen, "%s: cannot open the lock file: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        int busy = errno == EWOULDBLOCK;
        char who[256] = "";
        ssize_t n = busy ? pread(fd, who, sizeof who - 1, 0) : -1;
        who[n > 0 ? n : 0] = '\0';
        who[strcspn(who, "\n")] = '\0';
        if (busy) snprintf(err, errlen, "%s", who[0] ? who : "pid ? on host ?");
        else snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(errno));
        close(fd);
        return busy ? FS_LOCK_BUSY : -1;
    }
    /* Name the holder for whoever finds the lock taken. */
    char host[256] = "?", who[400];
    gethostname(host, sizeof host - 1);
    int n = snprintf(who, sizeof who, "pid %ld on host %s\n", (long)getpid(), host);
    if (ftruncate(fd, 0) || pwrite(fd, who, (size_t)n, 0) != n) {
        snprintf(err, errlen, "%s: cannot write the lock file: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}
