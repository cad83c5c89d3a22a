"""Compare two sets of results cell by cell, with asv's rule for what counts as a change.

    import bench
    comparison = bench.compare(bench.load("results/a.jsonl"), bench.load("results/b.jsonl"))
    for change in comparison.changes:
        print(change.label, change.verdict, change.text)

A cell of B counts as slower (or faster) than the same cell of A only when
both hold: the ratio of their medians, B / A, is beyond a factor (1.10 by
default), and a two-sided Mann-Whitney U test on the two sets of raw samples
rejects "no difference" at p < 0.002. That is the rule of airspeed velocity
(asv), whose strict level keeps false alarms rare across the many cells of a
sweep. Too few rounds to ever reach that level (fewer than 7 per cell for 7
against 7) are reported as such, never as "no change".

By default the raw times are compared, so a change in the machine's speed
between the runs (drift; or another machine) shows as a change of every cell.
The serial baselines timed in the same rounds as each cell measure that drift;
``relative=True`` compares each cell's paired speedups over its own rounds'
baseline instead, which cancels it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.data import stats
from bench.data.derived import case_baselines
from bench.data.environment import identity
from bench.data.format import factor_text
from bench.data.journal import JournalError, Results
from bench.data.schema import Case, CellKey, CellRecord

__all__ = [
    "ALPHA",
    "FACTOR",
    "BaselineChange",
    "Change",
    "Comparison",
    "ComparisonError",
    "Difference",
    "compare",
    "min_rounds",
]

#: The smallest ratio of medians that counts as a change (asv's default ``--factor``).
FACTOR = 1.10
#: The level below which the two-sided Mann-Whitney U test rejects (asv's ``p_threshold``).
ALPHA = 0.002
#: Verdicts of a change, from the point of view of B.
VERDICTS = ("slower", "faster", "within", "not significant", "too few rounds")


class ComparisonError(JournalError):
    """Two sets of results that cannot be compared (nothing in common)."""


@dataclass(frozen=True)
class Difference:
    """A measure in A and in B, and the verdict of asv's rule on their samples."""

    #: The medians of the compared samples (seconds, or speedups), with their 95% intervals.
    estimate_a: stats.Estimate
    estimate_b: stats.Estimate
    #: How many times slower B is than A: > 1 slower, < 1 faster.
    ratio: float
    #: The two-sided Mann-Whitney U p-value; None when the samples are too few to ever reject.
    p: float | None
    #: One of VERDICTS.
    verdict: str
    factor: float
    #: The ratio with the interval that joins the ends of the two medians' 95% intervals (about 90%).
    interval: stats.Estimate

    @property
    def median_a(self) -> float:
        return self.estimate_a.value

    @property
    def median_b(self) -> float:
        return self.estimate_b.value

    @property
    def text(self) -> str:
        """``1.23x slower``, ``1.10x faster``, ``within 1.10x``, ``not significant`` or ``too few rounds``."""
        if self.verdict == "slower":
            return f"{self.ratio:.2f}x slower"
        if self.verdict == "faster":
            return f"{1 / self.ratio:.2f}x faster"
        if self.verdict == "within":
            return f"within {factor_text(self.factor)}"
        return self.verdict


@dataclass(frozen=True)
class Change(Difference):
    """One cell measured in both A and B, and what changed."""

    a: CellRecord
    b: CellRecord
    #: ``time``: raw times compared; ``speedup``: paired speedups over the serial baseline.
    measure: str

    @property
    def label(self) -> str:
        return self.a.label()


@dataclass(frozen=True)
class BaselineChange(Difference):
    """The serial baseline of one case (workload, size, params) in A and in B: the machine's drift."""

    case: str


