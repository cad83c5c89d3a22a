"""``export``: a journal in pytest-benchmark's JSON format."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.cli.common import UsageError
from bench.data.journal import JournalError, load


def add_export_parser(commands: Any) -> None:
    export = commands.add_parser(
        "export",
        help="write a journal in another tool's format",
        description=(
            "Write a journal's ok cells in pytest-benchmark's JSON format (machine_info, commit_info, and one "
            "benchmark per cell with its statistics and raw samples), so that `pytest-benchmark compare FILE` "
            "and `pytest-benchmark compare --histogram` work on it. Benchmarks are grouped by case; the paired "
            "speedup and its interval are in each one's extra_info."
        ),
        epilog="exit status: 0 written; 2 bad input (an existing FILE is never replaced)",
    )
    export.add_argument("journal", metavar="JOURNAL")
    export.add_argument("--to", required=True, choices=("pytest-benchmark",), help="the format")
    export.add_argument("-o", "--out", required=True, metavar="FILE.json", help="the file to write (must not exist)")
    export.set_defaults(handler=cmd_export, command="export")


def cmd_export(args: argparse.Namespace) -> int:
    from bench.report.export import ExportError, to_pytest_benchmark

    try:
        results = load(args.journal)
        written = to_pytest_benchmark(results, args.out)
    except (JournalError, ExportError) as exc:
        raise UsageError(str(exc)) from None
    left_out = f"; {written.left_out} cell(s) not ok, left out" if written.left_out else ""
    print(
        f"{written.benchmarks} benchmark(s) of {args.journal} in pytest-benchmark's format{left_out}", file=sys.stderr
    )
    print(written.path, flush=True)
    return 0
