"""Pure functions over raw timing samples (never stored instead of them).

A speedup is a *paired* statistic: each timed round of a cell also times the
serial baseline of its case next to it, and the speedup is the median of the
per-round ratios ``baseline / time``. Ratios of samples taken seconds apart
are stable on a drifting machine; ratios of medians taken minutes apart are
not.

Intervals of a median are distribution-free: the order statistics
``[x_(k), x_(n-k+1)]`` cover the true median with probability
``1 - 2 * P(Binomial(n, 1/2) <= k - 1)``, whatever the distribution of the
samples. A 95% interval of that kind first exists at 6 samples; with fewer,
the widest one available, ``[min, max]``, is returned with the (lower)
confidence it really has, so that no consumer can mistake it for 95%.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "LEVEL",
    "CellStats",
    "Estimate",
    "Summary",
    "cell_stats",
    "efficiency",
    "median",
    "median_ci",
    "min_samples",
    "paired_ratios",
    "paired_speedup",
    "precise_enough",
    "summarize",
]

#: The confidence level of every interval the suite reports.
LEVEL = 0.95


@dataclass(frozen=True)
class Summary:
    """Location and spread of one cell's samples, in seconds."""

    n: int
    median: float
    mean: float
    stdev: float
    minimum: float
    maximum: float
    iqr: float


def _values(samples: Sequence[float]) -> np.ndarray:
    values = np.asarray(samples, dtype=float)
    if values.size == 0:
        raise ValueError("no samples")
    return values


def summarize(samples: Sequence[float]) -> Summary:
    values = _values(samples)
    q1, q3 = np.percentile(values, [25, 75])
    return Summary(
        n=int(values.size),
        median=float(np.median(values)),
        mean=float(values.mean()),
        stdev=float(values.std(ddof=1)) if values.size > 1 else 0.0,
        minimum=float(values.min()),
        maximum=float(values.max()),
        iqr=float(q3 - q1),
    )


def median(samples: Sequence[float]) -> float:
    return float(np.median(_values(samples)))


@dataclass(frozen=True)
class Estimate:
    """A point estimate with an interval and the confidence that interval really has."""

    value: float
    low: float
    high: float
    #: Coverage of ``[low, high]``; below ``LEVEL`` when there were too few samples.
    confidence: float
    n: int

    @property
    def relative_half_width(self) -> float:
        """Half the interval's width as a fraction of the value (0.03 is +-3%)."""
        return (self.high - self.low) / 2 / abs(self.value) if self.value else float("inf")

    @property
    def at_level(self) -> bool:
        """True when the interval reaches the suite's confidence level."""
        return self.confidence >= LEVEL

    def above(self, threshold: float) -> bool:
        """True when the whole interval lies above ``threshold``."""
        return self.low > threshold

    def scaled(self, factor: float) -> Estimate:
        return Estimate(self.value * factor, self.low * factor, self.high * factor, self.confidence, self.n)


def _coverage(n: int, ks: np.ndarray) -> np.ndarray:
    """Confidence that ``[x_(k), x_(n-k+1)]`` (1-based) contains the true median, for each k."""
    from scipy.stats import binom  # imported when needed: it costs every MPI rank a second of CPU

    return np.asarray(np.maximum(1.0 - 2.0 * binom.cdf(ks - 1, n, 0.5), 0.0), dtype=float)


def min_samples(level: float = LEVEL) -> int:
    """The fewest samples for which a distribution-free interval of a median reaches ``level``.

    The widest interval, ``[min, max]``, covers ``1 - 2 ** (1 - n)``.
    """
    return max(1, math.ceil(1 - math.log2(1 - level)))


def median_ci(samples: Sequence[float], level: float = LEVEL) -> Estimate:
    """The median with the narrowest order-statistic interval of at least ``level`` confidence.

    With too few samples for ``level``, the interval is ``[min, max]`` and
    ``confidence`` says what it really covers (75% for 3 samples).
    """
    values = np.sort(_values(samples))
    n = int(values.size)
    ks = np.arange(1, (n + 1) // 2 + 1)
    coverage = _coverage(n, ks)  # falls as k grows: the narrowest interval is the last one at level
    i = int(np.flatnonzero(coverage >= level).max(initial=0))
    k = int(ks[i])
    return Estimate(
        value=float(np.median(values)),
        low=float(values[k - 1]),
        high=float(values[n - k]),
        confidence=float(coverage[i]),
        n=n,
    )


def paired_ratios(baseline: Sequence[float], samples: Sequence[float]) -> np.ndarray:
    """Per-round speedups ``baseline[i] / samples[i]`` of samples taken side by side."""
    base, times = _values(baseline), _values(samples)
    if base.shape != times.shape:
        raise ValueError(f"{base.size} baseline samples cannot pair with {times.size} samples")
    if (times <= 0).any() or (base <= 0).any():
        raise ValueError("samples must be positive durations")
    return np.asarray(base / times, dtype=float)


def paired_speedup(baseline: Sequence[float], samples: Sequence[float], level: float = LEVEL) -> Estimate:
    """How many times faster ``samples`` are than their paired ``baseline``: the median per-round ratio."""
    return median_ci(paired_ratios(baseline, samples).tolist(), level)


def efficiency(speedup: Estimate, workers: int) -> Estimate:
    """Parallel efficiency: speedup per worker (1.0 is perfect scaling), with the same interval."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    return speedup.scaled(1.0 / workers)


def precise_enough(estimate: Estimate, precision: float, level: float = LEVEL) -> bool:
    """The stopping rule of ``repeats="auto"``: a real ``level`` interval within +-``precision``."""
    return estimate.confidence >= level and estimate.relative_half_width <= precision


@dataclass(frozen=True)
class CellStats:
    """What the suite shows of one cell, all from its raw samples."""

    time: Estimate
    #: None without a paired baseline (serial cells, old journals, a failed baseline).
    speedup: Estimate | None
    efficiency: Estimate | None

    @property
    def suspicious(self) -> bool:
        """The whole efficiency interval above 100%: a 1-worker pool beat the serial loop it stands
        in for, or more workers scaled superlinearly; either way the data need a second look.
        One pair has no interval, so it cannot be judged."""
        return self.efficiency is not None and self.efficiency.n > 1 and self.efficiency.above(1.0)

    @property
    def estimate(self) -> Estimate:
        """The statistic a cell's precision is judged on: its speedup, else its time."""
        return self.speedup if self.speedup is not None else self.time


def cell_stats(times_s: Sequence[float], baseline_s: Sequence[float] | None, workers: int) -> CellStats:
    """Median time, paired speedup and efficiency of one cell, each with its interval."""
    time = median_ci(times_s)
    if not baseline_s:
        return CellStats(time, None, None)
    speedup = paired_speedup(baseline_s, times_s)
    return CellStats(time, speedup, efficiency(speedup, workers))
