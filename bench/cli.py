"""``python -m bench`` subcommands: thin printing layers over plain functions.

Exit status: 0 every cell ok (or skipped), 1 some cell failed (results still
written), 2 bad usage (nothing written).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["main"]

USAGE_ERROR = 2


class UsageError(Exception):
    """Bad input: reported as one line, exit status 2, nothing written."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def _list_of(convert: Any, what: str) -> Any:
    def parse(text: str) -> tuple[Any, ...]:
        values = tuple(convert(part.strip()) for part in text.split(",") if part.strip())
        if not values:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}")
        return values

    return parse


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def _int_range(text: str) -> tuple[int, ...]:
    low, sep, high = text.partition("-")
    if not sep:
        return (positive_int(text),)
    first, last = positive_int(low), positive_int(high)
    if last < first:
        raise argparse.ArgumentTypeError(f"{text!r} is an empty range")
    return tuple(range(first, last + 1))


def worker_list(text: str) -> tuple[int, ...]:
    """``1,2,4`` or ``1-4``."""
    parts = _list_of(_int_range, "positive integers or ranges such as 1-4")(text)
    return tuple(dict.fromkeys(value for part in parts for value in part))


def repeats_spec(text: str) -> int | str:
    """A positive number of rounds, or ``auto``."""
    return text if text == "auto" else positive_int(text)


