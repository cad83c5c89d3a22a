"""``compare``: two sets of journals, cell by cell, as text or Markdown, with a CI gate."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape as markup_escape
from rich.table import Table

from bench.analysis.compare import ALPHA, FACTOR, VERDICTS, Change, Comparison, Difference, min_rounds
from bench.cli.common import UsageError, factor, make_console, percentage, print_note
from bench.data import stats
from bench.data.format import (
    coverage_text,
    duration_interval,
    duration_text,
    escape,
    factor_text,
    method_label,
    p_text,
    ratio_text,
)
from bench.data.journal import JournalError, Results, load
from bench.data.schema import chunk_notes


def add_compare_parser(commands: Any) -> None:

    compare = commands.add_parser(
        "compare",
        help="compare two journals cell by cell, with a significance test",
        description=(
            "Compare journal B against journal A, cell by cell (cells are matched by executor, workers, workload, "
            f"size, parameters, chunk size and method). Rule: {rule(FACTOR, ALPHA)}; the test needs about 7 "
            "rounds per cell in each journal (the quick preset runs 8). Journals of different machines are "
            "compared, and the output says so first. The serial baselines timed in each round show whether "
            "the machine itself ran at another speed."
        ),
        epilog="exit status: 0 no cell significantly slower by more than --fail-above; 1 some cell is, or a cell "
        "ok in A failed in B; 2 bad input, or no cell with enough rounds to test",
    )
    compare.add_argument("a", metavar="A", help="the journal compared against (the reference, e.g. main)")
    compare.add_argument("b", metavar="B", help="the journal to judge (e.g. a pull request's)")
    compare.add_argument(
        "--fail-above",
        type=percentage,
        metavar="P",
        help="exit 1 when a cell is significantly slower by more than P (such as 5%%); default: any cell counted "
        "slower. A P below the factor lowers the factor to 1 + P",
    )
    compare.add_argument(
        "--factor",
        type=factor,
        default=FACTOR,
        metavar="F",
        help=f"the smallest ratio of medians that counts as a change ({FACTOR:.2f}, asv's default)",
    )
    compare.add_argument(
        "--relative",
        action="store_true",
        help="compare each cell's paired speedups over the serial baseline of its own rounds instead of its raw "
        "times: cancels the machine's drift between the runs, and no longer sees a change of the serial code "
        "(serial cells are then shown by their times, and not gated)",
    )
    compare.add_argument(
        "--format",
        choices=("text", "md"),
        default="text",
        help="text (default) or md: a Markdown table for a pull request",
    )
    compare.set_defaults(handler=cmd_compare, command="compare")


def cmd_compare(args: argparse.Namespace) -> int:
    from bench.analysis.compare import compare

    try:
        a, b = load(args.a), load(args.b)
        comparison = compare(a, b, factor=args.factor, relative=args.relative, fail_above=args.fail_above or 0.0)
    except JournalError as exc:
        raise UsageError(str(exc)) from None
    hints = []
    if comparison.factor < args.factor:  # a slowdown above the gate can then count
        hints.append(
            f"--fail-above {args.fail_above * 100:g}% lowers the factor from {factor_text(args.factor)} "
            f"to {factor_text(comparison.factor)}."
        )
    failures = comparison.failures()
    lines = []
    by_more = f" by more than {args.fail_above * 100:g}%" if args.fail_above else ""
    if failures:
        listed = ", ".join(f"{c.label} ({change_ratio_text(c)}, p {p_text(c.p)})" for c in failures)
        lines.append(f"FAIL: {len(failures)} cell(s) significantly slower{by_more}: {listed}")
    if comparison.broken:
        listed = ", ".join(
            f"{b.label()} ({b.status}: {(b.error or '').splitlines()[0] if b.error else ''})"
            for _, b in comparison.broken
        )
        lines.append(f"FAIL: {len(comparison.broken)} cell(s) ok in A failed in B: {listed}")
    untested = not comparison.testable
    if not lines and not untested:
        lines.append(f"OK: no cell significantly slower{by_more}.")
    hints += _compare_hints(comparison)
    if args.format == "md":
        print(markdown(comparison, [*hints, *lines]), end="")
    else:
        print_comparison(make_console(), comparison, [*hints, *lines])
    if failures or comparison.broken:
        return 1
    if untested:
        raise UsageError(
            f"no cell of the {len(comparison.changes)} in both has enough rounds to be tested "
            f"(about {min_rounds()} in each journal): nothing to judge"
        )
    return 0


def _compare_hints(comparison: Any) -> list[str]:
    """What the options could change about what the data cannot tell."""
    hints = []
    moved = [base.case for base in comparison.baselines if base.verdict in ("slower", "faster")]
    if moved and not comparison.relative:
        hints.append(
            f"The serial baseline moved ({', '.join(moved)}): raw times carry that. --relative compares paired "
            "speedups instead, which cancel the machine's drift."
        )
    if comparison.count("too few rounds"):
        hints.append("Measure with --repeats 8 or more (or the quick preset) to compare those cells.")
    return hints


def rule(factor: float = FACTOR, alpha: float = ALPHA) -> str:
    """The rule in words, as the command line and the README state it."""
    return (
        f"a cell counts as slower or faster when the ratio of its medians, B / A, is beyond {factor_text(factor)} and "
        f"a two-sided Mann-Whitney U test on the raw samples of A and B rejects at p < {alpha:g} (asv's rule)"
    )


#: Cells named in a list before "and N more".
SHOWN = 8


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
    from bench.host.cpuload import busy_line, steal_line

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
    return f"{value:.2f}x" if change.measure == "speedup" else duration_text(value)


def _value_interval(change: Change, estimate: stats.Estimate) -> str:
    """A median with its 95% interval, for the Markdown table (which has room for it)."""
    if change.measure == "speedup":
        return ratio_text(estimate, "x") + coverage_text(estimate)
    return duration_interval(estimate)


def change_ratio_text(difference: Difference) -> str:
    """The ratio with its interval, and the interval's coverage where it is below the usual (about 90%)."""
    usual = stats.LEVEL**2 - 1e-9
    coverage = f" ({difference.interval.confidence:.0%})" if difference.interval.confidence < usual else ""
    return ratio_text(difference.interval) + coverage


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
                "ratio": change_ratio_text(change),
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
            f"Serial baseline of {base.case}: {duration_text(base.median_a)} in A, "
            f"{duration_text(base.median_b)} in B, B/A {change_ratio_text(base)}: {base.text}"
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
    from bench.host import inner_threads

    differ = []
    for change in comparison.changes:
        pools_a, pools_b = inner_threads.describe(change.a.threadpools), inner_threads.describe(change.b.threadpools)
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


