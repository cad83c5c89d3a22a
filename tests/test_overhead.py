"""The harness adds no measurable time (a ratio from one run, never a wall time)."""

import importlib.util

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("overhead", ROOT / "benchmarks" / "overhead.py")
overhead = importlib.util.module_from_spec(spec)
spec.loader.exec_module(overhead)


@pytest.mark.alone  # it measures the machine: by itself
@pytest.mark.slow
def test_serial_harness_matches_a_bare_loop():
    # Samples of about 0.3 s, 15 pairs: the median ratio is steady on a noisy machine.
    # `nox -s overhead` measures this precisely; here a generous bound guards regressions.
    # Only the paired ratio: a burst of load that hits some rounds moves either side's
    # median on its own (seen here: ratio of medians 1.13 while the paired ratio passed).
    # A burst can still cover most of one measurement (seen here: 1.06 while other work
    # ran), so up to three measurements are taken: a real overhead exceeds the bound in all.
    results = []
    for _ in range(3):
        results.append(overhead.measure_overhead(size=1200, rounds=15))
        if results[-1]["median_paired_ratio"] < 1.05:
            break
    assert results[-1]["median_paired_ratio"] < 1.05, [r["median_paired_ratio"] for r in results]
