/* coordinator/launch.h — `recal run --ranks N`: recal starts mpirun itself, so
 * the caller gets recal's exit status, not mpirun's.
 *
 * Under a bare `mpirun -n N recal run`, a rank killed by a signal makes
 * mpirun kill the others and exit with its own status (137 after SIGKILL):
 * rank 0 dies too, so it cannot say "resumable". The launcher outlives the
 * job: it runs mpirun as its child, passes mpirun's stderr through while
 * reading the line that names the dead rank and its host, and hands the
 * status back for cmd_run to map (exit 3 when the run directory can be
 * resumed). It also turns a first SIGINT/SIGTERM/SIGHUP into SIGUSR1 for
 * mpirun, which forwards it to every rank as-is, so Ctrl-C stops a run the
 * graceful way (shards in flight journaled, exit 3); a second one is passed
 * on as SIGTERM (mpirun then kills the ranks). */
#ifndef RECAL_LAUNCH_H
#define RECAL_LAUNCH_H
#include <stddef.h>

struct launch_result {
    int status;     /* mpirun's exit status; 128 + signal when mpirun itself was killed */
    int rank;       /* the rank mpirun said died of a signal; -1 when it said none */
    int signal;     /* that rank's signal */
    char host[256]; /* that rank's host */
};

/* Runs `$RECAL_MPIRUN (default mpirun) $RECAL_MPIRUN_ARGS -n RANKS <this
 * executable> ARGS...` (args NULL-terminated) and waits for it. Sets
 * RECAL_LAUNCH_RANKS=RANKS in this process's environment first, which the
 * ranks inherit: resume hints then say `--ranks RANKS`. 0 with *out filled, or -1 with a
 * message when mpirun could not be started. */
int launch_mpirun(int ranks, char *const *args, struct launch_result *out, char *err, size_t errlen);

/* Rank 0's own exit code, passed around mpirun: mpirun's status can differ
 * from it at shutdown (after a SIGTERM at the very end of a run, about 1 in
 * 14 times Open MPI printed "Epoll MOD ... Bad file descriptor" and exited 1
 * although metrics.json was complete). launch_expect_exit(RUN_DIR) before
 * launch_mpirun names the file (RUN_DIR/.recal-exit, in the environment the
 * ranks inherit); rank 0 calls launch_note_exit(code) as it ends (a no-op
 * without a launcher); launch_take_exit() reads and removes it: the code,
 * or -1 when rank 0 did not get that far. */
void launch_expect_exit(const char *run_dir);
void launch_note_exit(int code);
int launch_take_exit(void);

/* Parses one line of mpirun's stderr: 1 and fills rank, host, signal when
 * it is Open MPI's "process rank R with PID P on node H exited on signal S"
 * (or "... on node H exited on signal S"), else 0. Separate for the unit test. */
int launch_parse_line(const char *line, struct launch_result *out);
#endif
