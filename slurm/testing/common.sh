# slurm/testing/common.sh — what the test clusters share (sourced by
# local-slurm.sh and netns-cluster.sh): stopping a daemon, a private munged,
# and the slurm.conf lines of a root-run, cgroup-free, accounting-free test
# cluster.

stop_pid() { # stop_pid PIDFILE: TERM, then KILL after 10 s
    [ -s "$1" ] || return 0
    sp_p=$(cat "$1")
    if kill -0 "$sp_p" 2>/dev/null; then
        kill -TERM "$sp_p" 2>/dev/null || true
        sp_i=0
        while kill -0 "$sp_p" 2>/dev/null && [ $sp_i -lt 100 ]; do sleep 0.1; sp_i=$((sp_i + 1)); done
        kill -0 "$sp_p" 2>/dev/null && kill -KILL "$sp_p" 2>/dev/null || true
    fi
    rm -f "$1"
}

# start_munged ETC RUN LOG SOCK: its own key (made once; munged refuses one
# readable by others) and socket, checked with a round trip.
start_munged() {
    [ -s "$1/munge.key" ] || mungekey --create --keyfile="$1/munge.key" >/dev/null
    chmod 600 "$1/munge.key"
    munged --force --socket="$4" --key-file="$1/munge.key" --pid-file="$2/munged.pid" \
        --log-file="$3/munged.log" --seed-file="$2/munged.seed" || die "munged did not start (see $3/munged.log)"
    munge -S "$4" -n </dev/null | unmunge -S "$4" >/dev/null || die "munge round trip through $4 failed (see $3/munged.log)"
}

# base_conf STATE SPOOL RUN LOG SOCK: slurm.conf lines both clusters use. No
# cgroups in containers: linuxproc tracks a job's processes by parentage,
# task/none binds nothing. Memory is not a consumable (CR_Core).
# cred_expire decides how long a requeued job waits before it may start
# again (120 s by default).
base_conf() {
    cat <<EOC
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$5,cred_expire=10
StateSaveLocation=$1
SlurmdSpoolDir=$2/slurmd-%n
SlurmctldPidFile=$3/slurmctld.pid
SlurmctldLogFile=$4/slurmctld.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MinJobAge=300
InactiveLimit=0
SlurmctldTimeout=30
EOC
}