def percentage(text: str) -> float:
    """``3%`` or ``0.03``: a fraction strictly between 0 and 1."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage between 0% and 100% (such as 3%)")
    return value


def chunk_spec(text: str) -> str:
    if text == "auto":
        return text
    return str(positive_int(text))


def param_assignment(text: str) -> tuple[str, tuple[str, ...]]:
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=V1,V2")
    return key.strip(), _list_of(str, "values")(values)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    from bench.plan import PRESETS, WARMUPS

    matrix = parser.add_argument_group("matrix (each list is a sweep dimension; presets set defaults)")
    matrix.add_argument("--executors", type=_list_of(str, "names"), metavar="A,B", help="back-ends (default: all)")
    matrix.add_argument(
        "--workloads", type=_list_of(str, "names"), metavar="A,B", help="workloads (default: fibprimes)"
    )
    matrix.add_argument("--workers", type=worker_list, metavar="1,2,4", help="worker counts; ranges such as 1-4 work")
    matrix.add_argument(
        "--chunksizes",
        type=_list_of(chunk_spec, "chunk sizes"),
        metavar="1,8,auto",
        help="items per task; auto = ceil(items / (4 x workers))",
    )
    matrix.add_argument(
        "--size",
        dest="sizes",
        type=_list_of(positive_int, "sizes"),
        metavar="N,M",
        help="workload sizes (default: the preset's, else the workload's)",
    )
    matrix.add_argument(
        "--repeats",
        type=repeats_spec,
        metavar="R|auto",
        help="timed rounds per cell, each with a paired serial baseline; auto: rounds until the 95%% "
        "interval of the speedup is within --precision (at least 6, at most --max-repeats)",
    )
    matrix.add_argument(
        "--precision", type=percentage, metavar="P", help="target half-width of the interval with --repeats auto (3%%)"
    )
    matrix.add_argument("--max-repeats", type=positive_int, metavar="N", help="most rounds with --repeats auto (20)")
    matrix.add_argument(
        "--warmup",
        choices=WARMUPS,
        help="short (default): one chunk per worker before the timed rounds; full: one whole run",
    )
    matrix.add_argument(
        "--oversubscribe",
        action="store_true",
        default=None,
        help="allow more local workers than 4 per available core",
    )
    matrix.add_argument(
        "--param",
        action="append",
        type=param_assignment,
        default=[],
        metavar="KEY=V1,V2",
        help="sweep a workload's own parameter (repeatable)",
    )
    presets = "; ".join(f"{name}: {preset['help']}" for name, preset in PRESETS.items()).replace("%", "%%")
    matrix.add_argument("--preset", choices=list(PRESETS), help=f"default {DEFAULT_PRESET}. {presets}")
    parser.add_argument("--out", metavar="DIR", help=f"folder for the journal (default: {DEFAULT_OUT})")
    parser.add_argument(
        "--cell-timeout",
        type=positive_float,
        metavar="S",
        help="seconds a cell may take, warm-up included; then it is recorded as timeout",
    )
    parser.add_argument("--resume", metavar="FILE", help="continue the run of this journal, appending to it")
    parser.add_argument("--quiet", action="store_true", help="print only the journal path and errors")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m bench", description="Benchmark Python parallel back-ends.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser(
        "run",
        help="run a sweep and write a journal",
        description="Run a sweep; prints the path of the journal it wrote.",
    )
    add_run_arguments(run)
    run.set_defaults(handler=cmd_run)
    listing = commands.add_parser("list", help="executors and workloads, with availability")
    listing.set_defaults(handler=cmd_list)
    return parser


MATRIX_OPTIONS = (
    "executors",
    "workloads",
    "workers",
    "chunksizes",
    "sizes",
    "repeats",
    "precision",
    "max_repeats",
    "warmup",
    "oversubscribe",
)
RESUME_CONFLICTS = {
    **{name: "--" + name.replace("_", "-") for name in MATRIX_OPTIONS if name not in ("sizes", "oversubscribe")},
    "sizes": "--size",
    "param": "--param",
    "preset": "--preset",
    "cell_timeout": "--cell-timeout",
    "out": "--out",
}
DEFAULT_PRESET = "quick"
DEFAULT_OUT = "results"


def matrix_from_args(args: argparse.Namespace) -> Any:
    """The Matrix the options ask for: the preset with the options laid over it."""
    from bench.plan import from_preset

    params: dict[str, tuple[str, ...]] = {}
    for key, values in args.param:
        params[key] = params.get(key, ()) + values
    overrides = {name: getattr(args, name) for name in MATRIX_OPTIONS}
    matrix = from_preset(
        args.preset or DEFAULT_PRESET, **overrides, params=params or None, cell_timeout=args.cell_timeout
    )
    if matrix.repeats != "auto":
        ignored = [
            flag for flag, value in (("--precision", args.precision), ("--max-repeats", args.max_repeats)) if value
        ]
        if ignored:
            raise UsageError(f"{' and '.join(ignored)} apply only with --repeats auto")
    return matrix


def _resume_target(args: argparse.Namespace) -> tuple[Any, Any, set[Any]]:
    """(matrix, records, done keys) of the journal named by ``--resume``."""
    from bench.plan import Matrix, record_key
    from bench.results import cells, load

    given = [flag for name, flag in RESUME_CONFLICTS.items() if getattr(args, name) not in (None, [])]
    if given:
        raise UsageError(f"--resume takes the matrix from the journal; drop {', '.join(given)}")
    records = load(args.resume)
    if "matrix" not in records[0]:
        raise UsageError(f"{args.resume} has no matrix to resume")
    matrix = Matrix.from_json(records[0]["matrix"])
    if args.oversubscribe:  # it changes no cell, only lets a journal from a bigger machine go on here
        matrix = replace(matrix, oversubscribe=True)
    return matrix, records, {record_key(r) for r in cells(records)}


def make_console(quiet: bool = False) -> Any:
    from rich.console import Console

    console = Console(quiet=quiet, highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 120)  # logs and pipes: no wrapped table cells
    return console


def run_env(groups: list[Any]) -> dict[str, Any]:
    """Provenance of the run, with the metadata of each executor that will run."""
    import bench.executors
    from bench.metadata import collect_env

    running = dict.fromkeys(g.executor for g in groups if not g.skipped)
    return {**collect_env(), "executors": {name: bench.executors.get(name).metadata() for name in running}}


def run(args: argparse.Namespace) -> tuple[Path, list[dict[str, Any]]]:
    """Plan, measure and journal a sweep; returns (journal path, cell records)."""

    from bench import console as show
    from bench import plan, sweep
    from bench.measure import NullReporter
    from bench.metadata import available_cores
    from bench.results import SCHEMA, Journal, JournalError, cells, new_run_id, utc_now

    out = make_console(quiet=args.quiet)
    old: list[dict[str, Any]] = []
    try:
        if args.resume:
            matrix, old, done = _resume_target(args)
            groups = plan.without(plan.build(matrix), done)
            journal, run_id = Journal.reopen(args.resume), old[0]["run_id"]
            journal.write(
                {
                    "schema": SCHEMA,
                    "kind": "resume",
                    "run_id": run_id,
                    "started": utc_now(),
                    "argv": list(sys.argv),
                    "env": run_env(groups),
                }
            )
        else:
            matrix = matrix_from_args(args)
            groups = plan.build(matrix)
            run_id = new_run_id()
            journal = Journal.create(args.out or DEFAULT_OUT, run_id)
            journal.write(
                {
                    "schema": SCHEMA,
                    "kind": "run",
                    "run_id": run_id,
                    "started": utc_now(),
                    "argv": list(sys.argv),
                    "matrix": matrix.to_json(),
                    "env": run_env(groups),
                }
            )
    except (plan.PlanError, JournalError) as exc:
        raise UsageError(str(exc)) from None

    over = sorted({cell.workers for group in groups for cell in group.cells if cell.oversubscribed})
    if over:
        out.print(
            f"note: {', '.join(map(str, over))} workers exceed the {available_cores()} cores "
            "available here; those cells oversubscribe the CPU (marked * below)"
        )
    rounds = sweep.rounds_of(matrix)
    # Instance numbers stay unique across --resume.
    first_instance = 1 + max((r.get("instance") or 0 for r in cells(old)), default=0)
    kwargs: dict[str, Any] = {"first_instance": first_instance}
    with journal:
        if show.progress_wanted(out, args.quiet):
            reporter = show.ProgressReporter(out, sweep.total_runs(groups, rounds))
            with reporter.shown():
                records = sweep.run_groups(groups, journal, run_id, rounds, reporter=reporter, **kwargs)
        else:
            records = sweep.run_groups(
                groups,
                journal,
                run_id,
                rounds,
                reporter=NullReporter(),
                on_record=lambda record: out.print(show.cell_line(record)),
                **kwargs,
            )
    # After --resume the summary covers the whole journal, the newest record of each cell.
    shown = list({plan.record_key(r): r for r in cells(old) + records}.values())
    if shown:
        out.print(show.summary_table(shown))
    return journal.path, records


def cmd_run(args: argparse.Namespace) -> int:
    from bench.sweep import failed

    path, records = run(args)
    print(path, flush=True)
    for record in records:
        if record["status"] in ("error", "timeout") and args.quiet:
            print(
                f"{record['status']}: {record['executor']} x{record['workers']} {record['workload']}"
                f"[{record['size']}] chunk={record['chunksize']}: {record['error']}",
                file=sys.stderr,
            )
    return 1 if failed(records) else 0


def availability() -> dict[str, list[dict[str, Any]]]:
    """Every registered executor and workload, with the reason when it cannot run in this launch."""
    import bench.executors
    import workloads

    executors = []
    for name in bench.executors.names():
        try:
            backend = bench.executors.get(name)
            reason, description = backend.available() or backend.unsupported(1), backend.description
        except Exception as exc:  # a broken third-party plug-in is listed, not fatal
            reason, description = f"failed to load: {exc}", ""
        executors.append({"name": name, "available": reason is None, "reason": reason, "description": description})
    loads = []
    for name in workloads.names():
        workload = workloads.get(name)
        reason = workload.available()
        loads.append(
            {
                "name": name,
                "available": reason is None,
                "reason": reason,
                "description": workload.description,
                "default_size": workload.default_size,
                "params": {key: param.help for key, param in workload.params.items()},
            }
        )
    return {"executors": executors, "workloads": loads}


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    data = availability()
    console = make_console()
    table = Table(title="Executors")
    for column in ("name", "available", "what / why not"):
        table.add_column(column)
    for entry in data["executors"]:
        table.add_row(entry["name"], "yes" if entry["available"] else "no", entry["reason"] or entry["description"])
    console.print(table)
    table = Table(title="Workloads")
    for column in ("name", "available", "default size", "params", "what / why not"):
        table.add_column(column)
    for entry in data["workloads"]:
        params = "; ".join(f"{key}: {text}" for key, text in entry["params"].items())
        table.add_row(
            entry["name"],
            "yes" if entry["available"] else "no",
            str(entry["default_size"]),
            params,
            entry["reason"] or entry["description"],
        )
    console.print(table)
    return 0


def _mpi_world_size() -> int:
    from bench import mpi

    if not mpi.launched():
        return 1
    try:
        return mpi.world_size()
    except ImportError:
        raise UsageError(f"launched by MPI but mpi4py is missing: {mpi.INSTALL_HINT}") from None


def _run_on_ranks(args: argparse.Namespace) -> int:
    """Rank 0 runs the sweep; the other ranks serve it until it is done."""
    from bench import mpi

    if mpi.rank() != 0:
        mpi.serve()
        return 0
    try:
        return args.handler(args)
    finally:
        mpi.stop_servers()


def main(argv: Sequence[str] | None = None) -> int:
    # Under mpiexec every rank parses the same command line (and so fails alike).
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run" and _mpi_world_size() > 1:
            return _run_on_ranks(args)
        return args.handler(args)
    except UsageError as exc:
        print(f"python -m bench {args.command}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("interrupted; the journal keeps every finished cell", file=sys.stderr)
        return 130
