"""``calibrate`` (the probes that fit the cost model of this environment) and ``model check`` (the model's
predictions against measured cells)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.cli.common import UsageError, _how_stopped, _list_of, _speaks, folder, print_note, worker_list
from bench.data.format import duration_interval, duration_text
from bench.data.journal import JournalError, load
from bench.data.schema import AUTO

#: How many of the worst-predicted cells ``model check`` lists again at the end.
WORST = 5


def add_calibrate_parser(commands: Any) -> None:
    from bench.model.calibrate import CHUNK, PROBES

    probes = ", ".join(f"{name} {size}" for name, size in PROBES.items())
    calibrate = commands.add_parser(
        "calibrate",
        help="fit the cost model of this environment from a short run of the probes",
        description=(
            f"Run the probes ({probes}; payload of 256 KiB, spin tasks of 1 ms) at 1 worker and at the core "
            f"count, one item per chunk and {CHUNK}, 3 rounds, traced; fit each back-end's costs (a run's, a "
            "chunk's, an item's and a byte's in the driver, a chunk's on a worker, and how computation slows "
            "per busy worker) with 95% intervals, and keep them as a calibration record in "
            "DIR/calibration/<environment id>.jsonl, which model check, report and advise find there. An "
            "earlier calibration of this environment is kept beside it, renamed after its run."
        ),
        epilog="exit status: 0 written; 1 some probe cell failed (the calibration is written without it); "
        "2 bad input; 130/143 interrupted (nothing is calibrated)",
    )
    calibrate.add_argument(
        "--executors",
        type=_list_of(str, "names"),
        metavar="A,B",
        help="back-ends to calibrate (default: every one available here but serial and dask-slurm)",
    )
    calibrate.add_argument(
        "--out", type=folder, default="results", metavar="DIR", help="results folder (default results)"
    )
    calibrate.add_argument("--quiet", action="store_true", help="no progress; only the table and the path")
    calibrate.add_argument(
        "--if-missing",
        action="store_true",
        help="only where DIR holds no calibration of this environment yet (else print its path)",
    )
    calibrate.set_defaults(handler=cmd_calibrate, command="calibrate")


def cmd_calibrate(args: argparse.Namespace) -> int:
    import bench.executors
    from bench.cli.common import make_console
    from bench.cli.progress import ConsoleProgress
    from bench.measuring.plan import PlanError
    from bench.measuring.runner import Interrupted
    from bench.model.calibrate import calibrate, default_executors, find_calibration, this_environment

    executors = list(args.executors or default_executors())
    unknown = [name for name in executors if name not in bench.executors.names()]
    if unknown:
        raise UsageError(f"unknown executor {unknown[0]!r}; known: {', '.join(bench.executors.names())}")
    executors = [name for name in executors if name != "serial"]
    if not executors:
        raise UsageError("nothing to calibrate: serial is the baseline, whose costs are the cases' own")
    if args.if_missing:
        found = find_calibration(this_environment(), [args.out])
        if found is not None:
            if _speaks():
                print(found, flush=True)
            return 0
    quiet = args.quiet or not _speaks()
    console = make_console(quiet=quiet)
    progress = ConsoleProgress(console, quiet=quiet)
    try:
        with progress.shown():
            path, record, results = calibrate(executors, args.out, progress=progress)
    except Interrupted as stop:
        if _speaks():
            print(
                f"{_how_stopped(stop)}; the probes measured so far are in {stop.results.path}, uncalibrated",
                file=sys.stderr,
            )
        return stop.status
    except PlanError as exc:
        raise UsageError(exc.command_line()) from None
    except JournalError as exc:
        raise UsageError(str(exc)) from None
    if record is None:  # a rank that served rank 0
        return 0
    progress.explain()
    print_calibration(make_console(), record)
    missing = [name for name in executors if name not in record.executors]
    if missing:
        print(f"not calibrated: {', '.join(missing)} (no probe cell ran: see the journal)", file=sys.stderr)
    print(path, flush=True)
    return 1 if results.failed else 0


def add_model_parser(commands: Any) -> None:
    top = commands.add_parser(
        "model",
        help="the cost model: check its predictions against measured cells",
        description="The cost model of each back-end (see calibrate).",
    )
    actions = top.add_subparsers(dest="action", required=True, parser_class=type(top))
    check = actions.add_parser(
        "check",
        help="predict every measured cell and compare",
        description=(
            "Take the back-ends' parameters from a calibration (--calibration FILE; without it, the calibration "
            "of the journals' environment in calibration/ beside the journals or in results/), or fit them on "
            "the journals' probe cells and traces (where there is no calibration, and with --fit-workers, on "
            "the cells at those worker counts too), and predict every other ok cell but the serial ones: its "
            "measured median, the predicted time with its 95% interval, and the relative error; then the "
            "worst-predicted cells; the error of the predicted paired speedups and how much of it the noise of "
            "the cells' rounds explains; and last the median absolute error. With a calibration the journals give "
            "only each case's cost profile (its traced serial run), so no cell helps predict itself."
        ),
        epilog="exit status: 0 checked (whatever the errors: it is a report); 2 bad input",
    )
    check.add_argument("journals", nargs="+", metavar="JOURNAL", help="journals whose cells to predict")
    check.add_argument(
        "--fit-workers",
        type=worker_list,
        metavar="1,2,4",
        help="fit on the cells at these worker counts (and the probes) and predict the others",
    )
    check.add_argument("--calibration", metavar="FILE", help="a calibration journal (python -m bench calibrate)")
    check.set_defaults(handler=cmd_model_check, command="model check")


def cmd_model_check(args: argparse.Namespace) -> int:
    from bench.cli.common import make_console
    from bench.model.calibrate import Profiles, check, median_error, plan, speedup_check, to_check

    if args.calibration is not None and args.fit_workers is not None:
        raise UsageError("--calibration and --fit-workers exclude each other: a calibration's parameters are fixed")
    try:
        results = load(*args.journals)
        profiles = Profiles(results)
        search = [*dict.fromkeys(str(Path(journal).parent) for journal in args.journals), "results"]
        chosen = plan(results, profiles, fit_workers=args.fit_workers, calibration=args.calibration, search=search)
    except JournalError as exc:
        raise UsageError(str(exc)) from None
    cells = to_check(results.cells, chosen.fitted_on)
    if not cells:
        raise UsageError(f"every ok cell was fitted on ({chosen.source}): nothing left to predict")
    checked, skipped = check(results, chosen.models, cells, profiles)
    console = make_console()
    print_model_check(console, checked, skipped, chosen.source, WORST)
    paired = speedup_check(checked)
    if paired is not None:
        print_note(console, paired.line())
    error = median_error(checked)
    if error is None:
        print("median absolute error: none: no cell could be predicted", flush=True)
    else:
        print(f"median absolute error: {error * 100:.1f}% over {len(checked)} cells", flush=True)
    return 0


def _cost(seconds: float) -> str:
    """A fitted cost: a duration, or 0 below 10 ns (a fit at its bound)."""
    return "0" if seconds < 1e-8 else duration_text(seconds)


def _per_mib(seconds: float) -> str:
    return _cost(seconds * 2**20)


#: How a calibration table names each parameter, and shows its values.
COSTS = {
    "run_s": ("a run, fixed", _cost),
    "chunk_s": ("a chunk, driver", _cost),
    "item_s": ("an item, driver", _cost),
    "byte_s": ("a MiB, driver", _per_mib),
    "worker_s": ("a chunk, worker", _cost),
    "contention": ("contention", lambda v: f"{v:.2f}"),
}


def print_calibration(console: Console, record: Any) -> None:
    """A calibration's parameters: per back-end, each cost with its 95% interval (fits 80 columns)."""
    from bench.model.cost import PARAMS, ExecutorModel

    table = Table(
        title=f"Calibration {record.env_id} ({record.cores} cores)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )
    table.add_column("executor", no_wrap=True)
    table.add_column("cost of", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("95% interval", justify="right", no_wrap=True)
    for executor, data in record.executors.items():
        fitted = ExecutorModel.from_json(executor, data)
        rows: list[tuple[str, str, str]] = []
        for name in PARAMS:
            label, text = COSTS[name]
            value, low, high = fitted.param(name)
            rows.append((label, text(value), f"[{text(low)}, {text(high)}]"))
        startup = fitted.startup or {}
        if startup:
            line = f"{_cost(startup['base_s'])} + {_cost(startup['per_worker_s'])}/worker"
            lows, highs = startup.get("low"), startup.get("high")
            interval = "none: too few starts"
            if lows is not None and highs is not None:
                interval = f"[{_cost(lows[0])}, {_cost(highs[0])}] + [{_cost(lows[1])}, {_cost(highs[1])}]"
            rows.append(("start-up", line, interval))
        for number, (label, shown, interval) in enumerate(rows):
            first = number == 0
            table.add_row(
                escape(executor) if first else "", label, shown, interval, end_section=number == len(rows) - 1
            )
    console.print(table)
    print_note(
        console,
        "The driver hands chunks over one after the other (its costs bound how many a second any number of "
        "workers get); a worker's cost per chunk is paid in parallel; contention: how much slower computation "
        "runs per other busy worker (1: the GIL).",
    )
    if record.noise:
        from bench.host.noise import Noise

        print_note(console, Noise.from_json(record.noise).summary())


def print_model_check(
    console: Console, checked: Sequence[Any], skipped: dict[str, int], source: str, worst: int
) -> None:
    """Each predicted cell (measured median, predicted with its interval, error), the worst few with what
    their traces say, and the cells not predicted; fits 80 columns."""
    from bench.model.calibrate import Checked

    print_note(console, f"parameters from {source}")
    by_case: dict[Any, list[Checked]] = {}
    for item in checked:
        by_case.setdefault(item.cell.case, []).append(item)
    for items in by_case.values():
        table = Table(title=items[0].cell.case_label(), box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
        table.add_column("executor", no_wrap=True)
        table.add_column("chunk", justify="right", no_wrap=True)
        table.add_column("measured", justify="right", no_wrap=True)
        table.add_column("predicted [95%]", justify="right", no_wrap=True)
        table.add_column("error", justify="right", no_wrap=True)
        for item in items:
            cell, predicted = item.cell, item.predicted
            executor = cell.executor_label() + (f" {cell.method}" if cell.method != "map" else "")
            if cell.threads not in (None, AUTO):
                executor += f" t={cell.threads}"
            shown = duration_interval(predicted.estimate())
            error = f"{item.error:+.0%}"
            if abs(item.error) > 0.25:
                error = f"[bold red]{error}[/]"
            elif abs(item.error) <= 0.10:
                error = f"[green]{error}[/]"
            table.add_row(
                escape(executor),
                escape(cell.chunk_label(short=True)),
                duration_text(item.measured.value),
                shown,
                error,
            )
        console.print(table)
    ranked = sorted(checked, key=lambda item: -abs(item.error))[:worst]
    if ranked:
        print_note(console, f"worst predicted ({len(ranked)}):")
        for item in ranked:
            print_note(console, f"  {item.error:+.0%} {item.cell.label()}: {item.reason()}")
    outside = sum(not item.agrees for item in checked)
    if checked:
        print_note(console, f"{outside} of {len(checked)} predictions' intervals miss the measured median's")
    for reason, count in skipped.items():
        print_note(console, f"not predicted: {count} cell(s): {reason}")
