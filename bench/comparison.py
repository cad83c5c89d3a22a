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

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import stats
from bench.metadata import environment
from bench.records import CellKey, CellRecord, chunk_notes
from bench.results import JournalError, Results

__all__ = [
    "ALPHA",
    "FACTOR",
    "BaselineChange",
    "Change",
    "Comparison",
    "ComparisonError",
    "Difference",
    "compare",
    "rule",
]

#: The smallest ratio of medians that counts as a change (asv's default ``--factor``).
FACTOR = 1.10
#: The level below which the two-sided Mann-Whitney U test rejects (asv's ``p_threshold``).
ALPHA = 0.002
#: Verdicts of a change, from the point of view of B.
VERDICTS = ("slower", "faster", "within", "not significant", "too few rounds")


class ComparisonError(JournalError):
    """Two sets of results that cannot be compared (nothing in common)."""


def rule(factor: float = FACTOR, alpha: float = ALPHA) -> str:
    """The rule in words, as the command line and the README state it."""
    return (
        f"a cell counts as slower or faster when the ratio of its medians, B / A, is beyond {factor_text(factor)} and "
        f"a two-sided Mann-Whitney U test on the raw samples of A and B rejects at p < {alpha:g} (asv's rule)"
    )


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


def _key(cell: CellRecord) -> CellKey:
    """The cell key, with a registered workload's parameters completed with their defaults (a cell
    recorded before the workload gained a parameter is the same cell); a user's file is never imported."""
    import workloads
    from bench.plan import complete_key

    return complete_key(cell.key) if cell.workload in workloads.names() else cell.key


def _cells(results: Results) -> dict[CellKey, CellRecord]:
    found: dict[CellKey, CellRecord] = {}
    for cell in results.cells:  # a later run's record of the same cell wins, as in a resumed run
        found[_key(cell)] = cell
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
    if relative and a.paired and b.paired:
        samples: list[Sequence[float]] = [stats.paired_ratios(c.baseline_s or [], c.times_s).tolist() for c in (a, b)]
        measure = "speedup"
    else:
        samples, measure = [a.times_s, b.times_s], "time"
    fields = _difference(*samples, speedups=measure == "speedup", factor=factor, alpha=alpha)
    return Change(**fields, a=a, b=b, measure=measure)


def _baseline_samples(cells: Sequence[CellRecord]) -> dict[tuple[Any, ...], tuple[str, list[float]]]:
    """Per case (workload, size, completed params): its label and the serial baseline samples of its
    paired cells, each instance's rounds once.

    The cells of one executor instance share their rounds' baselines; one that ran fewer rounds
    (``--repeats auto``, a cell cut short) holds a part of them, so the longest list stands for all.
    """
    longest: dict[tuple[Any, ...], list[float]] = {}
    labels: dict[tuple[Any, ...], str] = {}
    for cell in cells:
        if not (cell.ok and cell.paired and cell.baseline_s):
            continue
        key = _key(cell)
        case = (key[2], key[3], key[5])
        labels.setdefault(case, cell.case_label())
        mark = (case, cell.run_id, cell.instance)
        if len(cell.baseline_s) > len(longest.get(mark, [])):
            longest[mark] = list(cell.baseline_s)
    samples: dict[tuple[Any, ...], tuple[str, list[float]]] = {}
    for (case, _, _), values in longest.items():
        samples.setdefault(case, (labels[case], []))[1].extend(values)
    return samples


def _baselines(a: Sequence[CellRecord], b: Sequence[CellRecord], factor: float, alpha: float) -> list[BaselineChange]:
    samples_a, samples_b = _baseline_samples(a), _baseline_samples(b)
    found = []
    for case, (label, values_a) in samples_a.items():
        if case not in samples_b:
            continue
        fields = _difference(values_a, samples_b[case][1], speedups=False, factor=factor, alpha=alpha)
        found.append(BaselineChange(**fields, case=label))
    return found


#: Package versions that can change timings, named where A and B differ.
TIMED_PACKAGES = ("parallel-bench", "numpy", "dask", "distributed", "dask-jobqueue", "mpi4py", "mpich")


def _environments(results: Results) -> dict[str, str]:
    """Each field of the environments of every run (resumed parts included), and the timed packages."""
    values: dict[str, set[str]] = {}
    for env in [run.env for run in results.runs] + [resume.env for resume in results.resumes]:
        fields = dict(environment(env))
        packages = env.get("packages") if isinstance(env.get("packages"), dict) else {}
        fields.update({name: packages.get(name) for name in TIMED_PACKAGES if packages})
        for name, value in fields.items():
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


