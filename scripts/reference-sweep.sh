#!/usr/bin/env bash
# The reference sweeps of results/reference/, for a machine with many cores:
#   scaling      fibprimes 2000 on every executor, workers 1, 2, 4, ... and the core count,
#                chunk sizes 1, 16 and auto, 6 paired rounds
#   overhead     the probes (noop, sleep, spin, payload), one task per chunk, on the cores
#   granularity  spin tasks of 10 us to 100 ms on the cores (METG)
# Each sweep writes its own journal into OUT. With mpi4py installed, each runs under
# mpiexec -n <cores + 1>, so that mpi-comm is measured too.
#   scripts/reference-sweep.sh OUT [scaling] [overhead] [granularity]     (default: all three)
set -uo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: scripts/reference-sweep.sh OUT [scaling] [overhead] [granularity]" >&2; exit 2; }
out=$1
shift
[ $# -gt 0 ] || set -- scaling overhead granularity
python=${PYTHON:-python3}
cores=$("$python" -c 'import os; print(len(os.sched_getaffinity(0)))')
workers=1
for ((w = 2; w < cores; w *= 2)); do workers+=",$w"; done
[ "$cores" -gt 1 ] && workers+=",$cores"

sweep() {
    if "$python" -c 'import mpi4py' 2>/dev/null && command -v mpiexec >/dev/null; then
        mpiexec -n $((cores + 1)) "$python" -m mpi4py bench/run.py --out "$out" "$@"
    else
        "$python" bench/run.py --out "$out" "$@"
    fi
}

status=0
for name in "$@"; do
    case $name in
    scaling) sweep --workloads fibprimes --size 2000 --workers "$workers" --chunksizes 1,16,auto --repeats 6 ;;
    overhead) sweep --preset overhead ;;
    granularity) sweep --preset granularity ;;
    *) echo "reference-sweep.sh: unknown sweep $name (scaling, overhead, granularity)" >&2; exit 2 ;;
    esac
    code=$?
    # 1: some cells failed (kept in the journal); anything else stops here
    [ $code -le 1 ] || exit $code
    [ $code -eq 0 ] || status=1
done
exit $status
