/* src/main.c — `recal` dispatches to its subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "torch_shim.h"

static const char *USAGE =
    "recal — evaluate feature-attribution methods (vanilla and re-calibrated) at dataset scale\n"
    "\n"
    "usage: recal <command> [options]        (run under mpirun/srun for several ranks)\n"
    "\n"
    "commands:\n"
    "  run CONFIG.yaml       evaluate the methods and metrics of a job; writes runs/<run-id>/\n"
    "  train CONFIG.yaml     train a TorchScript model (SGD with momentum) and save it\n"
    "  attribute ...         attribute a small batch given as .npy arrays\n"
    "  bench [--quick]       throughput side by side: recal, raw forward+backward, the\n"
    "                        reference loop and Captum on the same model and samples\n"
    "  bench --dispatch      (under mpirun) shards/s of recal run's coordinator, no-op workers\n"
    "  submit CONFIG.yaml    write a Slurm batch script for the job and sbatch it\n"
    "  sweep-merge CONFIG.yaml --run-dir DIR   the table of a submitted sweep (DIR/sweep.json,\n"
    "                        sweep.csv); the sweep's merge job runs it\n"
    "  report RUN_DIR        figures and report.html from a run's metrics.json\n"
    "  roar CONFIG ...       recal run for a config with metrics.roar (Diff-ROAR in one run)\n"
    "  dataset-dump CONFIG   write the config's dataset as ds_get decodes it (.npy), for checks\n"
    "\n"
    "`recal <command> --help` describes each command. Exit status: 0 ok, 1 bad config or\n"
    "input (the message says what to fix), 2 internal error, 3 interrupted but resumable.\n";

const char *cli_opt(int argc, char **argv, int *i, const char *name, int *missing) {
    size_t n = strlen(name);
    *missing = 0;
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] != '\0') return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

int cli_take_set(int argc, char **argv, int *i, const char **sets, int *n_sets, int max, const char *cmd) {
    int missing = 0;
    const char *v = cli_opt(argc, argv, i, "--set", &missing);
    if (!v && !missing) return 0;
    if (missing || *n_sets >= max) {
        fprintf(stderr, "recal %s: --set needs key=value (at most %d)\n", cmd, max);
        return -1;
    }
    sets[(*n_sets)++] = v;
    return 1;
}

int cli_is_help(const char *a) {
    return !strcmp(a, "--help") || !strcmp(a, "-h");
}

const char *cli_python(void) {
    const char *py = getenv("RECAL_PYTHON");
    return py && *py ? py : "/usr/bin/python3";
}

int main(int argc, char **argv) {
    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USER : EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("recal 0.1.0 (libtorch %s)\n", ts_version());
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "run")) return cmd_run(argc - 1, argv + 1);
    if (!strcmp(argv[1], "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "attribute")) return cmd_attribute(argc - 1, argv + 1);
    if (!strcmp(argv[1], "bench")) return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(argv[1], "dataset-dump")) return cmd_dataset_dump(argc - 1, argv + 1);
    if (!strcmp(argv[1], "report")) return cmd_report(argc - 1, argv + 1);
    if (!strcmp(argv[1], "roar")) return cmd_roar(argc - 1, argv + 1);
    if (!strcmp(argv[1], "submit")) return cmd_submit(argc - 1, argv + 1);
    if (!strcmp(argv[1], "sweep-merge")) return cmd_sweep_merge(argc - 1, argv + 1);
    fprintf(stderr,
            "recal: unknown command '%s' (commands: run, train, attribute, bench, report, roar, submit, "
            "sweep-merge, dataset-dump; see recal --help)\n",
            argv[1]);
    return EXIT_USER;
}