# -- what a person reads ------------------------------------------------------

#: Cells named in a list before "and N more".
SHOWN = 8


def factor_text(factor: float) -> str:
    """``1.1x``, ``1.05x``."""
    return f"{factor:g}x"


def _run_line(name: str, results: Results) -> str:
    runs = []
    for run in results.runs:
        env = run.env
        commit = str(env.get("git_commit") or "")[:7]
        text = f"run {run.run_id} started {run.started} on {env.get('hostname') or 'an unknown host'}"
        if commit:
            text += f", commit {commit}{' (dirty)' if env.get('git_dirty') else ''}"
        runs.append(text)
    where = ", ".join(map(str, results.paths)) or "in memory"
    return f"{name}: {where}: {'; '.join(runs)}"


def header(comparison: Comparison) -> list[str]:
    """What is compared with what, under which rule; first, whether the environments differ, and
    whether either machine was busy."""
    from bench.cpuload import busy_line, steal_line

    lines = []
    if comparison.differences:
        what = "; ".join(f"{name} {a} vs {b}" for name, (a, b) in comparison.differences.items())
        lines.append(f"A and B come from different environments ({what}): their cells may differ for that alone.")
    for name, results in (("A", comparison.a), ("B", comparison.b)):
        for line in (busy_line(results.cells), steal_line(results.cells)):
            if line:
                lines.append(f"Warning: in {name}, {line}.")
    lines += [_run_line("A", comparison.a), _run_line("B", comparison.b)]
    if comparison.same_runs:
        lines.append("A and B hold the same run: nothing can differ.")
    lines.append(f"Rule: {rule(comparison.factor, comparison.alpha)}.")
    if comparison.relative:
        lines.append(
            "Cells are compared by their paired speedups over the serial baseline of their own rounds, which "
            "cancels the machine's drift. Serial cells and unpaired ones are compared by their times, which carry "
            "that drift as the baselines do: they are shown, and not judged as slower or faster by the gate."
        )
    return lines


def _value(change: Change, value: float) -> str:
    return f"{value:.2f}x" if change.measure == "speedup" else stats.duration_text(value)


def _value_interval(change: Change, estimate: stats.Estimate) -> str:
    """A median with its 95% interval, for the Markdown table (which has room for it)."""
    if change.measure == "speedup":
        return stats.ratio_text(estimate, "x") + stats.coverage_text(estimate)
    return stats.duration_interval(estimate)


def p_text(p: float | None) -> str:
    """``0.23``, ``0.04``, ``1e-3``: at most four characters, rounded down, so that the text compares with
    the level (0.002) as the value does."""
    if p is None:
        return "-"
    if p >= 0.01:
        return f"{math.floor(p * 100) / 100:.2f}"
    if p <= 0:
        return "0"
    exponent = math.floor(math.log10(p))
    return f"{math.floor(p / 10**exponent + 1e-9)}e{exponent}"


def ratio_text(difference: Difference) -> str:
    """The ratio with its interval, and the interval's coverage where it is below the usual (about 90%)."""
    usual = stats.LEVEL**2 - 1e-9
    coverage = f" ({difference.interval.confidence:.0%})" if difference.interval.confidence < usual else ""
    return stats.ratio_text(difference.interval) + coverage


def rows(comparison: Comparison, intervals: bool = False) -> list[dict[str, str]]:
    """One row per cell in both A and B: its case, executor, chunk, method, A, B (medians, with their 95%
    intervals when ``intervals``), the ratio, p and verdict."""

    found = []
    for change in comparison.changes:
        if intervals:
            a, b = (_value_interval(change, estimate) for estimate in (change.estimate_a, change.estimate_b))
        else:
            a, b = _value(change, change.median_a), _value(change, change.median_b)
        found.append(
            {
                "case": change.a.case_label(),
                "executor": change.a.executor_label(),
                "chunk": change.a.chunk_label(short=True) or "-",
                "method": change.a.method,
                "a": a,
                "b": b,
                "ratio": ratio_text(change),
                "p": p_text(change.p),
                "verdict": change.text,
            }
        )
    return found


def _listed(labels: Sequence[str]) -> str:
    shown = ", ".join(labels[:SHOWN])
    return shown + (f" and {len(labels) - SHOWN} more" if len(labels) > SHOWN else "")


