"""``python -m bench`` and ``python bench/run.py``: parse, call the Python API, print.

Exit status: 0 every cell ok (or skipped), 1 some cell failed (results still
written), 2 bad usage (nothing written), 130 interrupted (143 on SIGTERM).
Under an MPI launcher every rank parses the same command line; only rank 0
prints, so an error is shown once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from bench.plan import Matrix, PlanError
from bench.results import JournalError, Results
from bench.runner import Interrupted, Signalled, signum_of

if TYPE_CHECKING:
    from bench.console import ConsoleProgress

__all__ = ["main", "run_main"]

USAGE_ERROR = 2


class UsageError(Exception):
    """Bad input: reported as one line, exit status 2, nothing written."""


def _speaks() -> bool:
    """Whether this process prints: always, except on ranks other than 0 of an MPI launch."""
    from bench.mpi import launcher_rank

    return launcher_rank() == 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n" if _speaks() else None)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        """As argparse's, ending an MPI launch as any command does (``bench.mpi.exit``)."""
        from bench import mpi

        if message:
            self._print_message(message, sys.stderr)
        mpi.exit(status)


class _Command(_Parser):
    """A subcommand's parser: arguments it does not know are its own usage error, named after it
    (``python -m bench run: error: ...``, as its other errors are)."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extra = super().parse_known_args(args, namespace)
        if extra:  # shown on one line, as typed where they are printable
            shown = " ".join(arg if arg.isprintable() else repr(arg) for arg in extra)
            self.error(f"unrecognized arguments: {shown if len(shown) <= 200 else shown[:197] + '...'}")
        return parsed, extra


def _list_of(convert: Any, what: str) -> Any:
    def parse(text: str) -> tuple[Any, ...]:
        parts = [part.strip() for part in text.split(",")]
        if not any(parts):
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}")
        if not all(parts):
            raise argparse.ArgumentTypeError(f"{text!r} has an empty item: expected a comma-separated list of {what}")
        return tuple(convert(part) for part in parts)

    return parse


def positive_int(text: str) -> int:
    if not text.isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def seconds(text: str) -> float:
    """A number of seconds (its range is checked with the matrix, for Python callers alike)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None


def seconds_or_off(text: str) -> float | str:
    """A number of seconds, or ``off``."""
    return text if text == "off" else seconds(text)


#: The most values a range on the command line may stand for (``--workers 1-64``).
MAX_RANGE = 1024


def _int_range(text: str) -> tuple[int, ...]:
    low, sep, high = text.partition("-")
    if not sep or not low:  # "4", or "-1": a number, not a range
        return (positive_int(text),)
    first, last = positive_int(low), positive_int(high)
    if last < first:
        raise argparse.ArgumentTypeError(f"{text!r} is an empty range")
    if last - first >= MAX_RANGE:
        raise argparse.ArgumentTypeError(f"{text!r} stands for {last - first + 1} values, more than {MAX_RANGE}")
    return tuple(range(first, last + 1))


def worker_list(text: str) -> tuple[int, ...]:
    """``1,2,4`` or ``1-4``."""
    parts = _list_of(_int_range, "positive integers or ranges such as 1-4")(text)
    values = tuple(dict.fromkeys(value for part in parts for value in part))
    if len(values) > MAX_RANGE:
        raise argparse.ArgumentTypeError(f"{len(values)} worker counts, more than {MAX_RANGE}")
    return values


