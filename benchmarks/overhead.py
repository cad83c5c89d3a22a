"""How much time does the harness add? Serial executor vs a bare loop.

    python benchmarks/overhead.py [--size 2000] [--rounds 15]

Each round times the bare loop ``[w.task(x) for x in w.items(size)]`` and
one harness sample of the serial executor (``bench.measuring.measure.time_run``, the
function every sweep uses to take a sample) back to back, alternating which
goes first, so that machine drift hits both alike. Reports the medians, their
ratio and the median of the per-round ratios with its 95% interval.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import workloads  # noqa: E402
from bench.data import stats  # noqa: E402
from bench.executors.local import Serial  # noqa: E402
from bench.measuring.measure import time_run  # noqa: E402
from bench.measuring.plan import Cell  # noqa: E402


def bare_loop(workload: workloads.Workload, size: int) -> float:
    start = time.perf_counter()
    [workload.task(x) for x in workload.items(size)]
    return time.perf_counter() - start


def measure_overhead(size: int, rounds: int) -> dict[str, float | list[float]]:
    """Interleaved samples of both; returns them with their medians and ratios."""
    workload = workloads.get("fibprimes")
    cell = Cell("serial", 1, "fibprimes", size, 1, "n/a", (("order", "ascending"),), items=size)
    bare, harness = [], []
    with Serial(1) as pool:
        time_run(pool, cell), bare_loop(workload, size)  # warm-up
        for round_ in range(rounds):
            if round_ % 2:
                bare.append(bare_loop(workload, size))
                harness.append(time_run(pool, cell)[0])
            else:
                harness.append(time_run(pool, cell)[0])
                bare.append(bare_loop(workload, size))
    pairs = [h / b for h, b in zip(harness, bare, strict=True)]
    return {
        "bare_s": bare,
        "harness_s": harness,
        "bare_median_s": stats.median(bare),
        "harness_median_s": stats.median(harness),
        "ratio_of_medians": stats.median(harness) / stats.median(bare),
        "median_paired_ratio": stats.median(pairs),
        "paired_ratio": stats.median_ci(pairs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    result = measure_overhead(args.size, args.rounds)
    print(f"fibprimes size {args.size}, {args.rounds} interleaved rounds")
    print(f"bare loop        median {result['bare_median_s']:.4f} s")
    print(f"serial harness   median {result['harness_median_s']:.4f} s")
    paired = result["paired_ratio"]
    print(
        f"harness / bare   {result['ratio_of_medians']:.4f} (ratio of medians), "
        f"{paired.value:.4f} [{paired.low:.4f}, {paired.high:.4f}] "
        f"(median of per-round ratios, {paired.confidence:.1%} interval)"
    )


if __name__ == "__main__":
    main()
