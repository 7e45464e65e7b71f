#!/bin/sh
# A throwaway single-node Slurm on this machine, for the tests: its own munged
# (own key and socket), slurmctld and slurmd, all state, logs and the config
# under DIR, so nothing in /etc is read or changed; only the Unix sockets
# (munged's, and slurmd's spool where slurmstepd makes its own) are in a short
# /tmp/recal-slurm-<cksum of DIR> (DIR/sockets links to it), since DIR may be
# too deep for a socket path (108 bytes). Run as root (the daemons
# run as SlurmUser=root; the test jobs run as the caller).
#
#   local-slurm.sh start DIR   stop whatever an earlier start left in DIR, then
#                              start munged, slurmctld, slurmd and wait until
#                              the node is idle (or fail, saying why)
#   local-slurm.sh stop DIR    stop the daemons started in DIR, remove the
#                              short socket directory
#
# Clients find this Slurm through SLURM_CONF=DIR/etc/slurm.conf. Ports:
# RECAL_SLURM_PORT for slurmctld, +1 for slurmd; by default an even port in
# 16800..18798 picked from DIR's path, so test runs of two checkouts on one
# machine do not collide.
set -eu
cmd=${1:-} dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
port=${RECAL_SLURM_PORT:-$((16800 + $(printf %s "$dir" | cksum | cut -d' ' -f1) % 1000 * 2))}
short=$(sock_dir_of "$dir")
etc="$dir/etc" state="$dir/state" spool="$short/spool" log="$dir/log" run="$dir/run"
sock="$short/munge.sock"
die() { echo "local-slurm: $*" >&2; exit 1; }

stop_all() {
    # Jobs first: with proctrack/linuxproc a job's processes outlive slurmd.
    # Every job of this private cluster is the tests' own.
    if [ -s "$run/slurmctld.pid" ] && kill -0 "$(cat "$run/slurmctld.pid")" 2>/dev/null; then
        ids=$(SLURM_CONF="$etc/slurm.conf" squeue -h -o %i 2>/dev/null || true)
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086 # one word per job id
            SLURM_CONF="$etc/slurm.conf" scancel $ids 2>/dev/null || true
            i=0
            while [ -n "$(SLURM_CONF="$etc/slurm.conf" squeue -h -o %i 2>/dev/null)" ] && [ $i -lt 30 ]; do
                sleep 1; i=$((i + 1))
            done
        fi
    fi
    # slurmd first: with slurmctld gone it would keep retrying to register.
    stop_pid "$run/slurmd.pid"
    stop_pid "$run/slurmctld.pid"
    stop_pid "$run/munged.pid"
}

if [ "$cmd" = stop ]; then
    stop_all
    rm_sock_dir "$short" "$dir"
    echo "local-slurm: stopped (state kept in $dir$rs_gone)"
    exit 0
fi
[ "$cmd" = start ] || die "unknown command '$cmd' (start or stop)"
[ "$(id -u)" = 0 ] || die "needs root: slurmd must run as root to start jobs (run the tests as root, as CI does)"
for b in munged mungekey slurmctld slurmd sinfo sbatch scontrol; do
    command -v "$b" >/dev/null || die "$b not found: install Debian's slurm-wlm and munge (tools/install-deps.sh)"
done

host=$(hostname -s)
# Sockets: munged's; slurmstepd's SPOOL/HOST_JOBID.STEPID and, for an
# `srun --mpi=pmix` step, SPOOL/stepd.slurm.pmix.JOBID.STEPID, for job and
# step ids of up to 10 digits (the batch step is 4294967291).
check_sock_len "munge socket" "$sock" "the socket directory is $short"
check_sock_len "PMIx server socket of a step" "$spool/stepd.slurm.pmix.4294967295.4294967291" \
    "the socket directory is $short"
check_sock_len "longest slurmstepd socket" "$spool/${host}_4294967295.4294967291" \
    "the node is named after this host ('hostname -s'): run on a host with a shorter name"

stop_all # idempotent: a second start replaces the first
# A fresh controller state each time: no jobs or node states from a last run
# (DIR/spool: where the spool was before it moved to the short directory).
rm -rf "$state" "$dir/spool"
make_sock_dir "$short" "$dir"
mkdir -p "$etc" "$state" "$spool" "$log" "$run"
chmod 700 "$run"

start_munged "$etc" "$run" "$log" "$sock"

# The node as slurmd sees it. CPUs is at least 2 so the tests' two-task
# jobs fit a one-core machine (config_overrides: trust the config).
hw=$(slurmd -C | head -1)
cpus=$(echo "$hw" | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p')
mem=$(echo "$hw" | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
[ -n "$cpus" ] && [ -n "$mem" ] || die "cannot read CPUs/RealMemory from 'slurmd -C': $hw"
[ "$cpus" -ge 2 ] || cpus=2
{
    cat <<EOF
ClusterName=recaltest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmdPidFile=$run/slurmd.pid
SlurmdLogFile=$log/slurmd.log
KillWait=10
SlurmdTimeout=30
EOF
    base_conf "$state" "$spool" "$run" "$log" "$sock"
    cat <<EOF
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
} >"$etc/slurm.conf"
export SLURM_CONF="$etc/slurm.conf"

slurmctld -c -f "$SLURM_CONF" || die "slurmctld did not start (see $log/slurmctld.log)"
slurmd -f "$SLURM_CONF" || die "slurmd did not start (see $log/slurmd.log)"

i=0
while :; do
    st=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    case "$st" in idle*) break ;; esac
    i=$((i + 1))
    if [ $i -ge 60 ]; then
        tail -n 20 "$log/slurmctld.log" "$log/slurmd.log" >&2 || true
        die "node $host not idle after 60 s (state '${st:-no answer}'); logs above, full ones in $log"
    fi
    sleep 1
done
echo "local-slurm: node $host idle ($cpus CPUs), SLURM_CONF=$SLURM_CONF"
