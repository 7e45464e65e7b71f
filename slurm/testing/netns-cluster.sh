#!/bin/sh
# A throwaway Slurm cluster of several "nodes" on this machine, for the
# multi-node tests: each node is a Linux network namespace with a host name
# of its own (a UTS namespace), its own address on a private bridge and its
# own slurmd; one slurmctld and one munged serve them all. The file system is
# shared, as on a cluster, so run directories are seen by every node. Ranks
# on different nodes talk over TCP through the bridge, never through
# loopback. Root only (namespaces, slurmd).
#
#   netns-cluster.sh start DIR [NODES]   stop what an earlier start left in
#                                        DIR, then start NODES nodes (default
#                                        3) and wait until all are idle
#   netns-cluster.sh stop DIR            stop the daemons, delete the
#                                        namespaces, the veths and the bridge
#   netns-cluster.sh kill-node DIR K     node K's sudden death: every process
#                                        in its namespace, slurmd included,
#                                        SIGKILLed at once
#   netns-cluster.sh exec DIR K CMD...   run CMD on node K (its namespaces)
#
# Clients use SLURM_CONF=DIR/etc/slurm.conf from the root namespace. Names
# carry a tag made from DIR's path (bridge rcb<tag>, namespaces rc<tag>n<K>,
# nodes rnode<K>, addresses 10.213.<net>.10+K), so two checkouts on one
# machine do not collide. The Unix sockets (munged's; each node's slurmd
# spool, where slurmstepd makes one per step) are in a short
# /tmp/recal-slurm-<cksum of DIR>, linked from DIR/sockets, since DIR may be
# too deep for a socket path (108 bytes); stop removes it.
set -eu
cmd=${1:-} dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|kill-node|exec DIR ..." >&2; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
sum=$(printf %s "$dir" | cksum | cut -d' ' -f1)
tag=$(printf %04x $((sum % 65536)))
net=$((sum % 250 + 1))
bridge="rcb$tag" subnet="10.213.$net"
port=$((20800 + sum % 1000 * 2))
short=$(sock_dir_of "$dir")
etc="$dir/etc" state="$dir/state" spool="$short/spool" log="$dir/log" run="$dir/run"
nodetmp="/var/tmp/recal-netns-$tag" # each node's own TmpFS (a bind mount in its mount namespace)
sock="$short/munge.sock"
die() { echo "netns-cluster: $*" >&2; exit 1; }
ns_of() { echo "rc${tag}n$1"; }

kill_ns() { # every process in namespace $1
    pids=$(ip netns pids "$1" 2>/dev/null || true)
    # shellcheck disable=SC2086 # one word per pid
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
}

stop_all() {
    if [ -s "$run/slurmctld.pid" ] && kill -0 "$(cat "$run/slurmctld.pid")" 2>/dev/null; then
        ids=$(SLURM_CONF="$etc/slurm.conf" squeue -h -o %i 2>/dev/null || true)
        # shellcheck disable=SC2086 # one word per job id
        [ -z "$ids" ] || SLURM_CONF="$etc/slurm.conf" scancel $ids 2>/dev/null || true
    fi
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^rc${tag}n" || true); do
        kill_ns "$ns"
        ip netns del "$ns" 2>/dev/null || true
    done
    for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep "^rc${tag}v" || true); do
        ip link del "$l" 2>/dev/null || true
    done
    ip link del "$bridge" 2>/dev/null || true
    rmdir "$nodetmp" 2>/dev/null || true
    stop_pid "$run/slurmctld.pid"
    stop_pid "$run/munged.pid"
}

case "$cmd" in
stop)
    stop_all
    rm_sock_dir "$short" "$dir"
    echo "netns-cluster: stopped (state kept in $dir$rs_gone)"
    exit 0
    ;;
kill-node)
    k=${3:?kill-node DIR K}
    kill_ns "$(ns_of "$k")"
    echo "netns-cluster: node rnode$k killed (every process in $(ns_of "$k"))"
    exit 0
    ;;
exec)
    k=${3:?exec DIR K CMD...}
    shift 3
    # the node's host name lives in slurmd's UTS namespace: join both of its namespaces
    pid=$(cat "$run/slurmd-rnode$k.pid")
    exec nsenter -t "$pid" -n -u -- "$@"
    ;;
start) ;;
*) die "unknown command '$cmd' (start, stop, kill-node, exec)" ;;
esac

nodes=${3:-3}
[ "$(id -u)" = 0 ] || die "needs root: network namespaces, and slurmd must run as root to start jobs"
for b in ip nsenter unshare munged mungekey slurmctld slurmd sinfo sbatch scontrol; do
    command -v "$b" >/dev/null || die "$b not found: install iproute2, util-linux, slurm-wlm and munge (tools/install-deps.sh)"
