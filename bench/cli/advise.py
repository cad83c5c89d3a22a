"""``advise``: which executor, workers, chunk size and method for a workload (the user's own or ours),
from the cost model's predictions and a race among the best predicted."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.cli.common import (
    UsageError,
    _how_stopped,
    _list_of,
    _speaks,
    folder,
    option_assignment,
    positive_int,
    seconds,
)
from bench.results import JournalError


def add_advise_parser(commands: Any) -> None:
    from bench.advise import BUDGET_S, CHUNK_STEP, ENTRANTS_MOST, FORECAST_SCALES

    advise = commands.add_parser(
        "advise",
        help="which executor, workers, chunk size and method for a workload (yours too): model, then race",
        description=(
            "Trace the workload's serial run, predict every configuration with this environment's cost model "
            "(its calibration, found in DIR/calibration/ or results/calibration/, or made now, once): every "
            f"executor, workers 1 to --max-workers, chunk sizes from 1 by factors of {CHUNK_STEP} to one chunk "
            f"per worker, every map method the workload allows; then race the best predicted (each executor's "
            f"best, and those the model cannot tell from the best, at most {ENTRANTS_MOST}) in paired rounds, "
            "stopping each as soon as it is significantly slower than the leader, until the leaders' intervals "
            "reach 3% or the budget is spent. Prints the recommendation with its measured speedup and the "
            "model's, the runner-ups and how each left the race, and the forecast at "
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
    import bench
    from bench.console import ConsoleProgress, make_console, print_advice
    from bench.plan import PlanError
    from bench.runner import Interrupted

    quiet = args.quiet or not _speaks()
    console = make_console(quiet=quiet)
    progress = ConsoleProgress(console, quiet=quiet)
    try:
        with progress.shown():
            advice = bench.advise(
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
    print_advice(make_console(), advice)
    if advice.path is not None:
        print(advice.path, flush=True)
    return 0 if advice.recommendation is not None else 1
