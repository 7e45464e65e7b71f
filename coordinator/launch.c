/* coordinator/launch.c — see launch.h. */
#define _GNU_SOURCE
#include "launch.h"

#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS 256

static volatile sig_atomic_t g_child = 0, g_stops = 0, g_pending = 0;

/* A stop request is turned into SIGUSR1 for mpirun (forwarded as-is to the
 * ranks, which finish their shards and exit 3); a repeated one into SIGTERM,
 * on which mpirun kills the job. Only async-signal-safe calls here. */
static void on_signal(int sig) {
    int saved = errno;
    pid_t c = (pid_t)g_child;
    if (c <= 0) {
        g_pending = sig; /* before mpirun's pid is known: passed on once it is */
    } else {
        if (sig == SIGUSR1 || sig == SIGUSR2) {
            kill(c, sig);
        } else if (g_stops++ == 0) {
            static const char msg[] = "recal run: stopping: shards in flight finish and are journaled "
                                      "(send the signal again to abort now)\n";
            ssize_t w = write(2, msg, sizeof msg - 1);
            (void)w;
            kill(c, SIGUSR1);
        } else {
            kill(c, SIGTERM);
        }
    }
    errno = saved;
}

int launch_parse_line(const char *line, struct launch_result *out) {
    const char *p = strstr(line, "process rank ");
    const char *node = p ? strstr(p, " on node ") : NULL;
    const char *sig = node ? strstr(node, " exited on signal ") : NULL;
    int rank, signo;
    if (!sig || sscanf(p + strlen("process rank "), "%d", &rank) != 1 ||
        sscanf(sig + strlen(" exited on signal "), "%d", &signo) != 1)
        return 0;
    const char *h = node + strlen(" on node ");
    size_t n = (size_t)(sig - h);
    if (n == 0 || n >= sizeof out->host) return 0;
    memcpy(out->host, h, n);
    out->host[n] = '\0';
    out->rank = rank;
    out->signal = signo;
    return 1;
}

/* Whitespace-separated words of s (modified in place) appended to av. */
static int split_words(char *s, char **av, int *n, int max) {
    for (char *w = strtok(s, " \t\n"); w; w = strtok(NULL, " \t\n")) {
        if (*n >= max) return -1;
        av[(*n)++] = w;
    }
    return 0;
}

/* The child: its own process group, so a terminal's Ctrl-C reaches only
 * the launcher, which passes it on once; killed with the launcher; stdin
 * from /dev/null (a run reads none, and a background group reading a
 * terminal would be stopped); stderr into the pipe. Never returns. */
static void exec_mpirun(char **av, int err_fd, pid_t parent) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    int in = open("/dev/null", O_RDONLY);
    if (in >= 0) dup2(in, 0);
    dup2(err_fd, 2);
    signal(SIGPIPE, SIG_DFL);
    execvp(av[0], av);
    dprintf(2, "recal run --ranks: cannot start %s: %s (install openmpi-bin, or set RECAL_MPIRUN to the launcher)\n",
            av[0], strerror(errno));
    _exit(127);
}

/* Copy what mpirun wrote to our stderr and look at each whole line. */
static void pass_through(int fd, char *line, size_t cap, size_t *len, struct launch_result *out) {
    char buf[4096];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(2, buf + off, (size_t)(r - off));
            if (w <= 0 && errno != EINTR) break;
            if (w > 0) off += w;
        }
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] == '\n' || *len + 1 >= cap) {
                line[*len] = '\0';
                if (out->rank < 0) launch_parse_line(line, out);
                *len = 0;
            } else {
                line[(*len)++] = buf[i];
            }
        }
    }
}

