"""``advise``: which executor, workers, chunk size and method for a workload (the user's own or ours),
from the cost model's predictions and a race among the best predicted."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.cli.common import (
    UsageError,
    _how_stopped,
    _list_of,
    _speaks,
    folder,
    option_assignment,
    positive_int,
    print_note,
    seconds,
)
from bench.data.format import METHOD_NOTE, duration_text, prediction_text
from bench.data.journal import JournalError


def add_advise_parser(commands: Any) -> None:
    from bench.model.advise import BUDGET_S, ENTRANTS_MOST, FORECAST_SCALES

    advise = commands.add_parser(
        "advise",
        help="which executor, workers, chunk size and method for a workload (yours too): model, then race",
        description=(
            "Trace the workload's serial run, predict every configuration with this environment's cost model "
            "(its calibration, found in DIR/calibration/ or results/calibration/, or made now, once): every "
            "executor, workers 1 to --max-workers, chunk sizes in powers of two from 1 to one "
            "chunk per worker and auto's, every map method the workload allows; then race the best predicted "
            f"(each executor's best, and those the model cannot tell from the best, at most {ENTRANTS_MOST}) in "
            "paired rounds, stopping each as soon as it is significantly slower than the leader, until the "
            "leaders' intervals reach 3% or the budget is spent. Prints the recommendation with its measured "
            "speedup and the model's, the runner-ups and how each left the race, and the forecast at "
            f"{', '.join(f'{scale}x' for scale in FORECAST_SCALES)} this machine's cores. The raced cells and "
            "an advice record go to a journal in DIR, which report, compare and export read."
        ),
        epilog="exit status: 0 advised; 1 no configuration ran (see the journal); 2 bad input (nothing written); "
        "130/143 interrupted",
    )
    advise.add_argument("workload", help="a workload name, or your own as module:Class or path/file.py:Class")
    advise.add_argument("--size", type=positive_int, metavar="N", help="the workload's size (default: its own)")
    advise.add_argument(
        "--param", action="append", type=option_assignment, default=[], metavar="KEY=VALUE",
        help="a parameter of the workload (repeatable)",
    )  # fmt: skip
    advise.add_argument(
        "--executors", type=_list_of(str, "names"), metavar="A,B",
        help="back-ends to consider (default: every one available here but serial and dask-slurm)",
    )  # fmt: skip
    advise.add_argument(
        "--max-workers", type=positive_int, metavar="K", help="consider 1 to K workers (default: the cores)"
    )
    advise.add_argument(
        "--methods", type=_list_of(str, "methods"), metavar="M",
        help="map methods to consider (default: every one the workload allows)",
    )  # fmt: skip
    advise.add_argument(
        "--budget", type=seconds, default=BUDGET_S, metavar="SECONDS",
        help=f"seconds the race may take (default {BUDGET_S:g}; a calibration made first is not counted)",
    )  # fmt: skip
    advise.add_argument("--calibration", metavar="FILE", help="a calibration journal of this environment")
    advise.add_argument("--out", type=folder, default="results", metavar="DIR", help="results folder (default results)")
    advise.add_argument("--quiet", action="store_true", help="no progress; only the advice and the path")
    advise.set_defaults(handler=cmd_advise, command="advise")


def cmd_advise(args: argparse.Namespace) -> int:
    from bench.cli.common import make_console
    from bench.cli.progress import ConsoleProgress
    from bench.measuring.plan import PlanError
    from bench.measuring.runner import Interrupted
    from bench.model.advise import advise

    quiet = args.quiet or not _speaks()
    console = make_console(quiet=quiet)
    progress = ConsoleProgress(console, quiet=quiet)
    try:
        with progress.shown():
            advice = advise(
                args.workload,
                size=args.size,
                params=dict(args.param),
                executors=args.executors,
                max_workers=args.max_workers,
                methods=args.methods,
                budget=args.budget,
                calibration=args.calibration,
                out=args.out,
                progress=progress,
                argv=sys.argv,
            )
    except Interrupted as stop:
        if _speaks():
            print(f"{_how_stopped(stop)}; the cells raced so far are in {stop.results.path}", file=sys.stderr)
        return stop.status
    except PlanError as exc:
        raise UsageError(exc.command_line()) from None
    except JournalError as exc:
        raise UsageError(str(exc)) from None
    if advice.path is None and not advice.results.runs:  # a rank that served rank 0
        return 0
    progress.explain()
    print_advice(make_console(), advice)
    if advice.path is not None:
        print(advice.path, flush=True)
    return 0 if advice.recommendation is not None else 1


def print_advice(console: Console, advice: Any) -> None:
    """An advice: the recommendation with its measured and predicted speedups, the runner-ups and how each
    left the race, the forecast for larger machines and the ceiling (fits 80 columns)."""
    from bench.model.advise import row_label

    record = advice.record
    raced = sum(bool(c["entered"]) for c in record.candidates)
    case = record.workload + f"[{record.size}]"
    print_note(
        console,
        f"{case}: {len(record.candidates)} configurations predicted, {raced} raced in "
        f"{duration_text(record.spent_s or 0.0)} of the {duration_text(record.budget_s or 0.0)} budget",
    )
    best = record.recommendation
    if best is None:
        print_note(console, "no configuration ran: see the journal's cells for why")
        return
    measured = best["speedup"]
    threads = best.get("threads_per_worker")
    console.print(
        f"[bold]use {escape(row_label(best))}[/]" + (f", {threads} thread(s) per worker" if threads else ""),
        overflow="fold",
    )
    print_note(
        console,
        f"  measured {prediction_text(measured)} over serial in {best['rounds']} paired rounds; "
        f"the model predicted {prediction_text(best['predicted'])}",
    )
    if best.get("equivalent"):
        print_note(
            console,
            f"  it and {best['equivalent']} other configuration(s) below are as fast as far as their rounds or this "
            "machine's noise can tell: this is the plainest of them (the fewest workers, then the plainest "
            "back-end, the auto chunk size, map, then imap)",
        )
    if record.runner_ups:
        _print_runner_ups(console, record)
    if record.forecast:
        print_note(console, "forecast by the cost model (best predicted executor and chunk size):")
        for row in record.forecast:
            print_note(
                console,
                f"  {row['workers']} workers ({row['scale']}x these cores): {row['executor']}, chunk "
                f"{row['chunksize']}: {prediction_text(row['predicted'])}",
            )
    if record.ceiling:
        print_note(
            console,
            f"ceiling: the largest item takes 1/{record.ceiling:.0f} of the serial run, so no back-end runs this "
            f"case more than {record.ceiling:.0f}x faster",
        )
    made = f" (made now in {duration_text(advice.calibrated_s)})" if advice.calibrated_s is not None else ""
    print_note(console, f"model parameters from {advice.calibration}{made}")


def _print_runner_ups(console: Console, record: Any) -> None:
    """The runner-ups, each with its measured speedup and how it left the race, and the legend."""
    from bench.model.advise import row_label

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    table.add_column("runner-up", no_wrap=True)
    table.add_column("measured [95%]", justify="right", no_wrap=True)
    table.add_column("race", overflow="fold")
    for row in record.runner_ups:
        speedup = prediction_text(row["speedup"]) if row["speedup"] else "-"
        table.add_row(escape(row_label(row, short=True)), speedup, escape(row["outcome"]))
    console.print(table)
    legend = (
        "race: rN after N paired rounds; p: the one-sided p-value that it is slower than the leader then "
        "(eliminated) or than the recommendation (slower) (Welch's test on log speedups); equivalent: closer "
        "to the recommendation than this machine's noise (probed as the race began) lets their rounds tell apart, "
        "±N% here; not told apart: as fast as the recommendation as far as its rounds tell."
    )
    if any(row["method"] == "imap_unordered" for row in record.runner_ups):
        legend += f" {METHOD_NOTE}."
    print_note(console, legend + " The report of the journal gives each one's predicted speedup too.")
