"""``compare``: two sets of journals, cell by cell, as text or Markdown, with a CI gate."""

from __future__ import annotations

import argparse
from typing import Any

from bench.cli.common import UsageError, factor, percentage
from bench.results import JournalError


def add_compare_parser(commands: Any) -> None:
    from bench.comparison import ALPHA, FACTOR, rule

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
    import bench
    from bench.comparison import compare, factor_text, markdown, min_rounds, p_text, ratio_text

    try:
        a, b = bench.load(args.a), bench.load(args.b)
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
        listed = ", ".join(f"{c.label} ({ratio_text(c)}, p {p_text(c.p)})" for c in failures)
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
        from bench.console import make_console, print_comparison

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