done
# Sockets: munged's; slurmstepd's SPOOL/slurmd-NODE/NODE_JOBID.STEPID and,
# for an `srun --mpi=pmix` step, SPOOL/slurmd-NODE/stepd.slurm.pmix.JOBID.STEPID,
# for job and step ids of up to 10 digits (the batch step is 4294967291).
check_sock_len "munge socket" "$sock" "the socket directory is $short"
check_sock_len "PMIx server socket of a step" "$spool/slurmd-rnode$nodes/stepd.slurm.pmix.4294967295.4294967291" \
    "the socket directory is $short"
check_sock_len "longest slurmstepd socket" "$spool/slurmd-rnode$nodes/rnode${nodes}_4294967295.4294967291" \
    "the socket directory is $short"
stop_all
# DIR/spool: where the spool was before it moved to the short directory.
rm -rf "$state" "$dir/spool" "$dir/nodes"
make_sock_dir "$short" "$dir"
mkdir -p "$etc" "$state" "$spool" "$log" "$run" "$nodetmp"
chmod 700 "$run"

# One private bridge; each node a namespace joined to it by a veth pair.
ip link add "$bridge" type bridge || die "cannot create bridge $bridge (no CAP_NET_ADMIN?)"
ip addr add "$subnet.1/24" dev "$bridge"
ip link set "$bridge" up
k=1
while [ $k -le "$nodes" ]; do
    ns=$(ns_of $k)
    ip netns add "$ns" || die "cannot create network namespace $ns"
    ip link add "rc${tag}v$k" type veth peer name eth0 netns "$ns"
    ip link set "rc${tag}v$k" master "$bridge" up
    ip -n "$ns" addr add "$subnet.$((10 + k))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    k=$((k + 1))
done

# munged on a path socket, which every namespace reaches through the file system.
start_munged "$etc" "$run" "$log" "$sock"

node_lines="" names=""
k=1
while [ $k -le "$nodes" ]; do
    node_lines="${node_lines}NodeName=rnode$k NodeHostname=rnode$k NodeAddr=$subnet.$((10 + k)) CPUs=2 RealMemory=2000 State=UNKNOWN
"
    names="${names:+$names,}rnode$k"
    k=$((k + 1))
done
# As local-slurm.sh, plus: slurmd files per node (%n), a node-local TmpFS,
# a short SlurmdTimeout so that a dead node is noticed within seconds.
{
    cat <<EOF
ClusterName=recalnetns
SlurmctldHost=$(hostname -s)($subnet.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
TmpFS=$nodetmp
SlurmdPidFile=$run/slurmd-%n.pid
SlurmdLogFile=$log/slurmd-%n.log
KillWait=5
SlurmdTimeout=10
EOF
    base_conf "$state" "$spool/slurmd-%n" "$run" "$log" "$sock"
    printf '%sPartitionName=debug Nodes=%s Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO\n' "$node_lines" "$names"
} >"$etc/slurm.conf"
export SLURM_CONF="$etc/slurm.conf"

slurmctld -c -f "$SLURM_CONF" || die "slurmctld did not start (see $log/slurmctld.log)"
t0=$(date +%s)
k=1
while [ $k -le "$nodes" ]; do
    # slurmd takes its node name from the host name of its UTS namespace;
    # the jobs it starts inherit both namespaces. nsenter, not `ip netns
    # exec`, which mounts a sysfs of its own and so hides /sys/fs/cgroup.
    # Each node also has a node-local TmpFS (a mount namespace binding
    # DIR/nodes/rnodeK there): PMIx makes its per-step directories in it, and
    # two nodes sharing one would collide.
    mkdir -p "$spool/slurmd-rnode$k" "$dir/nodes/rnode$k"
    nsenter --net="/run/netns/$(ns_of $k)" unshare --uts --mount --propagation private \
        sh -c "mount --bind '$dir/nodes/rnode$k' '$nodetmp' && hostname rnode$k && exec slurmd -f '$SLURM_CONF'" ||
        die "slurmd of rnode$k did not start (see $log/slurmd-rnode$k.log)"
    k=$((k + 1))
done
i=0
while :; do
    idle=$(sinfo -h -N -o '%N %T' 2>/dev/null | grep -c ' idle' || true)
    [ "$idle" -ge "$nodes" ] && break
    i=$((i + 1))
    if [ $i -ge 60 ]; then
        sinfo -N >&2 || true
        tail -n 20 "$log/slurmctld.log" "$log"/slurmd-*.log >&2 || true
        die "not all $nodes nodes idle after 60 s; logs above, full ones in $log"
    fi
    sleep 1
done
echo "netns-cluster: $nodes nodes idle ($names on $bridge, $subnet.0/24) in $(($(date +%s) - t0)) s, SLURM_CONF=$SLURM_CONF"
