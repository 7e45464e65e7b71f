/* src/run_startup.c — see run_startup.h. */
#include "run_startup.h"

#include "clock.h"
#include "engine.h"
#include "log.h"

void run_startup_log(const struct run_startup *s, const struct wk_engine *e) {
    const double exec = s->exec_s > 0 ? s->exec_s : 0, since = clock_now_s() - s->t0, total = exec + since;
    const double known = s->mpi_init_s + s->listing_s + e->open_dataset_s + e->open_model_s + e->open_check_s +
                         s->fingerprint_s + s->plan_s;
    log_printf("start-up: %.3f s from exec to the hand-out of shards: exec to main (libtorch's libraries) %.3f, "
               "MPI_Init %.3f, listing %.3f, data set open %.3f, model load %.3f, model check and chunk %.3f, "
               "fingerprint %.3f, shard plan %.3f, the rest (config, run directory, waits for rank 0) %.3f",
               total, exec, s->mpi_init_s, s->listing_s, e->open_dataset_s, e->open_model_s, e->open_check_s,
               s->fingerprint_s, s->plan_s, since - known > 0 ? since - known : 0);
}
