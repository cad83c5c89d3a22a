#!/usr/bin/env bash
# A real Slurm with several nodes on this one machine, for development and tests.
#
#   scripts/local-slurm.sh start [--nodes N]   install (Debian packages), configure, start, wait until idle
#   scripts/local-slurm.sh stop                cancel jobs, stop what start started, leave nothing running
#   scripts/local-slurm.sh status              whether it runs, and sinfo
#
# Every node is one slurmd on this host (slurmd -N n1, -N n2, ...), each on its
# own port with a share of the cores. The configuration goes where Slurm's own
# commands look (/etc/slurm/slurm.conf, or $SLURM_CONF), so sinfo, sbatch and
# the suite work in any shell afterwards. A configuration this script did not
# write is never replaced. start is idempotent; stop stops exactly the daemons
# that start started (their PID files) and munged only if start started it.
set -euo pipefail

prog=scripts/local-slurm.sh
conf=${SLURM_CONF:-/etc/slurm/slurm.conf}
marker="# Written by parallel-bench $prog; it rewrites this file and nothing else."
state=${BENCH_SLURM_STATE:-/var/lib/bench-slurm}
run=$state/run
logs=$state/log
nodes=2
ready_timeout=60

die() { echo "$prog: $1" >&2; exit "${2:-1}"; }
usage() { echo "usage: $prog start|stop|status [--nodes N]" >&2; exit 2; }

[ $# -ge 1 ] || usage
action=$1
shift
while [ $# -gt 0 ]; do
    case $1 in
        --nodes) [ $# -ge 2 ] || usage; nodes=$2; shift 2 ;;
        --nodes=*) nodes=${1#--nodes=}; shift ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "$prog: error: unknown argument '$1'" >&2; usage ;;
    esac
done
case $nodes in ''|*[!0-9]*) die "error: --nodes must be a positive integer, not '$nodes'" 2 ;; esac
nodes=$((10#$nodes))
[ "$nodes" -ge 1 ] || die "error: --nodes must be a positive integer, not '$nodes'" 2
case $action in start|stop|status) ;; *) echo "$prog: error: unknown action '$action'" >&2; usage ;; esac

need_root() { [ "$(id -u)" = 0 ] || die "$action needs root (it starts and stops system daemons); run it with sudo" 1; }

ours() { [ -f "$conf" ] && head -n 1 "$conf" | grep -qxF "$marker"; }

# PID in $1 names a live process whose command is $2.
alive() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$2" ]
}

node_names() { seq -f 'n%g' 1 "$1" | paste -sd, -; }

write_conf() {
    local cores cpus mem_mb i
    cores=$(nproc)
    cpus=$(( cores / nodes )); [ "$cpus" -ge 1 ] || cpus=1
    mem_mb=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 / nodes ))
    mkdir -p "$(dirname "$conf")"
    {
        echo "$marker"
        echo "ClusterName=bench"
        echo "SlurmctldHost=$(hostname -s)(127.0.0.1)"
        echo "SlurmctldPort=6817"
        echo "AuthType=auth/munge"
        echo "SlurmUser=root"
        echo "SlurmdUser=root"
        echo "StateSaveLocation=$state/ctld"
        echo "SlurmdSpoolDir=$state/spool-%n"
        echo "SlurmctldPidFile=$run/slurmctld.pid"
        echo "SlurmdPidFile=$run/slurmd-%n.pid"
        echo "SlurmctldLogFile=$logs/slurmctld.log"
        echo "SlurmdLogFile=$logs/slurmd-%n.log"
        echo "ProctrackType=proctrack/linuxproc"
        echo "TaskPlugin=task/none"
        echo "MpiDefault=none"
        echo "SchedulerType=sched/backfill"
        echo "SelectType=select/cons_tres"
        echo "SelectTypeParameters=CR_Core"
        echo "AccountingStorageType=accounting_storage/none"
        echo "JobAcctGatherType=jobacct_gather/none"
        echo "JobCompType=jobcomp/none"
        echo "ReturnToService=2"
        echo "SlurmctldTimeout=30"
        echo "SlurmdTimeout=30"
        echo "MessageTimeout=5"
        echo "InactiveLimit=0"
        echo "KillWait=5"
        echo "MinJobAge=60"
        for i in $(seq 1 "$nodes"); do
            echo "NodeName=n$i NodeHostname=localhost NodeAddr=127.0.0.1 Port=$(( 17000 + i )) CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN"
        done
        # LLN: a job goes to the least loaded node, so that jobs spread over the nodes.
        echo "PartitionName=debug Nodes=$(node_names "$nodes") Default=YES MaxTime=INFINITE State=UP LLN=YES"
    } > "$conf.tmp"
    mv "$conf.tmp" "$conf"
}

# The node count of the configuration this script wrote.
conf_nodes() { grep -c '^NodeName=' "$conf"; }

