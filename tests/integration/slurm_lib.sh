# tests/integration/slurm_lib.sh — what the Slurm tests share (sourced by
# slurm_submit.sh and multinode.sh): failing, a job's state, waiting for a
# state or for the first journaled shard.

fail() { echo "FAIL: $*"; exit 1; }

# state JOBID: the job's state as slurmctld reports it.
state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }

# wait_state JOBID LOG TIMEOUT_S STATE...: until the job is in one of the
# STATEs; any other end state fails the test with the job's log.
wait_state() {
    ws_id=$1 ws_log=$2 ws_limit=$3
    shift 3
    ws_i=0
    while :; do
        ws_s=$(state "$ws_id")
        for ws_want in "$@"; do
            if [ "$ws_s" = "$ws_want" ]; then return 0; fi
        done
        case "$ws_s" in
        COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
            cat "$ws_log" 2>/dev/null; fail "job $ws_id ended $ws_s, want $* (its log is above)" ;;
        esac
        ws_i=$((ws_i + 1))
        [ $ws_i -lt $((ws_limit * 10)) ] || { cat "$ws_log" 2>/dev/null; scontrol show job "$ws_id"; fail "job $ws_id still $ws_s after $ws_limit s"; }
        sleep 0.1
    done
}

# wait_done JOBID LOG TIMEOUT_S: until COMPLETED.
wait_done() { wait_state "$1" "$2" "$3" COMPLETED; }

# wait_journaled RUN_DIR JOBID LOG [BYTES]: until RUN_DIR/journal is longer
# than BYTES (default 200: its header and a record's start), failing when
# the job ends first or after 120 s.
wait_journaled() {
    wj_i=0
    while [ "$(stat -c %s "$1/journal" 2>/dev/null || echo 0)" -le "${4:-200}" ]; do
        wj_s=$(state "$2")
        case "$wj_s" in PENDING | RUNNING | CONFIGURING) ;; *) cat "$3"; fail "job $2 $wj_s before a shard was journaled" ;; esac
        wj_i=$((wj_i + 1)); [ $wj_i -lt 1200 ] || { cat "$3"; fail "no journal record in $1 after 120 s"; }
        sleep 0.1
    done
}

# preempt TAG JOBID LOG RUN_DIR [BYTES]: once the job has journaled a shard
# (wait_journaled), SIGUSR1 to its batch shell, what --signal=B:USR1@T sends
# before a time limit: the first start must end with recal's exit 3, the
# requeued job start again (SLURM_RESTART_COUNT=1) and complete. Prints the log.
preempt() {
    wait_journaled "$4" "$2" "$3" "${5:-200}"
    scancel --signal=USR1 --batch "$2"
    wait_done "$2" "$3" 400
    cat "$3"
    grep -q "recal exited 3" "$3" || fail "($1) the first start did not end with recal's exit 3"
    grep -q "SLURM_JOB_ID=$2 SLURM_RESTART_COUNT=1" "$3" || fail "($1) no second start (SLURM_RESTART_COUNT=1)"
}