@dataclass
class Comparison:
    """Every cell of A and B, matched by the cell key."""

    a: Results
    b: Results
    factor: float
    alpha: float
    relative: bool
    #: The gate: a significant slowdown by more than this fraction fails (0.05 for 5%; 0: any counted one).
    fail_above: float = 0.0
    changes: list[Change] = field(default_factory=list)
    baselines: list[BaselineChange] = field(default_factory=list)
    only_a: list[CellRecord] = field(default_factory=list)
    only_b: list[CellRecord] = field(default_factory=list)
    #: In both, but not ok in at least one (skipped, error, timeout): (A's record, B's record).
    not_compared: list[tuple[CellRecord, CellRecord]] = field(default_factory=list)
    #: What differs between the environments of A and B: field -> (A's values, B's values).
    differences: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def same_runs(self) -> bool:
        """A and B are the same records: nothing can differ."""
        same = {run.run_id for run in self.a.runs} == {run.run_id for run in self.b.runs}
        return same and all(c.a.times_s == c.b.times_s for c in self.changes)

    @property
    def gating(self) -> list[Change]:
        """The changes a gate judges: all, or with ``relative`` those compared by their paired speedups
        (the serial cells' times carry the machine's drift, as the baselines do)."""
        return [c for c in self.changes if not self.relative or c.measure == "speedup"]

    @property
    def testable(self) -> list[Change]:
        """The changes with enough rounds for the test to reject."""
        return [c for c in self.changes if c.p is not None]

    def count(self, verdict: str) -> int:
        return sum(change.verdict == verdict for change in self.changes)

    @property
    def broken(self) -> list[tuple[CellRecord, CellRecord]]:
        """Cells ok in A that failed (error or timeout) in B."""
        return [(a, b) for a, b in self.not_compared if a.ok and b.failed]

    def failures(self) -> list[Change]:
        """Changes that fail the gate: significantly slower by more than ``fail_above``."""
        return [c for c in self.gating if c.verdict == "slower" and c.ratio > 1 + self.fail_above]


def _cells(results: Results) -> dict[CellKey, CellRecord]:
    found: dict[CellKey, CellRecord] = {}
    for cell in results.cells:  # a later run's record of the same cell wins, as in a resumed run
        found[cell.key] = cell
    return found


def _verdict(
    a: Sequence[float], b: Sequence[float], ratio: float, factor: float, alpha: float
) -> tuple[float | None, str]:
    """(p, verdict) of B's samples against A's, ``ratio`` being B / A (> 1: B slower)."""
    if not stats.separable(len(a), len(b), alpha, two_sided=True):
        return None, "too few rounds"
    p = stats.mann_whitney(b, a)
    if p >= alpha:
        return p, "not significant"
    if ratio > factor:
        return p, "slower"
    if ratio < 1 / factor:
        return p, "faster"
    return p, "within"


def _difference(
    a: Sequence[float], b: Sequence[float], *, speedups: bool, factor: float, alpha: float
) -> dict[str, Any]:
    """The fields of a Difference between samples ``a`` and ``b``: times, where higher is slower, or
    speedups, where lower is."""
    estimate_a, estimate_b = stats.median_ci(a), stats.median_ci(b)
    # how many times slower B is: B / A for times, A / B for speedups
    numerator, denominator = (estimate_a, estimate_b) if speedups else (estimate_b, estimate_a)
    interval = stats.ratio(numerator, denominator)  # samples are positive (records.SAMPLE_RANGE)
    ratio = interval.value
    p, verdict = _verdict(a, b, ratio, factor, alpha)
    return {
        "estimate_a": estimate_a,
        "estimate_b": estimate_b,
        "ratio": ratio,
        "p": p,
        "verdict": verdict,
        "factor": factor,
        "interval": interval,
    }


def _change(a: CellRecord, b: CellRecord, factor: float, alpha: float, relative: bool) -> Change:
    if relative and a.ratios and b.ratios:
        samples: list[Sequence[float]] = [a.ratios, b.ratios]
        measure = "speedup"
    else:
        samples, measure = [a.times_s, b.times_s], "time"
    fields = _difference(*samples, speedups=measure == "speedup", factor=factor, alpha=alpha)
    return Change(**fields, a=a, b=b, measure=measure)


