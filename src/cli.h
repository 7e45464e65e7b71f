/* src/cli.h — subcommands of the recal executable and their exit codes
 * (README, exit status: 0 ok, 1 user error, 2 internal error, 3 interrupted-resumable). */
#ifndef RECAL_CLI_H
#define RECAL_CLI_H

/* The longest --run-dir `recal run` takes (its paths inside the run
 * directory must fit); `recal submit` refuses a longer one before it queues
 * a job that could not start. */
#define CLI_RUN_DIR_MAX 1000

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
/* recal --version: versions built against and the libraries loaded. */
int cmd_version(void);

struct option;
/* getopt_long over a command's arguments (argv[0] is the command's name;
 * cli_start() before the first call): long options by their whole name
 * (--name VALUE or --name=VALUE) and -h. Returns the option's val, -1 after
 * the last, or '?' once "recal CMD: unexpected argument 'X'" or "recal CMD:
 * --name needs a value" is printed. Operands (anywhere, and all after "--")
 * are kept in order for cli_operands. */
void cli_start(void);
int cli_next(const char *cmd, int argc, char **argv, const struct option *opts);
/* The operands cli_next met; their count. */
int cli_operands(const char ***out);
/* One operand: *slot must still be NULL ("recal CMD: unexpected argument
 * 'X'" otherwise). 0, or -1 after the message. */
int cli_operand(const char *cmd, const char *arg, const char **slot);
/* --set's value appended to sets, at most max of them; -1 after printing
 * "recal <cmd>: --set needs key=value (at most max)". */
int cli_add_set(const char *v, const char **sets, int *n_sets, int max, const char *cmd);
int cli_is_help(const char *a);
/* A whole number >= min in full ("2x", "" and overflow refused): 0, or -1
 * after "recal CMD: --opt wants a whole number >= MIN, got 'V'". */
int cli_long(const char *cmd, const char *opt, const char *v, long min, long *out);
/* The Python that runs tools/ (report, bench baselines, model export):
 * $RECAL_PYTHON when set (e.g. a venv's), else Debian's /usr/bin/python3. */
const char *cli_python(void);
#endif