def threads_spec(text: str) -> str:
    """``auto``, ``default`` or a number of threads."""
    from bench import threads

    try:
        return threads.check(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def folder(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder, not an empty name")
    return text


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
    if not text.isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer or 'auto'")
    return str(int(text))


def param_assignment(text: str) -> tuple[str, tuple[str, ...]]:
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=V1,V2")
    return key.strip(), _list_of(str, "values")(values)


def option_assignment(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key.strip(), value


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    from bench.plan import PRESETS, WARMUPS

    matrix = parser.add_argument_group("matrix (each list is a sweep dimension; presets set defaults)")
    matrix.add_argument("--executors", type=_list_of(str, "names"), metavar="A,B", help="back-ends (default: all)")
    matrix.add_argument(
        "--workloads",
        type=_list_of(str, "names"),
        metavar="A,B",
        help="workloads, registered (`list` names them) or your own as module:Class or file.py:Class "
        "(default: the preset's; quick measures fibprimes, noop, polyfit and linalg)",
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
        "--methods",
        type=_list_of(str, "methods"),
        metavar="map,imap",
        help="map methods: map, imap (in order), imap_unordered (as completed); the streaming ones keep "
        "2 chunks per worker in flight (default: each workload's own, map for all but fibprimes-first)",
    )
    matrix.add_argument(
        "--threads",
        type=_list_of(threads_spec, "thread counts"),
        metavar="N,auto,default",
        help="threads each worker's native libraries (BLAS, OpenMP) may use: auto (default) gives each worker "
        "cores / workers, at least 1; a number sets it; default leaves each library (and Dask) as it starts. "
        "The paired serial baseline always has one thread per core",
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
    matrix.add_argument(
        "--executor-option",
        dest="executor_option",
        action="append",
        type=option_assignment,
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the back-ends that take it, e.g. partition=debug or walltime=01:00:00 for dask-slurm "
        "(repeatable; `list` shows every option; also BENCH_<EXECUTOR>_<KEY> and dask's jobqueue config)",
    )
    presets = "; ".join(f"{name}: {preset['help']}" for name, preset in PRESETS.items()).replace("%", "%%")
    matrix.add_argument("--preset", choices=list(PRESETS), help=f"default {DEFAULT_PRESET}. {presets}")
    parser.add_argument("--out", type=folder, metavar="DIR", help=f"folder for the journal (default: {DEFAULT_OUT})")
    parser.add_argument(
        "--cell-timeout",
        type=seconds,
        metavar="S",
        help="seconds a cell may take, warm-up included; then it is recorded as timeout",
    )
    parser.add_argument(
        "--max-case-time",
        type=seconds_or_off,
        metavar="S|off",
        help="refuse a case whose serial run a short probe estimates at more than S seconds (default 300), "
        "or at more than half the memory available; off runs every case without estimating it",
    )
    parser.add_argument("--resume", metavar="FILE", help="continue the run of this journal, appending to it")
    parser.add_argument("--quiet", action="store_true", help="print only the journal path and errors")


RUN_DESCRIPTION = "Run a sweep; prints the path of the journal it wrote."
EXIT_STATUS = (
    "exit status: 0 every cell ok or skipped; 1 some cell failed (the journal is written); "
    "2 bad usage (nothing is written); 130 interrupted, 143 terminated (finished cells are kept)"
)


def build_parser(prog: str = "python -m bench") -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description="Benchmark Python parallel back-ends.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Command)
    run = commands.add_parser(
        "run", help="run a sweep and write a journal", description=RUN_DESCRIPTION, epilog=EXIT_STATUS
    )
    add_run_arguments(run)
    run.set_defaults(handler=cmd_run, command="run")
    listing = commands.add_parser("list", help="executors and workloads, with availability")
    listing.set_defaults(handler=cmd_list, command="list")
    add_slurm_parser(commands)
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
    add_compare_parser(commands)
    add_export_parser(commands)
    return parser


def factor(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 1 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a factor above 1 (such as 1.10)")
    return value


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


REPORT_DESCRIPTION = (
    "Turn journals into one report: DIR/index.html (self-contained, figures inline), DIR/summary.md "
    "and each figure as DIR/figures/NAME.svg. For each workload it names the best executor, worker "
    "count, chunk size and method with its 95% interval, and the configurations that are not "
    "significantly slower. Journals of different machines or allocations are analysed apart; "
    "a previous report in DIR is replaced."
)


SLURM_DESCRIPTION = (
    "Sweeps as Slurm batch jobs. A job runs the sweep under srun --mpi=pmi2 (or mpiexec) with one "
    "rank per task: rank 0 measures, with the local executors on the first node's cores, and the "
    "other ranks are mpi-comm's workers across the allocated nodes. RUN_OPTIONS (after --) are the "
    "sweep's options, as for `run`."
)


def add_slurm_parser(commands: Any) -> None:
    from bench.slurm import LAUNCHERS

    slurm = commands.add_parser("slurm", help="sweeps as Slurm batch jobs", description=SLURM_DESCRIPTION)
    actions = slurm.add_subparsers(dest="action", required=True, parser_class=_Command)
    for action, text in (
        ("script", "print the batch script of one job"),
        ("submit", "submit one job per --nodes value; --wait waits and prints the journals"),
    ):
        parser = actions.add_parser(action, help=text, description=f"{text[0].upper()}{text[1:]}. {SLURM_DESCRIPTION}")
        parser.add_argument(
            "--nodes", type=worker_list, default=(1,), metavar="N,M", help="nodes of the allocation (default 1)"
        )
        parser.add_argument("--ntasks", type=positive_int, metavar="N", help="MPI ranks in all (default: one per node)")
        parser.add_argument("--time", default="00:30:00", metavar="T", help="time limit of the job (00:30:00)")
        parser.add_argument("--partition", metavar="P", help="Slurm partition")
        parser.add_argument("--account", metavar="A", help="Slurm account to charge")
        parser.add_argument(
            "--launcher", choices=LAUNCHERS, default="srun", help="how the job starts its ranks (srun --mpi=pmi2)"
        )
        parser.add_argument(
            "--out", type=folder, metavar="DIR", help=f"folder of the journals and job output ({DEFAULT_OUT})"
        )
        if action == "submit":
            parser.add_argument("--wait", action="store_true", help="wait for the jobs, then print their journals")
            parser.add_argument("--wait-timeout", type=seconds, metavar="S", help="give up waiting after S seconds")
        parser.add_argument("run_options", nargs=argparse.REMAINDER, metavar="-- RUN_OPTIONS")
        parser.set_defaults(handler=cmd_slurm, command=f"slurm {action}")


class _RunOptionsParser(_Parser):
    """The sweep options of a batch job: an error is one line naming them."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"RUN_OPTIONS: {message}")


def build_run_parser(prog: str, parser_class: type[_Parser] = _Parser) -> argparse.ArgumentParser:
    """The parser of the sweep script, which is ``run`` without a subcommand."""
    parser = parser_class(prog=prog, description=RUN_DESCRIPTION, epilog=EXIT_STATUS)
    add_run_arguments(parser)
    parser.set_defaults(handler=cmd_run, command=None)
    return parser


MATRIX_OPTIONS = (
    "executors",
    "workloads",
    "workers",
    "chunksizes",
    "sizes",
    "methods",
    "repeats",
    "precision",
    "max_repeats",
    "warmup",
    "oversubscribe",
    "threads",
)
RESUME_CONFLICTS = {
    **{name: "--" + name.replace("_", "-") for name in MATRIX_OPTIONS if name not in ("sizes", "oversubscribe")},
    "sizes": "--size",
    "param": "--param",
    "executor_option": "--executor-option",
    "preset": "--preset",
    "cell_timeout": "--cell-timeout",
    "max_case_time": "--max-case-time",
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
    from dataclasses import replace

    matrix = from_preset(
        args.preset or DEFAULT_PRESET,
        **overrides,
        params=params or None,
        cell_timeout=args.cell_timeout,
        executor_options=dict(args.executor_option) or None,
    )
    if args.max_case_time is not None:  # off: None, which a preset's override would take for "not given"
        matrix = replace(matrix, max_case_time=None if args.max_case_time == "off" else args.max_case_time)
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
    return exc.command_line()


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
    from bench.cpuload import busy_line, steal_line

    quiet = args.quiet or not _speaks()  # under MPI, only rank 0 shows progress
    console = make_console(quiet=quiet)
    progress = ConsoleProgress(console, quiet=quiet)
    try:
        with progress.shown():
            results = _measure(args, progress)
    except Interrupted as stop:
        if _speaks():
            how = _how_stopped(stop)
            cut = sum(cell.interrupted for cell in stop.results.cells)
            finished = f"{len(stop.results.cells) - cut} finished cell(s)" + (f" and {cut} cut short" if cut else "")
            kept = f"{finished} kept in {stop.results.path}"
            print(f"{how}; {kept}; --resume {stop.results.path} goes on", file=sys.stderr)
        return stop.status
    except PlanError as exc:
        raise UsageError(_plan_error(exc)) from None
    except JournalError as exc:
        raise UsageError(str(exc)) from None
    if not results.runs:  # a rank that served rank 0's sweep
        return 0
    print_summary(console, results.cells)
    for line in (busy_line(results.cells), steal_line(results.cells)):
        if line:
            print(f"warning: {line}", file=sys.stderr, flush=True)
    print(results.path, flush=True)
    if args.quiet:
        for cell in results.failed:
            print(f"{cell.status}: {cell.label()}: {cell.error}", file=sys.stderr)
    return 1 if results.failed else 0


def _report_folder(journals: Sequence[str], out: str | None) -> Path:
    if out:
        return Path(out)
    if len(journals) > 1:
        raise UsageError("several journals: name the report's folder with -o DIR")
    journal = Path(journals[0])
    return journal.with_name(journal.name.removesuffix(".jsonl") + "-report")


def cmd_report(args: argparse.Namespace) -> int:
    import bench
    import bench.report

    out = _report_folder(args.journals, args.out)
    try:
        bench.report.check(out)
        results = bench.load(*args.journals)
        report = bench.report.build(results)
        index = bench.report.write(report, out)
    except JournalError as exc:  # ReportError included
        raise UsageError(str(exc)) from None
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    for case in report.analysis.answered:
        if case.recommendations:
            print(case.recommendations[0])
    print(f"{len(report.figures)} figures, summary.md and index.html in {out}", file=sys.stderr)
    print(index, flush=True)
    return 0


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


def cmd_export(args: argparse.Namespace) -> int:
    import bench
    from bench.export import ExportError, to_pytest_benchmark

    try:
        results = bench.load(args.journal)
        written = to_pytest_benchmark(results, args.out)
    except (JournalError, ExportError) as exc:
        raise UsageError(str(exc)) from None
    left_out = f"; {written.left_out} cell(s) not ok, left out" if written.left_out else ""
    print(
        f"{written.benchmarks} benchmark(s) of {args.journal} in pytest-benchmark's format{left_out}", file=sys.stderr
    )
    print(written.path, flush=True)
    return 0


def _batch_specs(args: argparse.Namespace) -> list[Any]:
    """One BatchSpec per node count; UsageError for anything a job could not run."""
    from dataclasses import replace

    from bench import slurm
    from bench.plan import check_seconds, validate
    from bench.results import Journal
    from bench.slurm import BatchSpec

    run_options = list(args.run_options)
    if run_options[:1] == ["--"]:
        run_options = run_options[1:]
    out = args.out or DEFAULT_OUT
    parser = build_run_parser("RUN_OPTIONS", parser_class=_RunOptionsParser)
    parsed = parser.parse_args(run_options)  # checked here, not after the job waited in the queue
    given = [flag for flag, value in (("--out", parsed.out), ("--resume", parsed.resume)) if value]
    if given:
        raise UsageError(f"{' and '.join(given)} cannot be sweep options of a batch job; give slurm --out DIR")
    try:
        validate(replace(matrix_from_args(parsed), oversubscribe=True))  # the job's nodes bound its workers
        if args.action == "submit" and args.wait_timeout is not None:
            check_seconds(args.wait_timeout, "--wait-timeout")
        Journal.check(out)
        if args.action == "submit":  # before anything is created
            reason = slurm.unreachable()
            if reason:
                raise UsageError(reason)
        # Slurm opens the job's output file there before the script runs: the folder must exist.
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write results to {out}: {exc.strerror or exc}") from None
    except PlanError as exc:
        raise UsageError(_plan_error(exc)) from None
    except JournalError as exc:
        raise UsageError(str(exc)) from None
    if args.action == "script" and len(args.nodes) > 1:
        raise UsageError("script prints one job: give one --nodes value (submit takes a list)")
    specs = []
    for nodes in args.nodes:
        spec = BatchSpec(
            run_options=tuple(run_options),
            nodes=nodes,
            ntasks=args.ntasks,
            time=args.time,
            partition=args.partition,
            account=args.account,
            out=out,
            launcher=args.launcher,
        )
        try:
            spec.check()
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        specs.append(spec)
    return specs


def cmd_slurm(args: argparse.Namespace) -> int:
    from bench import slurm

    specs = _batch_specs(args)
    if args.action == "script":
        print(slurm.script(specs[0]), end="")
        return 0
    jobs: list[tuple[str, Any]] = []
    for spec in specs:
        try:
            job_id = slurm.submit(spec)
        except slurm.SlurmError as exc:
            print(f"{args.prog}: {exc}", file=sys.stderr)
            if jobs:
                print(f"already submitted: job(s) {', '.join(job for job, _ in jobs)}", file=sys.stderr)
            return 1
        jobs.append((job_id, spec))
        print(f"submitted job {job_id}: {spec.nodes} node(s), {spec.tasks} task(s), output in {spec.out}")
    if not args.wait:
        return 0
    ids = [job for job, _ in jobs]
    try:
        states = slurm.wait(ids, timeout=args.wait_timeout)
    except (TimeoutError, slurm.SlurmError) as exc:
        print(f"{args.prog}: {exc}; the job(s) go on (scancel {' '.join(ids)} stops them)", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        how = _how_stopped(exc)
        print(f"{how}; job(s) {', '.join(ids)} go on (scancel {' '.join(ids)} stops them)", file=sys.stderr)
        return 128 + signum_of(exc)
    return _report_jobs(args.prog, jobs, states)


def _report_jobs(prog: str, jobs: list[tuple[str, Any]], states: dict[str, str | None]) -> int:
    """Print the summary and journal of every finished job; 1 when a job did not complete,
    wrote no journal, or a cell failed."""
    from bench import slurm
    from bench.console import make_console, print_summary
    from bench.results import load

    console = make_console()
    status = 0
    for job_id, spec in jobs:
        output, state = f"{spec.out}/slurm-{job_id}.out", states.get(job_id)
        if state not in (None, "COMPLETED"):
            print(f"{prog}: job {job_id} ended {state}; see {output}", file=sys.stderr)
            status = 1
        journals = slurm.journals_of(spec.out, job_id)
        if not journals:
            print(f"{prog}: job {job_id} wrote no journal; see {output}", file=sys.stderr)
            status = 1
            continue
        for path in journals:
            results = load(path)
            console.print(f"job {job_id}: {spec.nodes} node(s), {spec.tasks} task(s)")
            print_summary(console, results.cells)
            print(path, flush=True)
            if results.failed:
                status = 1
    return status


def availability() -> dict[str, list[dict[str, Any]]]:
    """Every registered executor and workload, with the reason when it cannot run in this launch."""
    import bench.executors
    import workloads

    executors = []
    for name in bench.executors.names():
        try:
            backend = bench.executors.get(name)
            reason, description = backend.available() or backend.unsupported(1), backend.description
            options = {
                key: {"help": o.help, "default": o.default, "env": backend.env_name(key), "config": o.config}
                for key, o in backend.options.items()
            }
        except Exception as exc:  # a broken third-party plug-in is listed, not fatal
            reason, description, options = f"failed to load: {exc}", "", {}
        executors.append(
            {
                "name": name,
                "available": reason is None,
                "reason": reason,
                "description": description,
                "options": options,
            }
        )
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
                "methods": list(workload.methods),
                "params": {
                    key: {"help": param.help, "default": list(param.unswept), "choices": param.choices}
                    for key, param in workload.params.items()
                },
            }
        )
    return {"executors": executors, "workloads": loads}


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from bench.console import make_console

    data = availability()
    console = make_console()

    def new_table(title: str, *columns: str) -> Table:
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        return table

    table = new_table("Executors", "name", "available", "what / why not")
    for entry in data["executors"]:
        table.add_row(entry["name"], "yes" if entry["available"] else "no", entry["reason"] or entry["description"])
    console.print(table)
    title = "Executor options (--executor-option KEY=VALUE, else the environment, else dask's config)"
    table = new_table(title, "executor", "option", "default", "what")
    for entry in data["executors"]:
        for key, option in entry["options"].items():
            default = "" if option["default"] in (None, []) else str(option["default"])
            source = f"{option['env']}" + (f"; {option['config']}" if option["config"] else "")
            table.add_row(entry["name"], key, default, f"{option['help']} [{source}]")
    if table.row_count:
        console.print(table)
    title = "Workloads (--workloads NAME, or module:Class, path/to/file.py:Class)"
    table = new_table(title, "name", "available", "default size", "what / why not")
    for entry in data["workloads"]:
        what = entry["reason"] or entry["description"]
        if entry["methods"] != ["map", "imap", "imap_unordered"]:
            what += f" [methods: {', '.join(entry['methods'])}]"
        table.add_row(entry["name"], "yes" if entry["available"] else "no", str(entry["default_size"]), what)
    console.print(table)
    table = new_table("Workload parameters (--param KEY=V1,V2)", "workload", "param", "default", "what")
    for entry in data["workloads"]:
        for key, param in entry["params"].items():
            choices = f" (one of {', '.join(map(str, param['choices']))})" if param["choices"] else ""
            table.add_row(entry["name"], key, ",".join(map(str, param["default"])), param["help"] + choices)
    console.print(table)
    return 0


def _report_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """Warnings as one line, without Python's source line (and only on the rank that prints)."""
    if _speaks():
        print(f"warning: {message}", file=sys.stderr)


def _how_stopped(exc: BaseException) -> str:
    signum = signum_of(exc)
    return "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, ``scancel``, a batch system at walltime) stops a command as Ctrl-C does:
    files are closed and what was started is stopped (a sweep handles both on its own)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise Signalled(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _dispatch(args: argparse.Namespace, prog: str) -> int:
    warnings.showwarning = _report_warning
    args.prog = prog
    try:
        with _sigterm_as_interrupt():
            status = int(args.handler(args))
        exit_now_if_abandoned(status)
        return status
    except UsageError as exc:
        if _speaks():
            print(f"{prog}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt as exc:  # outside a sweep's measurements (which say what they kept)
        if _speaks():
            print(_how_stopped(exc), file=sys.stderr)
        return 128 + signum_of(exc)


def main(argv: Sequence[str] | None = None, prog: str = "python -m bench") -> int:
    """``python -m bench COMMAND ...``."""
    args = build_parser(prog).parse_args(argv)
    return _dispatch(args, f"{prog} {args.command}")


def run_main(argv: Sequence[str] | None = None, prog: str = "python bench/run.py") -> int:
    """The sweep script: ``python bench/run.py ...``, the same as ``python -m bench run ...``."""
    args = build_run_parser(prog).parse_args(argv)
    return _dispatch(args, prog)


def exit_now_if_abandoned(status: int) -> None:
    """End the process with ``status`` without waiting for work an aborted executor left running
    (a thread or an MPI worker stuck in a task would keep it from ending); the journal is complete by then."""
    from bench.executors.base import ABANDONED

    if not ABANDONED:
        return
    if _speaks():
        print(f"ending without waiting for work left running: {'; '.join(dict.fromkeys(ABANDONED))}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    from bench import scratch

    lib = sys.modules.get("mpi4py.MPI")
    mpi_running = lib is not None and lib.Is_initialized() and not lib.Is_finalized()
    scratch.aborting = mpi_running  # what the abort leaves goes with this process's folder, at the next sweep
    # multiprocessing's exit clean-up (its temporary folder, with the forkserver's socket), which both
    # ways out below skip; the executors have all been shut down by now
    clean_up = getattr(sys.modules.get("multiprocessing.util"), "_exit_function", None)
    if callable(clean_up):
        clean_up()
    if lib is not None and mpi_running:
        # MPI workers of this job (spawned, or the ranks of a launch) end with it, and so does the status;
        # MPICH's abort notice goes to /dev/null, since the line above said why.
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        lib.COMM_WORLD.Abort(status)
    os._exit(status)
