/* src/main.c — `recal` dispatches to its subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "heap.h"

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
    "                        sweep.csv, sweep_long.csv); the sweep's merge job runs it\n"
    "  report RUN_DIR        figures and report.html from a run's metrics.json\n"
    "  roar CONFIG ...       recal run for a config with metrics.roar (Diff-ROAR in one run)\n"
    "  dataset-dump CONFIG   write the config's dataset as ds_get decodes it (.npy), for checks\n"
    "  --version             libtorch, CUDA, cuDNN, NCCL and MPI: versions built against and\n"
    "                        the files loaded (docs/install.md)\n"
    "\n"
    "`recal <command> --help` describes each command. Exit status: 0 ok, 1 bad config or\n"
    "input (the message says what to fix), 2 internal error, 3 interrupted but resumable.\n";

int main(int argc, char **argv) {
    heap_tune(); /* before libtorch or MPI start threads */
    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USER : EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) return cmd_version();
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