def print_comparison(console: Console, comparison: Comparison, verdict_lines: Sequence[str] = ()) -> None:
    """The header, one table per case (fits 80 columns), the notes, the counts and ``verdict_lines``;
    every line that is not a table is printed whole (paths and labels in it stay copyable)."""
    for line in header(comparison):
        print_note(console, line)
    cases: dict[str, list[dict[str, str]]] = {}
    for row in rows(comparison):
        cases.setdefault(row["case"], []).append(row)
    several_methods = len({change.a.method for change in comparison.changes}) > 1
    for case, case_rows in cases.items():
        table = Table(title=case, box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 0), pad_edge=False)
        table.add_column("executor", no_wrap=True)
        table.add_column("chunk", justify="right")
        if several_methods:
            table.add_column("method")
        for name in ("A", "B", "B/A", "p"):
            table.add_column(name, justify="right")
        table.add_column("verdict")
        for row in case_rows:
            cells = [row["executor"], row["chunk"]]
            if several_methods:
                cells.append(method_label(row["method"]))
            cells += [row["a"], row["b"], row["ratio"], row["p"]]
            verdict = markup_escape(row["verdict"])
            if row["verdict"].endswith("slower"):
                verdict = f"[bold red]{verdict}[/]"
            elif row["verdict"].endswith("faster"):
                verdict = f"[bold green]{verdict}[/]"
            table.add_row(*map(markup_escape, cells), verdict)
        console.print(table)
    for line in [*notes(comparison), summary(comparison), *verdict_lines]:
        print_note(console, line)