def notes(comparison: Comparison) -> list[str]:
    """The serial baselines, the cells that were not compared (only in one, or not ok), and what the
    columns mean."""
    found = []
    for base in comparison.baselines:
        moved = base.verdict in ("slower", "faster")
        found.append(
            f"Serial baseline of {base.case}: {stats.duration_text(base.median_a)} in A, "
            f"{stats.duration_text(base.median_b)} in B, B/A {ratio_text(base)}: {base.text}"
            + (" - the machine ran at another speed, or the workload's own code changed" if moved else "")
            + "."
        )
    few = comparison.count("too few rounds")
    if few:
        found.append(
            f"{few} cell(s) have too few rounds for the test to ever reject at p < {comparison.alpha:g}: "
            f"that takes about {min_rounds(comparison.alpha)} rounds in each of A and B."
        )
    for name, cells in (("A", comparison.only_a), ("B", comparison.only_b)):
        if cells:
            found.append(f"Only in {name}: {len(cells)} cell(s): {_listed([cell.label() for cell in cells])}.")
    skipped = [a for a, b in comparison.not_compared if a.status == b.status == "skipped"]
    if skipped:
        found.append(f"Skipped in both A and B: {len(skipped)} cell(s) (their journals say why).")
    described = [
        f"{a.label()} ({a.status} in A, {b.status} in B)" for a, b in comparison.not_compared if a not in skipped
    ]
    if described:
        found.append(f"Not compared, not ok in A or B: {len(described)} cell(s): {_listed(described)}.")
    threads = _threads_differences(comparison)
    if threads:
        found.append(threads)
    what = "median times, or of the median speedups A / B," if comparison.relative else "median times"
    found.append(
        f"B/A above 1 means B is slower: the ratio of the {what} with the interval that joins the ends of "
        "their 95% intervals (about 90%). p: the two-sided Mann-Whitney U test."
    )
    found += [f"{note}." for note in chunk_notes(change.a.chunksize_spec for change in comparison.changes)]
    return found


def _threads_differences(comparison: Comparison) -> str | None:
    """The cells whose workers' thread pools differ between A and B (threads, library or version)."""
    from bench import threads

    differ = []
    for change in comparison.changes:
        pools_a, pools_b = threads.describe(change.a.threadpools), threads.describe(change.b.threadpools)
        if pools_a and pools_b and pools_a != pools_b:
            differ.append((change.label, pools_a, pools_b))
    if not differ:
        return None
    label, pools_a, pools_b = differ[0]
    more = f" ({len(differ) - 1} more cells differ too)" if len(differ) > 1 else ""
    return (
        f"Thread pools differ in {len(differ)} cell(s): {label} had {pools_a} in A, {pools_b} in B{more}: "
        "their times may differ for that alone."
    )


def min_rounds(alpha: float = ALPHA) -> int:
    """The fewest rounds, the same in A and B, with which the two-sided test can reject at ``alpha``."""
    rounds = 1
    while not stats.separable(rounds, rounds, alpha, two_sided=True):
        rounds += 1
    return rounds


def summary(comparison: Comparison) -> str:
    """``111 cell(s) in both, 111 tested: 2 slower, 1 faster, ...``."""
    counts = [
        f"{comparison.count(verdict)} {verdict if verdict != 'within' else 'within ' + factor_text(comparison.factor)}"
        for verdict in VERDICTS
        if comparison.count(verdict)
    ]
    tested = len(comparison.testable)
    return f"{len(comparison.changes)} cell(s) in both, {tested} tested: {', '.join(counts) or 'none'}."


def markdown(comparison: Comparison, verdict_lines: Sequence[str] = ()) -> str:
    """The comparison as Markdown for a pull request: the header, one table, the notes and ``verdict_lines``."""
    from bench.markdown import escape

    def text(value: str) -> str:
        return escape(value, markup=True)

    lines = [f"### {text(summary(comparison))}", ""]
    lines += [f"{text(line)}  " for line in header(comparison)]
    lines += ["", "| workload | executor | chunk | method | A | B | B/A | p | verdict |"]
    lines.append("|---|---|---:|---|---:|---:|---:|---:|---|")
    for row in rows(comparison, intervals=True):
        verdict = text(row["verdict"])
        if row["verdict"].endswith(("slower", "faster")):
            verdict = f"**{verdict}**"
        named = [text(row[key]) for key in ("case", "executor", "chunk", "method")]  # from the journals
        measured = [escape(row[key]) for key in ("a", "b", "ratio", "p")]
        lines.append("| " + " | ".join(named + measured) + f" | {verdict} |")
    lines.append("")
    lines += [f"- {text(note)}" for note in notes(comparison)]
    if verdict_lines:
        lines += [""] + [f"**{text(line)}**  " for line in verdict_lines]
    return "\n".join(lines) + "\n"