int launch_mpirun(int ranks, char *const *args, struct launch_result *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    out->rank = -1;
    static char self[4096], extra[4096];
    ssize_t sn = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sn <= 0) {
        snprintf(err, errlen, "cannot find this executable (/proc/self/exe): %s", strerror(errno));
        return -1;
    }
    self[sn] = '\0';
    char *av[MAX_ARGS + 8], nbuf[32];
    int n = 0;
    const char *mpirun = getenv("RECAL_MPIRUN");
    av[n++] = (char *)(mpirun && *mpirun ? mpirun : "mpirun");
    const char *ex = getenv("RECAL_MPIRUN_ARGS");
    snprintf(extra, sizeof extra, "%s", ex ? ex : "");
    if (split_words(extra, av, &n, MAX_ARGS / 2)) {
        snprintf(err, errlen, "RECAL_MPIRUN_ARGS has too many words");
        return -1;
    }
    snprintf(nbuf, sizeof nbuf, "%d", ranks);
    setenv("RECAL_LAUNCH_RANKS", nbuf, 1);
    av[n++] = "-n";
    av[n++] = nbuf;
    av[n++] = self;
    for (int i = 0; args[i]; i++) {
        if (n >= MAX_ARGS + 6) {
            snprintf(err, errlen, "too many arguments for recal run --ranks (at most %d)", MAX_ARGS / 2);
            return -1;
        }
        av[n++] = args[i];
    }
    av[n] = NULL;

    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC)) {
        snprintf(err, errlen, "cannot make a pipe for mpirun's output: %s", strerror(errno));
        return -1;
    }
    struct sigaction sa, old[5];
    const int sigs[5] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2};
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    /* Handlers first: a signal from here until mpirun's pid is known is
     * kept (g_pending) and passed on then, not taken by the default action,
     * which would end the launcher and orphan mpirun. The child's exec
     * resets them (they are not SIG_IGN). */
    for (int i = 0; i < 5; i++) sigaction(sigs[i], &sa, &old[i]);
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "cannot start mpirun (fork): %s", strerror(errno));
        for (int i = 0; i < 5; i++) sigaction(sigs[i], &old[i], NULL);
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        close(pfd[0]);
        int e = dup(pfd[1]); /* without O_CLOEXEC, to survive exec as fd 2 */
        exec_mpirun(av, e >= 0 ? e : pfd[1], parent);
    }
    setpgid(pid, pid); /* as the child does: whichever runs first */
    g_child = pid;
    if (g_pending) on_signal(g_pending);
    close(pfd[1]);

    /* Read until mpirun has exited and the pipe is drained; a rank that
     * kept the pipe open after mpirun is gone must not hang the launcher. */
    static char line[8192];
    size_t len = 0;
    int st = 0, exited = 0, hup = 0;
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    while (!exited || !hup) {
        if (!hup) {
            struct pollfd p = {pfd[0], POLLIN, 0};
            int pr = poll(&p, 1, exited ? 0 : 200);
            if (pr > 0 && (p.revents & POLLIN)) pass_through(pfd[0], line, sizeof line, &len, out);
            else if ((pr > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL))) || (pr == 0 && exited)) hup = 1;
        }
        if (!exited) {
            /* Once the pipe is closed, nothing is left to copy: just wait. */
            pid_t w = waitpid(pid, &st, hup ? 0 : WNOHANG);
            if (w == pid) {
                exited = 1;
            } else if (w < 0 && errno != EINTR) {
                exited = 1;
                st = 2 << 8;
            }
        }
    }
    if (len) {
        line[len] = '\0';
        if (out->rank < 0) launch_parse_line(line, out);
    }
    close(pfd[0]);
    g_child = 0;
    for (int i = 0; i < 5; i++) sigaction(sigs[i], &old[i], NULL);
    out->status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 2;
    return 0;
}

#define LAUNCH_EXIT_ENV "RECAL_LAUNCH_EXIT_FILE"

void launch_expect_exit(const char *run_dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/.recal-exit", run_dir);
    unlink(path); /* an earlier launch's: only this one's counts */
    setenv(LAUNCH_EXIT_ENV, path, 1);
}

void launch_note_exit(int code) {
    const char *path = getenv(LAUNCH_EXIT_ENV);
    char buf[32], err[256];
    if (!path || !*path) return;
    int n = snprintf(buf, sizeof buf, "%d\n", code);
    (void)fs_write_atomic(path, buf, (size_t)n, err, sizeof err); /* best effort: mpirun's status remains */
}

int launch_take_exit(void) {
    const char *path = getenv(LAUNCH_EXIT_ENV);
    char *text = NULL, err[256];
    size_t n = 0;
    int code = -1;
    if (!path || fs_read_all(path, &text, &n, err, sizeof err)) return -1;
    if (sscanf(text, "%d", &code) != 1) code = -1;
    free(text);
    unlink(path);
    return code;
}