install_packages() {
    local missing=() cmd
    for cmd in slurmctld slurmd sinfo munged; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
    [ ${#missing[@]} -eq 0 ] && return
    echo "installing slurmctld slurmd slurm-client munge (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
}

start_munge() {
    if pgrep -x munged >/dev/null; then
        return
    fi
    [ -s /etc/munge/munge.key ] || { mungekey --create >/dev/null 2>&1 || /usr/sbin/mungekey --create; chown munge:munge /etc/munge/munge.key; }
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged
    cp /run/munge/munged.pid "$run/munged.pid"  # started here: stop stops it
}

start_daemon() {  # pidfile comm command...
    local pidfile=$1 comm=$2
    shift 2
    if alive "$pidfile" "$comm"; then
        return
    fi
    setsid "$@" </dev/null >>"$logs/$comm.out" 2>&1 &
    echo $! > "$pidfile"
}

wait_idle() {
    local deadline=$(( SECONDS + ready_timeout )) states
    while :; do
        states=$(timeout 10 sinfo -h -N -o '%N %t' 2>/dev/null | sort -u || true)
        if [ -n "$states" ] && [ "$(echo "$states" | awk '$2 == "idle" || $2 == "mix" || $2 == "alloc"' | wc -l)" -eq "$nodes" ]; then
            return
        fi
        if [ $SECONDS -ge $deadline ]; then
            echo "$prog: nodes not idle after ${ready_timeout} s:" >&2
            echo "$states" >&2
            echo "logs: $logs" >&2
            exit 1
        fi
        sleep 0.5
    done
}

do_start() {
    need_root
    if [ -f "$conf" ] && ! ours; then
        die "$conf exists and was not written by this script; not replacing it (set SLURM_CONF to use another path)" 1
    fi
    install_packages
    mkdir -p "$run" "$logs" "$state/ctld"
    if [ -f "$conf" ] && [ "$(conf_nodes)" != "$nodes" ]; then
        do_stop quiet  # a different node count: start over
        rm -rf "$state/ctld"
        mkdir -p "$state/ctld"
    fi
    if ! alive "$run/slurmctld.pid" slurmctld; then
        write_conf
    fi
    start_munge
    start_daemon "$run/slurmctld.pid" slurmctld slurmctld -D -f "$conf"
    local i
    for i in $(seq 1 "$nodes"); do
        mkdir -p "$state/spool-n$i"
        start_daemon "$run/slurmd-n$i.pid" slurmd slurmd -D -N "n$i" -f "$conf"
    done
    wait_idle
    echo "local Slurm running: $nodes node(s) ($(node_names "$nodes")), configuration $conf"
}

stop_pids() {  # comm=pidfile...: signals every daemon at once, then waits up to 5 s for each to end
    local each pidfile pid i pids=()
    for each in "$@"; do
        pidfile=${each#*=}
        if alive "$pidfile" "${each%%=*}"; then
            pid=$(cat "$pidfile")
            kill "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
        rm -f "$pidfile"
    done
    for pid in ${pids[@]+"${pids[@]}"}; do
        for i in $(seq 1 50); do
            [ -d "/proc/$pid" ] || break
            sleep 0.1
        done
        [ -d "/proc/$pid" ] && kill -9 "$pid" 2>/dev/null || true
    done
}

do_stop() {
    need_root
    if ! ours; then
        [ "${1:-}" = quiet ] || echo "no local Slurm of this script to stop ($conf was not written by it)"
        return
    fi
    if alive "$run/slurmctld.pid" slurmctld; then
        local jobs
        jobs=$(timeout 10 squeue -h -o %i 2>/dev/null || true)
        if [ -n "$jobs" ]; then
            # shellcheck disable=SC2086
            timeout 10 scancel $jobs 2>/dev/null || true
            local i  # KillWait (5 s) and the steps' own ends: wait until Slurm lists no job
            for i in $(seq 1 100); do
                [ -z "$(timeout 10 squeue -h -o %i 2>/dev/null)" ] && break
                sleep 0.2
            done
        fi
    fi
    # the node daemons and the controller end together: each saves its own state
    local daemons=("slurmctld=$run/slurmctld.pid") pidfile
    for pidfile in "$run"/slurmd-*.pid; do
        [ -e "$pidfile" ] && daemons+=("slurmd=$pidfile")
    done
    stop_pids "${daemons[@]}"
    if pgrep -x slurmstepd >/dev/null; then
        echo "$prog: warning: job steps still running (pgrep -a slurmstepd); they were not stopped" >&2
    fi
    if [ -e "$run/munged.pid" ]; then
        stop_pids "munged=$run/munged.pid"
    fi
    [ "${1:-}" = quiet ] || echo "local Slurm stopped"
}

do_status() {
    if ! ours; then
        echo "not running (no configuration of this script at $conf)"
        exit 3
    fi
    local down=() i
    alive "$run/slurmctld.pid" slurmctld || down+=(slurmctld)
    for i in $(seq 1 "$(conf_nodes)"); do
        alive "$run/slurmd-n$i.pid" slurmd || down+=("slurmd n$i")
    done
    if [ ${#down[@]} -gt 0 ]; then
        echo "not running: ${down[*]}"
        exit 3
    fi
    echo "running: $(conf_nodes) node(s), configuration $conf"
    timeout 10 sinfo -N -o '%N %P %c %t' || true
}

"do_$action"
