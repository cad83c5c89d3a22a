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

from bench.data.format import duration_text

__all__ = [
    "LEVEL",
    "CellStats",
    "Estimate",
    "Metg",
    "Slope",
    "Summary",
    "cell_stats",
    "efficiency",
    "karp_flatt",
    "median",
    "mann_whitney",
    "median_ci",
    "metg",
    "min_samples",
    "outliers",
    "paired_ratios",
    "paired_speedup",
    "precise_enough",
    "ratio",
    "separable",
    "significantly_greater",
    "slower_p",
    "slope",
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
    #: Samples outside ``[q1 - 1.5 IQR, q3 + 1.5 IQR]`` (Tukey's fences), in sample order.
    outliers: tuple[float, ...] = ()


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
        outliers=tuple(outliers(values.tolist())),
    )


def outliers(samples: Sequence[float]) -> list[float]:
    """The samples outside Tukey's fences ``[q1 - 1.5 IQR, q3 + 1.5 IQR]``, in sample order."""
    values = _values(samples)
    q1, q3 = np.percentile(values, [25, 75])
    low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    return [float(v) for v in values if v < low or v > high]


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


#: Sample counts up to which the binomial tail of :func:`_coverage` is summed exactly, in integers.
EXACT_TAIL_MOST = 2000


def _coverage(n: int, ks: np.ndarray) -> np.ndarray:
    """Confidence that ``[x_(k), x_(n-k+1)]`` (1-based) contains the true median, for each k:
    ``1 - 2 P(Binomial(n, 1/2) <= k - 1)``.

    Up to :data:`EXACT_TAIL_MOST` samples the tail is a sum of binomial coefficients, exact, in
    integers; importing ``scipy.stats`` for it would cost every command that prints a median, and every
    MPI rank, about a second. Beyond, scipy's ``binom.cdf``.
    """
    if n > EXACT_TAIL_MOST:
        from scipy.stats import binom

        return np.asarray(np.maximum(1.0 - 2.0 * binom.cdf(ks - 1, n, 0.5), 0.0), dtype=float)
    tails, total = [], 0
    for i in range(int(ks.max(initial=0))):
        total += math.comb(n, i)
        tails.append(total)
    whole = 2**n
    return np.array([max(1.0 - 2.0 * (tails[k - 1] / whole), 0.0) for k in ks], dtype=float)


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


#: Draws of the two-stage bootstrap of :func:`blocked_median_ci` (its interval's ends move by about 1% of
#: the half-width from one set of draws to another); the draws are seeded, so a journal gives one answer.
BLOCK_DRAWS = 2000
BLOCK_SEED = 20130


def blocks_of(count: int, blocks: Sequence[int] | None) -> list[int]:
    """The sizes of the consecutive blocks ``count`` samples were measured in: ``blocks`` where they add up
    to ``count``, else one block of them all."""
    sizes = [int(size) for size in blocks or () if size > 0]
    return sizes if sizes and sum(sizes) == count else [count]


