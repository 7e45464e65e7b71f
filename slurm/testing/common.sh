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

# Unix socket paths are limited to 108 bytes with the NUL (sun_path), and
# DIR may be deep (a CI checkout): munged's socket and slurmd's spool, where
# slurmstepd makes one socket per step (SPOOL/NODE_JOBID.STEPID; the batch
# step is 4294967291) and the PMIx plugin one more for an `srun --mpi=pmix`
# step (SPOOL/stepd.slurm.pmix.JOBID.STEPID), live in a short directory of
# their own instead, /tmp/recal-slurm-<cksum of DIR>, made 0700 at start and
# removed by stop.
# DIR/sockets links to it; DIR itself is recorded in it (owner), so that a
# cksum collision is refused rather than shared.
sock_dir_of() { echo "/tmp/recal-slurm-$(printf %s "$1" | cksum | cut -d' ' -f1)"; }

# make_sock_dir SHORT DIR: SHORT afresh (what an earlier start of DIR left
# there removed), 0700, owned by DIR; DIR/sockets points to it.
make_sock_dir() {
    if [ -e "$1" ] || [ -L "$1" ]; then
        if [ -L "$1" ] || [ ! -d "$1" ] || [ ! -O "$1" ]; then
            die "$1 (the short directory for DIR's sockets) exists but is not a directory of this user: remove it"
        fi
        ms_o=$(cat "$1/owner" 2>/dev/null || true)
        [ -z "$ms_o" ] || [ "$ms_o" = "$2" ] ||
            die "$1 (the short directory for DIR's sockets) belongs to the cluster in $ms_o: stop that one, or use another DIR"
        rm -rf "$1"
    fi
    mkdir -m 700 "$1" || die "cannot create $1 for the cluster's sockets"
    printf '%s\n' "$2" >"$1/owner"
    ln -sfn "$1" "$2/sockets"
}

# rm_sock_dir SHORT DIR: SHORT and DIR/sockets, if SHORT is DIR's;
# rs_gone says so for stop's message.
rm_sock_dir() {
    rs_gone=""
    rm -f "$2/sockets"
    if [ -d "$1" ] && [ ! -L "$1" ] && [ "$(cat "$1/owner" 2>/dev/null || true)" = "$2" ]; then
        rm -rf "$1"
        # shellcheck disable=SC2034 # read by the scripts that source this one
        rs_gone=", $1 removed"
    fi
}

# check_sock_len WHAT PATH HINT: refuse, before anything starts, a socket
# path longer than the kernel takes (107 bytes and the NUL in 108), naming
# it and saying what to do (HINT).
check_sock_len() {
    cs_n=$(printf %s "$2" | wc -c)
    [ $((cs_n + 1)) -le 108 ] ||
        die "the $1 would be $2: $((cs_n + 1)) bytes with its NUL, over the 108-byte limit of a Unix socket path; $3"
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

# base_conf STATE SPOOLDIR RUN LOG SOCK: slurm.conf lines both clusters use
# (SPOOLDIR is SlurmdSpoolDir, %n allowed). No
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
SlurmdSpoolDir=$2
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
