"""Pure functions over raw timing samples (never stored instead of them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Summary", "efficiency", "median", "speedup", "summarize"]


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


def summarize(samples: Sequence[float]) -> Summary:
    values = np.asarray(samples, dtype=float)
    if values.size == 0:
        raise ValueError("no samples")
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
    if len(samples) == 0:
        raise ValueError("no samples")
    return float(np.median(np.asarray(samples, dtype=float)))


def speedup(baseline: Sequence[float], samples: Sequence[float]) -> float:
    """How many times faster ``samples`` are than ``baseline`` (ratio of medians)."""
    return median(baseline) / median(samples)


def efficiency(speedup_value: float, workers: int) -> float:
    """Parallel efficiency: speedup per worker (1.0 is perfect scaling)."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    return speedup_value / workers
