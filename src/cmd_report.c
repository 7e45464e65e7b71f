/* src/cmd_report.c — `recal report RUN_DIR`: figures and report.html from
 * a run's metrics.json. Plotting is matplotlib's job (tools/report.py on
 * Debian's python3-matplotlib): we do not draw charts in C. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cli.h"
#include "fsutil.h"

extern char **environ;

#ifndef RECAL_TOOLS_DIR
#define RECAL_TOOLS_DIR "tools"
#endif

static const char *HELP =
    "usage: recal report RUN_DIR\n"
    "\n"
    "Write RUN_DIR/report.html and PNG figures in RUN_DIR/figures/ from RUN_DIR/metrics.json:\n"
    "insertion/deletion curves per method (vanilla vs re-calibrated overlaid), the Diff bars with\n"
    "their bootstrap intervals, the paired differences (estimator - vanilla, method - random),\n"
    "sensitivity-n vs ratio, robustness vs faithfulness, ROAD's MoRF/LeRF curves, Diff-ROAR, and\n"
    "example heatmaps (kept by runs with outputs.figures: true, the default: the images of\n"
    "outputs.examples, else one per class; outputs.heatmap: abs | signed), each figure with a\n"
    "caption saying how to read it and which way is better. `recal run` calls this at its end\n"
    "when outputs.figures is true. Needs /usr/bin/python3 (or $RECAL_PYTHON) with matplotlib; the\n"
    "script is tools/report.py (RECAL_TOOLS_DIR overrides where it is looked up).\n";

int report_render(const char *run_dir) {
    const char *tools = getenv("RECAL_TOOLS_DIR");
    char script[4096];
    snprintf(script, sizeof script, "%s/report.py", tools && *tools ? tools : RECAL_TOOLS_DIR);
    if (!fs_exists(script)) {
        fprintf(stderr, "recal report: %s: no such file (set RECAL_TOOLS_DIR to recal's tools/ directory)\n", script);
        return EXIT_USER;
    }
    char *argv[] = {(char *)cli_python(), script, (char *)run_dir, NULL};
    pid_t pid;
    int st = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
    if (st != 0) {
        fprintf(stderr, "recal report: cannot start %s: %s (install python3 and python3-matplotlib)\n", argv[0],
                strerror(st));
        return EXIT_USER;
    }
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st)) return EXIT_INTERNAL;
    return WEXITSTATUS(st) == 0 ? EXIT_OK : EXIT_USER;
}

int cmd_report(int argc, char **argv) {
    if (argc != 2 || cli_is_help(argv[1])) {
        fputs(HELP, argc == 2 ? stdout : stderr);
        return argc == 2 ? EXIT_OK : EXIT_USER;
    }
    return report_render(argv[1]);
}