def blocked_median_ci(samples: Sequence[float], blocks: Sequence[int] | None, level: float = LEVEL) -> Estimate:
    """The median of samples measured in blocks (``blocks[i]`` consecutive samples each, every block on a
    fresh executor instance at another moment of the run), with an interval for the machine rather than for
    one block's moment.

    Samples of one block share the machine's state of those seconds (a core's speed, where an instance's
    workers landed), so they are not independent, and an order-statistic interval over them all is too
    narrow. A two-stage bootstrap (Kalibera and Jones, "Rigorous benchmarking in reasonable time", 2013)
    draws blocks with replacement, then samples within each drawn block, and takes each draw's median; the
    interval is the draws' percentile interval, in logs, widened by sqrt(B / (B - 1)) for the
    between-block spread that B blocks underestimate, and never narrower than :func:`median_ci`'s. One
    block, or too few samples for ``level``: :func:`median_ci`."""
    values = _values(samples)
    sizes = blocks_of(int(values.size), blocks)
    plain = median_ci(samples, level)
    if len(sizes) < 2 or plain.confidence < level or (values <= 0).any():
        return plain
    starts = np.cumsum([0, *sizes[:-1]])
    counts = np.asarray(sizes)
    most = int(counts.max())
    rng = np.random.default_rng(BLOCK_SEED)
    chosen = rng.integers(0, len(sizes), size=(BLOCK_DRAWS, len(sizes)))  # blocks, with replacement
    n = counts[chosen][..., None]  # each drawn block's size
    within = np.floor(rng.random((BLOCK_DRAWS, len(sizes), most)) * n).astype(int)  # samples within it
    picked = np.where(
        np.arange(most) < n, np.log(values)[starts[chosen][..., None] + np.minimum(within, n - 1)], np.nan
    )
    draws = np.sort(picked.reshape(BLOCK_DRAWS, -1), axis=1)  # each draw's values first, NaN after them
    total = n[..., 0].sum(axis=1)
    rows = np.arange(BLOCK_DRAWS)
    medians = (draws[rows, (total - 1) // 2] + draws[rows, total // 2]) / 2
    centre = math.log(plain.value)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(medians, [tail, 100 - tail])
    widen = math.sqrt(len(sizes) / (len(sizes) - 1))
    return Estimate(
        value=plain.value,
        low=min(plain.low, math.exp(centre - max(centre - float(low), 0.0) * widen)),
        high=max(plain.high, math.exp(centre + max(float(high) - centre, 0.0) * widen)),
        confidence=level,
        n=plain.n,
    )


def paired_ratios(baseline: Sequence[float], samples: Sequence[float]) -> np.ndarray:
    """Per-round speedups ``baseline[i] / samples[i]`` of samples taken side by side."""
    base, times = _values(baseline), _values(samples)
    if base.shape != times.shape:
        raise ValueError(f"{base.size} baseline samples cannot pair with {times.size} samples")
    if (times <= 0).any() or (base <= 0).any():
        raise ValueError("samples must be positive durations")
    return np.asarray(base / times, dtype=float)


def paired_speedup(
    baseline: Sequence[float], samples: Sequence[float], level: float = LEVEL, blocks: Sequence[int] | None = None
) -> Estimate:
    """How many times faster ``samples`` are than their paired ``baseline``: the median per-round ratio
    (measured in ``blocks``: :func:`blocked_median_ci`)."""
    return blocked_median_ci(paired_ratios(baseline, samples).tolist(), blocks, level)


def efficiency(speedup: Estimate, workers: int) -> Estimate:
    """Parallel efficiency: speedup per worker (1.0 is perfect scaling), with the same interval."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    return speedup.scaled(1.0 / workers)


def precise_enough(estimate: Estimate, precision: float, level: float = LEVEL) -> bool:
    """The stopping rule of ``repeats="auto"``: a real ``level`` interval within +-``precision``."""
    return estimate.confidence >= level and estimate.relative_half_width <= precision


def rounds_for(estimate: Estimate, precision: float) -> int:
    """About how many rounds would bring ``estimate``'s interval within +-``precision``, at the spread its
    rounds showed (the half-width falls as one over the square root of the rounds)."""
    width = estimate.relative_half_width
    if not math.isfinite(width) or estimate.n < 1:
        return estimate.n
    return max(estimate.n, math.ceil(estimate.n * (width / precision) ** 2))


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


def cell_stats(
    times_s: Sequence[float], baseline_s: Sequence[float] | None, workers: int, blocks: Sequence[int] | None = None
) -> CellStats:
    """Median time, paired speedup and efficiency of one cell, each with its interval; rounds measured in
    ``blocks`` (their sizes, in order) get intervals that hold across them (:func:`blocked_median_ci`)."""
    time = blocked_median_ci(times_s, blocks)
    if not baseline_s:
        return CellStats(time, None, None)
    speedup = paired_speedup(baseline_s, times_s, blocks=blocks)
    return CellStats(time, speedup, efficiency(speedup, workers))


def ratio(numerator: Estimate, denominator: Estimate) -> Estimate:
    """``numerator / denominator`` of two independent positive estimates.

    The interval joins the extreme ends, ``[n.low / d.high, n.high / d.low]``:
    it holds whenever both intervals hold, so its confidence is at least the
    product of theirs (about 90% for two 95% intervals), which is what it says.
    """
    if denominator.low <= 0 or numerator.low < 0:
        raise ValueError("a ratio needs positive estimates")
    return Estimate(
        value=numerator.value / denominator.value,
        low=numerator.low / denominator.high,
        high=numerator.high / denominator.low,
        confidence=numerator.confidence * denominator.confidence,
        n=min(numerator.n, denominator.n),
    )


def karp_flatt(speedup: Estimate, workers: int) -> Estimate:
    """The experimentally determined serial fraction ``e = (1/S - 1/p) / (1 - 1/p)`` (Karp and Flatt, 1990).

    ``e`` near 0 is perfect scaling; an ``e`` that grows with ``p`` points at
    overhead that grows with the workers rather than at a fixed serial part.
    ``e`` falls as ``S`` rises, so the interval comes from the speedup's ends.
    """
    if workers < 2:
        raise ValueError("the serial fraction needs at least 2 workers")
    if speedup.low <= 0:
        raise ValueError("a serial fraction needs a positive speedup")
    p = float(workers)

    def fraction(s: float) -> float:
        return (1.0 / s - 1.0 / p) / (1.0 - 1.0 / p)

    return Estimate(
        fraction(speedup.value), fraction(speedup.high), fraction(speedup.low), speedup.confidence, speedup.n
    )


def separable(n_a: int, n_b: int, alpha: float = 1 - LEVEL, *, two_sided: bool = False) -> bool:
    """Whether samples of these sizes could ever be told apart at ``alpha`` by a Mann-Whitney U test.

    The smallest one-sided p-value, all of one sample above all of the
    other, is ``1 / C(n_a + n_b, n_a)``: 1/2 for one sample each, 1/20 for 3
    each, 1/924 for 6 each; a two-sided test doubles it. Below that, "not
    significantly different" says nothing.
    """
    if n_a < 1 or n_b < 1:
        return False
    return (2 if two_sided else 1) / math.comb(n_a + n_b, n_a) <= alpha


def mann_whitney(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> float:
    """The p-value of a Mann-Whitney U test of samples ``a`` against ``b``: ``greater`` (``a`` stochastically
    greater), ``less`` or ``two-sided``.

    Distribution-free, like the intervals; exact for small samples without
    ties (scipy's choice). Whether the test could reject at all is :func:`separable`.
    """
    from scipy.stats import mannwhitneyu

    x, y = _values(a), _values(b)
    if np.ptp(np.concatenate([x, y])) == 0:
        return 1.0  # all equal: nothing differs (and the test's variance is zero)
    return float(mannwhitneyu(x, y, alternative=alternative).pvalue)


def significantly_greater(a: Sequence[float], b: Sequence[float], alpha: float = 1 - LEVEL) -> tuple[bool, float]:
    """Whether samples ``a`` are stochastically greater than ``b`` (one-sided Mann-Whitney U), and its p-value."""
    p = mann_whitney(a, b, "greater")
    return p <= alpha, p


def slower_p(a: Sequence[float], b: Sequence[float]) -> float:
    """The p-value that ratios ``a`` are smaller than ratios ``b``: Welch's one-sided t-test on their logarithms.

    Speedups are ratios, so their logarithms are compared; paired ratios vary by about 1% on a drifting
    machine, so a few rounds tell a clearly slower configuration apart, where a rank test of 3 against 3
    never reaches below 1/20. Two constant samples differ with certainty (0) or not at all (1).
    """
    from scipy.stats import ttest_ind

    x, y = np.log(_values(a)), np.log(_values(b))
    if x.size < 2 or y.size < 2:
        return 1.0
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        return 0.0 if x[0] < y[0] else 1.0
    return float(ttest_ind(x, y, equal_var=False, alternative="less").pvalue)


@dataclass(frozen=True)
class Slope:
    """A fitted line ``y = intercept + slope * x`` (Theil-Sen), with the slope's interval."""

    slope: Estimate
    intercept: float
    #: Distinct x values the fit rests on.
    points: int


def slope(x: Sequence[float], y: Sequence[float], level: float = LEVEL) -> Slope:
    """Theil-Sen's line through raw samples: the median of the slopes of all pairs, with Sen's interval.

    Robust to the odd disturbed sample that would tilt a least-squares fit,
    and needs no assumption about the noise. Needs two distinct x values.
    """
    from scipy.stats import theilslopes

    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.shape != ys.shape:
        raise ValueError(f"{xs.size} x values for {ys.size} y values")
    points = int(np.unique(xs).size)
    if points < 2:
        raise ValueError("a slope needs samples at two different x values at least")
    fit = theilslopes(ys, xs, alpha=level)
    estimate = Estimate(float(fit.slope), float(fit.low_slope), float(fit.high_slope), level, int(xs.size))
    return Slope(estimate, float(fit.intercept), points)


@dataclass(frozen=True)
class Metg:
    """Minimum effective task granularity: the shortest task at which efficiency still reaches ``target``.

    ``bound`` says when the value is only a bound: ``"at most"`` (the shortest
    task measured already reached it) or ``"above"`` (none did; ``value_s`` is
    then the longest task measured). ``low_s``/``high_s`` come from the
    efficiency intervals' upper and lower ends; an end beyond the durations
    measured is open: 0 or infinity. ``how`` says how the value was found.
    """

    value_s: float
    low_s: float
    high_s: float
    target: float
    bound: str | None
    how: str


def _crossing(durations: np.ndarray, efficiencies: np.ndarray, target: float) -> tuple[float, str | None, int]:
    """Where efficiency reaches ``target`` and stays there for every longer task (log-linear interpolation)."""
    reached = efficiencies >= target
    if not reached[-1]:
        return float(durations[-1]), "above", len(durations)
    k = len(reached) - 1
    while k > 0 and reached[k - 1]:
        k -= 1
    if k == 0:
        return float(durations[0]), "at most", 0
    d0, d1 = np.log(durations[k - 1]), np.log(durations[k])
    e0, e1 = efficiencies[k - 1], efficiencies[k]
    fraction = (target - e0) / (e1 - e0)
    return float(np.exp(d0 + fraction * (d1 - d0))), None, k


def metg(points: Sequence[tuple[float, Estimate]], target: float = 0.5) -> Metg:
    """METG(``target``) as in Task Bench, from (task duration in seconds, efficiency) points.

    The value is where efficiency reaches ``target`` for good (every longer
    task measured reaches it too), interpolated linearly in log(duration)
    between the two durations either side. The interval repeats that on the
    efficiency intervals' upper ends (shorter tasks suffice) and lower ends.
    """
    if not points:
        raise ValueError("no points")
    ordered = sorted(points, key=lambda point: point[0])
    durations = np.array([d for d, _ in ordered], dtype=float)
    if (durations <= 0).any():
        raise ValueError("task durations must be positive")
    value, bound, k = _crossing(durations, np.array([e.value for _, e in ordered]), target)
    low, low_bound, _ = _crossing(durations, np.array([e.high for _, e in ordered]), target)
    high, high_bound, _ = _crossing(durations, np.array([e.low for _, e in ordered]), target)
    if low_bound == "at most":
        low = 0.0  # open: shorter tasks than any measured may reach the target too
    if high_bound == "above":
        high = math.inf  # open: longer tasks than any measured may be needed
    percent = f"{target:.0%}"
    if bound == "above":
        how = f"no task measured reached {percent} efficiency; the longest took {duration_text(value)}"
    elif bound == "at most":
        how = f"the shortest task measured ({duration_text(value)}) already reached {percent}"
    else:
        (d0, e0), (d1, e1) = ordered[k - 1], ordered[k]
        how = (
            f"interpolated in log(duration) between {duration_text(d0)} ({e0.value:.0%}) "
            f"and {duration_text(d1)} ({e1.value:.0%})"
        )
    return Metg(value, min(low, value), max(high, value), target, bound, how)
