"""``python -m bench`` and ``python bench/run.py``: parse, call the Python API, print.

Exit status: 0 every cell ok (or skipped), 1 some cell failed (results still
written), 2 bad usage (nothing written), 130 interrupted.
Under an MPI launcher every rank parses the same command line; only rank 0
prints, so an error is shown once.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from bench.plan import Matrix, PlanError
from bench.results import JournalError, Results
from bench.runner import Interrupted

if TYPE_CHECKING:
    from bench.console import ConsoleProgress

__all__ = ["main", "run_main"]

USAGE_ERROR = 2
INTERRUPTED = 130


class UsageError(Exception):
    """Bad input: reported as one line, exit status 2, nothing written."""


def _speaks() -> bool:
    """Whether this process prints: always, except on ranks other than 0 of an MPI launch."""
    from bench.mpi import launcher_rank

    return launcher_rank() == 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n" if _speaks() else None)


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


RUN_DESCRIPTION = "Run a sweep; prints the path of the journal it wrote."
EXIT_STATUS = (
    "exit status: 0 every cell ok or skipped; 1 some cell failed (the journal is written); "
    "2 bad usage (nothing is written); 130 interrupted (finished cells are kept)"
)


def build_parser(prog: str = "python -m bench") -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description="Benchmark Python parallel back-ends.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser(
        "run", help="run a sweep and write a journal", description=RUN_DESCRIPTION, epilog=EXIT_STATUS
    )
    add_run_arguments(run)
    run.set_defaults(handler=cmd_run, command="run")
    listing = commands.add_parser("list", help="executors and workloads, with availability")
    listing.set_defaults(handler=cmd_list, command="list")
    return parser


def build_run_parser(prog: str) -> argparse.ArgumentParser:
    """The parser of the sweep script, which is ``run`` without a subcommand."""
    parser = _Parser(prog=prog, description=RUN_DESCRIPTION, epilog=EXIT_STATUS)
    add_run_arguments(parser)
    parser.set_defaults(handler=cmd_run, command=None)
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


def matrix_from_args(args: argparse.Namespace) -> Matrix:
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
            raise UsageError(
                f"{' and '.join(ignored)} {'apply' if len(ignored) > 1 else 'applies'} only with --repeats auto"
            )
    return matrix


def _plan_error(exc: PlanError) -> str:
    """The message of a PlanError, naming the option that would allow what it refuses."""
    if exc.allowed_by:
        return f"{exc.reason}; --{exc.allowed_by.replace('_', '-')} allows it"
    return exc.reason


def _measure(args: argparse.Namespace, progress: ConsoleProgress) -> Results:
    import bench

    if args.resume:
        given = [flag for name, flag in RESUME_CONFLICTS.items() if getattr(args, name) not in (None, [])]
        if given:
            raise UsageError(f"--resume takes the matrix from the journal; drop {', '.join(given)}")
        return bench.resume(args.resume, progress=progress, oversubscribe=bool(args.oversubscribe))
    return bench.sweep(matrix_from_args(args), args.out or DEFAULT_OUT, progress=progress)


def cmd_run(args: argparse.Namespace) -> int:
    from bench.console import ConsoleProgress, make_console, print_summary

    quiet = args.quiet or not _speaks()  # under MPI, only rank 0 shows progress
    console = make_console(quiet=quiet)
    progress = ConsoleProgress(console, quiet=quiet)
    try:
        with progress.shown():
            results = _measure(args, progress)
    except Interrupted as stop:
        if _speaks():
            kept = f"{len(stop.results.cells)} finished cell(s) kept in {stop.results.path}"
            print(f"interrupted; {kept}; --resume {stop.results.path} goes on", file=sys.stderr)
        return INTERRUPTED
    except PlanError as exc:
        raise UsageError(_plan_error(exc)) from None
    except JournalError as exc:
        raise UsageError(str(exc)) from None
    if not results.runs:  # a rank that served rank 0's sweep
        return 0
    print_summary(console, results.cells)
    print(results.path, flush=True)
    if args.quiet:
        for cell in results.failed:
            print(f"{cell.status}: {cell.label()}: {cell.error}", file=sys.stderr)
    return 1 if results.failed else 0


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

    from bench.console import make_console

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


def _report_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """Warnings as one line, without Python's source line (and only on the rank that prints)."""
    if _speaks():
        print(f"warning: {message}", file=sys.stderr)


def _dispatch(args: argparse.Namespace, prog: str) -> int:
    warnings.showwarning = _report_warning
    try:
        return int(args.handler(args))
    except UsageError as exc:
        if _speaks():
            print(f"{prog}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        if _speaks():
            print("interrupted; the journal keeps every finished cell", file=sys.stderr)
        return INTERRUPTED


def main(argv: Sequence[str] | None = None, prog: str = "python -m bench") -> int:
    """``python -m bench COMMAND ...``."""
    args = build_parser(prog).parse_args(argv)
    return _dispatch(args, f"{prog} {args.command}")


def run_main(argv: Sequence[str] | None = None, prog: str = "python bench/run.py") -> int:
    """The sweep script: ``python bench/run.py ...``, the same as ``python -m bench run ...``."""
    args = build_run_parser(prog).parse_args(argv)
    return _dispatch(args, prog)
