/* src/run_launch.c — see run_launch.h. */
#include "run_launch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "coord_book.h"
#include "fsutil.h"
#include "journal.h"
#include "launch.h"

/* pass holds the ranks' arguments ("run" first, no --ranks/--run-dir),
 * with room for two more and the NULL. */
static int launch(struct run_args *a, char **pass, int n_pass) {
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK")) {
        fprintf(stderr, "recal run: --ranks starts mpirun itself, so it cannot run under mpirun or srun: drop "
                        "--ranks there (the launcher already set the rank count)\n");
        return EXIT_USER;
    }
    char dir[2048], err[2048];
    if (a->run_dir) {
        snprintf(dir, sizeof dir, "%s", a->run_dir);
    } else {
        /* Fixed here, so the ranks use it and the message below can name it. */
        struct job *job = calloc(1, sizeof *job); /* 110 KB: the heap */
        int failed = !job;
        if (!job) snprintf(err, sizeof err, "out of host memory for the job");
        else failed = run_load_job(a, job, err, sizeof err) != 0;
        if (failed) {
            fprintf(stderr, "recal run: %s\n", err);
            free(job);
            return EXIT_USER;
        }
        char id[512];
        coord_default_run_id(job, id, sizeof id);
        free(job);
        snprintf(dir, sizeof dir, "runs/%s", id);
    }
    pass[n_pass++] = "--run-dir";
    pass[n_pass++] = dir;
    pass[n_pass] = NULL;
    /* Containers run as root, and Open MPI's mpirun refuses root with a
     * banner unless both variables are set: the user asked recal to start it,
     * so recal sets them (and says so) rather than failing. */
    if (geteuid() == 0 && !(getenv("OMPI_ALLOW_RUN_AS_ROOT") && getenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"))) {
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
        fprintf(stderr, "recal run: running as root: OMPI_ALLOW_RUN_AS_ROOT=1 and OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                        "set for the mpirun recal starts (Open MPI refuses root without them)\n");
    }
    struct launch_result r;
    launch_expect_exit(dir);
    if (launch_mpirun(a->ranks, pass, &r, err, sizeof err)) {
        fprintf(stderr, "recal run --ranks: %s\n", err);
        return EXIT_INTERNAL;
    }
    const int own = launch_take_exit();
    /* only Open MPI's generic 1 with no rank named: a status that says more is kept */
    if (own >= EXIT_OK && own <= EXIT_RESUMABLE && r.rank < 0 && r.status == 1 && own != 1) {
        fprintf(stderr,
                "recal run: the ranks ended with exit %d; mpirun's status %d came after, at its shutdown (Open "
                "MPI's lines above, if any): recal exits %d\n",
                own, r.status, own);
        return own;
    }
    if (r.status >= EXIT_OK && r.status <= EXIT_RESUMABLE) return r.status; /* recal's own, already explained */
    if (r.status == 127 && r.rank < 0) return EXIT_USER; /* no launcher or no executable: its message is above */
    fputs("recal run: ", stderr);
    if (r.rank >= 0)
        fprintf(stderr, "rank %d on %s was killed by signal %d (%s), so mpirun ended the run (status %d)", r.rank,
                r.host, r.signal, strsignal(r.signal), r.status);
    else fprintf(stderr, "mpirun ended with status %d (see its lines above)", r.status);
    char path[2200];
    long done = 0, total = 0;
    snprintf(path, sizeof path, "%s/journal", dir);
    int journaled = journal_peek(path, &total, &done) == 0;
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    const int started = fs_exists(path), again = journaled || started; /* --resume takes the dir */
    if (journaled) fprintf(stderr, "; %ld of %ld shards are journaled in %s.\nresume with: ", done, total, dir);
    else if (started) fprintf(stderr, "; no shard was finished yet.\nstart it again in %s with: ", dir);
    else fprintf(stderr, "; nothing was written yet.\nstart it again with: ");
    run_resume_hint(stderr, a, again || a->run_dir ? dir : NULL, again);
    return EXIT_RESUMABLE;
}

int run_launch_ranks(struct run_args *a) {
    /* What the launched ranks get: this command but --ranks and --run-dir
     * (the launcher fixes the directory, so it can speak of it afterwards),
     * with room for those two and the NULL. */
    char *pass[8 + 2 * JOB_MAX_SETS];
    char point_s[32];
    int n_pass = 0;
    pass[n_pass++] = a->require_roar ? "roar" : "run";
    pass[n_pass++] = (char *)a->config;
    for (int k = 0; k < a->n_user_sets; k++) {
        pass[n_pass++] = "--set";
        pass[n_pass++] = (char *)a->sets[k];
    }
    if (a->point >= 0) {
        snprintf(point_s, sizeof point_s, "%ld", a->point);
        pass[n_pass++] = "--sweep-point";
        pass[n_pass++] = point_s;
    }
    if (a->resume) pass[n_pass++] = "--resume";
    if (a->submitted_sha256) {
        pass[n_pass++] = "--submitted-sha256";
        pass[n_pass++] = (char *)a->submitted_sha256;
    }
    pass[n_pass] = NULL;
    return launch(a, pass, n_pass);
}
