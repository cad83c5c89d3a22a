"""``report``: journals become a report folder (index.html, summary.md, figures)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.cli.common import UsageError, make_console, print_note
from bench.data.journal import JournalError, load

REPORT_DESCRIPTION = (
    "Turn journals into one report: DIR/index.html (self-contained, figures inline), DIR/summary.md "
    "and each figure as DIR/figures/NAME.svg. For each workload it names the best executor, worker "
    "count, chunk size and method with its 95% interval, and the configurations that are not "
    "significantly slower. Journals of different machines or allocations are analysed apart; "
    "a previous report in DIR is replaced."
)


def _report_folder(journals: Sequence[str], out: str | None) -> Path:
    if out:
        return Path(out)
    if len(journals) > 1:
        raise UsageError("several journals: name the report's folder with -o DIR")
    journal = Path(journals[0])
    if not journal.name:  # an empty path, "." or "/": no journal can be named so
        raise UsageError(f"{journals[0]!r} is not a journal file")
    return journal.with_name(journal.name.removesuffix(".jsonl") + "-report")


def cmd_report(args: argparse.Namespace) -> int:
    import bench.report

    out = _report_folder(args.journals, args.out)
    try:
        bench.report.check(out)
        results = load(*args.journals)
        report = bench.report.build(results)
        index = bench.report.write(report, out)
    except JournalError as exc:  # ReportError included
        raise UsageError(str(exc)) from None
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    console = make_console()
    for case in report.analysis.answered:
        if case.recommendations:
            print_note(console, case.recommendations[0])
    for env in report.analysis.environments:  # the probes' answers: per-task cost, bandwidth, METG
        for line in env.recommendations:
            print_note(console, f"{env.env.name}: {line}" if env.env.name else line)
    print(f"{len(report.figures)} figures, summary.md and index.html in {out}", file=sys.stderr)
    print(index, flush=True)
    return 0


def add_report_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="turn journals into a report: index.html, summary.md and figures",
        description=REPORT_DESCRIPTION,
        epilog="exit status: 0 written; 2 bad input (nothing is written)",
    )
    report.add_argument("journals", nargs="+", metavar="JOURNAL", help="journals to report on, merged into one report")
    report.add_argument(
        "-o",
        "--out",
        metavar="DIR",
        help="folder for index.html, summary.md and figures/ (default for one journal: its path without "
        ".jsonl, plus -report; required for several)",
    )
    report.set_defaults(handler=cmd_report, command="report")
