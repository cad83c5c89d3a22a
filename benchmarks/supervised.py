"""Does measuring in a supervised child change the serial baseline? The same sweep, supervised and not.

    python benchmarks/supervised.py [--pairs 8] [--rounds 8]

``python bench/run.py`` measures in a child process that outlives a crash
(``bench.cli.supervise``); ``BENCH_SUPERVISE=0`` measures in the command's own
process. Each pair runs the same small sweep both ways, back to back,
alternating which goes first, and compares the medians of the paired serial
baselines (the reference of every speedup). Reports each pair and the median
of the per-pair ratios with its 95% interval.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench  # noqa: E402
from bench.data import stats  # noqa: E402

SWEEP = (
    *("--executors", "multiprocessing", "--workloads", "fibprimes", "--size", "1000", "--workers", "2"),
    *("--chunksizes", "16", "--noise", "0", "--blocks", "1", "--trace", "off", "--memory", "off", "--quiet"),
)


def baselines(supervised: bool, rounds: int) -> list[float]:
    """The serial baseline samples of one sweep."""
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "BENCH_SUPERVISE": "1" if supervised else "0"}
        command = [sys.executable, str(ROOT / "bench" / "run.py"), *SWEEP, "--repeats", str(rounds), "--out", out]
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=600)
        [path] = Path(out).glob("*.jsonl")
        return [sample for cell in bench.load(path).cells for sample in cell.baseline_s or []]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    ratios = []
    for number in range(args.pairs):
        order = (True, False) if number % 2 == 0 else (False, True)
        found = {supervised: stats.median(baselines(supervised, args.rounds)) for supervised in order}
        ratios.append(found[True] / found[False])
        print(
            f"pair {number + 1}: supervised {found[True] * 1e3:.1f} ms, in-process {found[False] * 1e3:.1f} ms, "
            f"ratio {ratios[-1]:.4f}",
            flush=True,
        )
    paired = stats.median_ci(ratios)
    print(
        f"serial baseline, supervised / in-process: {paired.value:.4f} [{paired.low:.4f}, {paired.high:.4f}] "
        f"(median of {args.pairs} per-pair ratios, {paired.confidence:.1%} interval)"
    )


if __name__ == "__main__":
    main()
