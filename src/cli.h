/* src/cli.h — subcommands of the recal executable and their exit codes
 * (README, exit status: 0 ok, 1 user error, 2 internal error, 3 interrupted-resumable). */
#ifndef RECAL_CLI_H
#define RECAL_CLI_H

enum { EXIT_OK = 0, EXIT_USER = 1, EXIT_INTERNAL = 2, EXIT_RESUMABLE = 3 };

int cmd_run(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_attribute(int argc, char **argv);
int cmd_bench(int argc, char **argv);
/* recal bench --data CONFIG: the dataset reader's throughput (JSON lines). */
int bench_data(const char *config, long images);
/* `recal bench --dispatch`: coord_run with no-op workers, under mpirun; an EXIT_* code. */
int bench_dispatch(int argc, char **argv, long shards);
int cmd_report(int argc, char **argv);
int cmd_roar(int argc, char **argv);
/* Run tools/report.py on a finished run directory; an EXIT_* code. */
int report_render(const char *run_dir);
int cmd_submit(int argc, char **argv);
int cmd_sweep_merge(int argc, char **argv);
int cmd_dataset_dump(int argc, char **argv);

/* Value of "--opt VALUE" or "--opt=VALUE" at argv[*i]; advances *i. NULL
 * when argv[*i] is not that option. Sets *missing when the value is absent. */
const char *cli_opt(int argc, char **argv, int *i, const char *name, int *missing);
int cli_is_help(const char *a);
/* The Python that runs tools/ (report, bench baselines, model export):
 * $RECAL_PYTHON when set (e.g. a venv's), else Debian's /usr/bin/python3. */
const char *cli_python(void);
/* "--set key=value" (or --set=key=value) at argv[*i]: appends the value to
 * sets, at most max of them. 1 when taken, 0 when argv[*i] is not --set, -1
 * after printing "recal <cmd>: --set needs key=value (at most max)". */
int cli_take_set(int argc, char **argv, int *i, const char **sets, int *n_sets, int max, const char *cmd);
#endif