def _baseline_samples(cells: Sequence[CellRecord]) -> dict[Case, tuple[str, list[float]]]:
    """Per case: its label and its serial baseline samples, each round once (``bench.data.derived``)."""
    labels = {cell.case: cell.case_label() for cell in reversed(cells)}
    return {case: (labels[case], samples) for case, samples in case_baselines(cells).items()}


def _baselines(a: Sequence[CellRecord], b: Sequence[CellRecord], factor: float, alpha: float) -> list[BaselineChange]:
    samples_a, samples_b = _baseline_samples(a), _baseline_samples(b)
    found = []
    for case, (label, values_a) in samples_a.items():
        if case not in samples_b:
            continue
        fields = _difference(values_a, samples_b[case][1], speedups=False, factor=factor, alpha=alpha)
        found.append(BaselineChange(**fields, case=label))
    return found


def _environments(results: Results) -> dict[str, str]:
    """Each field of the environments of every run (resumed parts included), and the timed packages."""
    values: dict[str, set[str]] = {}
    for env in [run.env for run in results.runs] + [resume.env for resume in results.resumes]:
        for name, value in identity(env).items():
            values.setdefault(name, set()).add("unknown" if value in (None, "") else str(value))
    return {name: ", ".join(sorted(found)) for name, found in values.items()}


def compare(
    a: Results,
    b: Results,
    *,
    factor: float = FACTOR,
    alpha: float = ALPHA,
    relative: bool = False,
    fail_above: float = 0.0,
) -> Comparison:
    """B against A, cell by cell (matched by the cell key), with asv's rule (:func:`rule`).

    ``relative``: compare paired speedups over the serial baseline instead of raw times, where both
    cells have them. ``fail_above``: the gate of :meth:`Comparison.failures` (0.05 for 5%); a gate
    below the factor lowers the factor to ``1 + fail_above``, so that such slowdowns count (the
    comparison's ``factor`` says which was used). Raises ComparisonError when A and B have no cell in common.
    """
    if not factor > 1:
        raise ValueError(f"the factor must be above 1, not {factor}")
    if not fail_above >= 0:
        raise ValueError(f"the gate must be 0 or more, not {fail_above}")
    if fail_above > 0 and 1 + fail_above < factor:
        factor = 1 + fail_above
    cells_a, cells_b = _cells(a), _cells(b)
    common = [key for key in cells_a if key in cells_b]
    if not common:
        raise ComparisonError(
            f"no cell in common between {_name(a)} ({len(cells_a)} cells) and {_name(b)} ({len(cells_b)} cells): "
            "they measured different executors, workloads, sizes, chunk sizes, methods or inner threads (cells "
            "recorded before the suite set inner threads match only --threads default)"
        )
    comparison = Comparison(a, b, factor, alpha, relative, fail_above)
    for key in common:
        cell_a, cell_b = cells_a[key], cells_b[key]
        if cell_a.ok and cell_b.ok and cell_a.times_s and cell_b.times_s:
            comparison.changes.append(_change(cell_a, cell_b, factor, alpha, relative))
        else:
            comparison.not_compared.append((cell_a, cell_b))
    comparison.only_a = [cell for key, cell in cells_a.items() if key not in cells_b]
    comparison.only_b = [cell for key, cell in cells_b.items() if key not in cells_a]
    compared = [change.a for change in comparison.changes], [change.b for change in comparison.changes]
    comparison.baselines = _baselines(*compared, factor, alpha)
    env_a, env_b = _environments(a), _environments(b)
    comparison.differences = {
        name: (env_a.get(name, "unknown"), env_b.get(name, "unknown"))
        for name in dict.fromkeys([*env_a, *env_b])
        if env_a.get(name) != env_b.get(name)
    }
    return comparison


def _name(results: Results) -> str:
    if results.path is not None:
        return str(results.path)
    return ", ".join(run.run_id for run in results.runs) or "results"


def min_rounds(alpha: float = ALPHA) -> int:
    """The fewest rounds, the same in A and B, with which the two-sided test can reject at ``alpha``."""
    rounds = 1
    while not stats.separable(rounds, rounds, alpha, two_sided=True):
        rounds += 1
    return rounds
