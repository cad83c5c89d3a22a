"""Does pairing give honest speedups? A 1-worker pool against its paired serial baseline.

    python benchmarks/pairing.py [--runs 5] [--size 1500] [--repeats 10]

A ``process-pool`` with one worker and chunk size ``auto`` does the serial
loop's work plus a little overhead, so its true speedup is at most about 1.
Each run measures that cell with the suite's own protocol (paired serial
baselines, order-statistic 95% interval) and reports whether the interval
contains a value within 5% of 1.0, as it must on any machine. For contrast
it also prints what the old protocol would have shown: the serial cell's
median from the first round against the pool's median from the last rounds.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bench  # noqa: E402
from bench.data import stats  # noqa: E402

TOLERANCE = 0.05


def measure_once(size: int, repeats: int) -> dict[str, float | bool | list[float]]:
    matrix = bench.Matrix(
        executors=("process-pool",), workers=(1,), chunksizes=("auto",), sizes=(size,), repeats=repeats
    )
    [record] = bench.sweep(matrix).cells
    if not record.ok or record.baseline_s is None:
        raise RuntimeError(f"the cell failed: {record.error or record.baseline_error}")
    speedup = stats.paired_speedup(record.baseline_s, record.times_s)
    half = len(record.times_s) // 2
    return {
        "speedup": speedup.value,
        "low": speedup.low,
        "high": speedup.high,
        "confidence": speedup.confidence,
        "honest": speedup.low <= 1 + TOLERANCE and speedup.high >= 1 - TOLERANCE,
        "unpaired": stats.median(record.baseline_s[:1]) / stats.median(record.times_s[half:]),
        "baseline_s": record.baseline_s,
        "times_s": record.times_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    print(f"process-pool x1 chunk auto, fibprimes {args.size}, {args.repeats} paired rounds per run")
    honest = 0
    for run in range(1, args.runs + 1):
        result = measure_once(args.size, args.repeats)
        honest += bool(result["honest"])
        print(
            f"run {run}: paired speedup {result['speedup']:.3f}x [{result['low']:.3f}, {result['high']:.3f}] "
            f"({result['confidence']:.1%}); contains a value within 5% of 1.0: {'yes' if result['honest'] else 'NO'}; "
            f"unpaired ratio of medians {result['unpaired']:.3f}x"
        )
    print(f"{honest} of {args.runs} intervals contain a value within 5% of 1.0")
    return 0 if honest == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
