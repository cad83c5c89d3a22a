"""Per-task overhead of mpi-pool and process-pool: the suite beside mpi4py.bench.

    python benchmarks/task_overhead.py [--tasks 1000] [--repeats 10]

Runs, in one go on the same machine: the suite on the ``noop`` workload
(empty tasks, chunksize 1, 2 workers) for ``mpi-pool`` and ``process-pool``,
then ``python -m mpi4py.bench futures -e mpi|process -w 2`` with 1-byte tasks,
and prints the tasks per second of each, side by side.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench  # noqa: E402
from bench.data import stats  # noqa: E402

BACKENDS = {"mpi-pool": "mpi", "process-pool": "process"}


def suite_tasks_per_s(tasks: int, repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "run.py"),
                "--executors",
                ",".join(BACKENDS),
                "--workloads",
                "noop",
                "--workers",
                "2",
                "--chunksizes",
                "1",
                "--size",
                str(tasks),
                "--repeats",
                str(repeats),
                "--out",
                out,
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        cells = bench.load(done.stdout.strip()).cells
    return {cell.executor: tasks / stats.median(cell.times_s) for cell in cells}


def mpi4py_bench_tasks_per_s(executor: str, tasks: int) -> float:
    """Tasks/s of ``python -m mpi4py.bench futures`` for 1-byte tasks."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpi4py.bench",
            "futures",
            "-e",
            executor,
            "-w",
            "2",
            "-t",
            str(tasks // 2),
            "-m",
            "1",
            "-n",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    for line in done.stdout.splitlines():
        fields = line.split()
        if fields and fields[0] == "1":
            return float(fields[1])
    raise RuntimeError(f"no result in mpi4py.bench output:\n{done.stdout}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000, help="tasks per map (both tools)")
    parser.add_argument("--repeats", type=int, default=10, help="timed maps per suite cell")
    args = parser.parse_args()
    suite = suite_tasks_per_s(args.tasks, args.repeats)
    print(f"empty tasks, chunksize 1, 2 workers, {args.tasks} tasks per map")
    print(f"{'back-end':<14}{'suite tasks/s':>15}{'mpi4py.bench tasks/s':>23}")
    for backend, reference in BACKENDS.items():
        print(f"{backend:<14}{suite[backend]:>15.0f}{mpi4py_bench_tasks_per_s(reference, args.tasks):>23.0f}")


if __name__ == "__main__":
    main()
