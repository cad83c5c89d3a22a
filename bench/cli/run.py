"""``run`` (and ``python bench/run.py``): the matrix from the options, the sweep or resume, the summary."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from bench.cli.common import (
    UsageError,
    _how_stopped,
    _list_of,
    _Parser,
    _speaks,
    chunk_spec,
    folder,
    option_assignment,
    param_assignment,
    percentage,
    positive_int,
    repeats_spec,
    seconds,
    seconds_or_off,
    threads_spec,
    worker_list,
)
from bench.data import stats
from bench.data.format import percent_text
from bench.data.journal import JournalError, Results
from bench.data.matrix import BLOCKS, BLOCKS_VARIABLE, NOISE_S, NOISE_VARIABLE
from bench.host import inner_threads
from bench.measuring.plan import (
    AUTO_MIN_ROUNDS,
    MAX_WORKERS_PER_CORE,
    MIN_BLOCK_ROUNDS,
    PRESETS,
    WARMUPS,
    Matrix,
    PlanError,
)
from bench.measuring.preflight import MEMORY_SHARE
from bench.measuring.runner import Interrupted, resume, sweep

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bench.cli.progress import ConsoleProgress
    from bench.data.schema import CellRecord


def _default(name: str) -> Any:
    """A Matrix field's default: the one value, which the help texts quote."""
    return {spec.name: spec.default for spec in dataclasses.fields(Matrix)}[name]


def _percent(fraction: float) -> str:
    """``3%%``: a percentage inside an argparse help text."""
    return f"{fraction:.0%}".replace("%", "%%")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option of a sweep: the matrix, how it is measured, where it goes."""
    matrix = parser.add_argument_group("matrix (each list is a sweep dimension; presets set defaults)")
    _what_arguments(matrix)
    _rounds_arguments(matrix)
    _setting_arguments(matrix)
    _run_arguments(parser)


def _what_arguments(matrix: Any) -> None:
    """What is measured: back-ends, workloads, workers, chunk sizes, sizes, methods, inner threads."""
    from bench.data.chunks import AUTO_TASKS_PER_WORKER
    from bench.executors.base import WINDOW_PER_WORKER

    matrix.add_argument("--executors", type=_list_of(str, "names"), metavar="A,B", help="back-ends (default: all)")
    quick = ", ".join(PRESETS[DEFAULT_PRESET]["workloads"])
    matrix.add_argument(
        "--workloads",
        type=_list_of(str, "names"),
        metavar="A,B",
        help="workloads, registered (`list` names them) or your own as module:Class or file.py:Class "
        f"(default: the preset's; {DEFAULT_PRESET} measures {quick})",
    )
    matrix.add_argument("--workers", type=worker_list, metavar="1,2,4", help="worker counts; ranges such as 1-4 work")
    matrix.add_argument(
        "--chunksizes",
        type=_list_of(chunk_spec, "chunk sizes"),
        metavar="1,8,auto",
        help=f"items per task; auto = ceil(items / ({AUTO_TASKS_PER_WORKER} x workers)); native = the library's "
        "own default (Pool.map's rule, joblib's adaptive batching, one item per task for the others)",
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
        f"{WINDOW_PER_WORKER} chunks per worker in flight (default: each workload's own, map for all but "
        "fibprimes-first)",
    )
    matrix.add_argument(
        "--threads",
        type=_list_of(threads_spec, "thread counts"),
        metavar="N,auto,default",
        help="threads each worker's native libraries (BLAS, OpenMP) may use: "
        f"{inner_threads.AUTO} (default) gives each worker cores / workers, at least 1; a number sets it; "
        f"{inner_threads.DEFAULT} leaves each library (and Dask) as it starts. The paired serial baseline "
        "always has one thread per core",
    )


def _rounds_arguments(matrix: Any) -> None:
    """How many rounds, to what precision, after which warm-up."""
    matrix.add_argument(
        "--repeats",
        type=repeats_spec,
        metavar="R|auto|race",
        help="timed rounds per cell, each with a paired serial baseline; auto: rounds until the 95%% "
        f"interval of the speedup is within --precision (at least {AUTO_MIN_ROUNDS}, at most --max-repeats); "
        "race: as auto, and a cell also stops once it is significantly slower than the best cell of its case",
    )
    matrix.add_argument(
        "--precision",
        type=percentage,
        metavar="P",
        help=f"target half-width of the interval with --repeats auto or race ({_percent(_default('precision'))})",
    )
    matrix.add_argument(
        "--max-repeats",
        type=positive_int,
        metavar="N",
        help=f"most rounds with --repeats auto or race ({_default('max_repeats')})",
    )
    warmups = {"short": "one chunk per worker before the timed rounds", "full": "one whole run"}
    matrix.add_argument(
        "--warmup",
        choices=WARMUPS,
        help="; ".join(
            f"{name}{' (default)' if name == _default('warmup') else ''}: {warmups[name]}" for name in WARMUPS
        ),
    )


def _setting_arguments(matrix: Any) -> None:
    """Limits, workload parameters, back-end settings and presets."""
    matrix.add_argument(
        "--oversubscribe",
        action="store_true",
        default=None,
        help=f"allow more local workers than {MAX_WORKERS_PER_CORE} per available core",
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


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the journal goes, the limits of a cell and a case, traces, resume, output."""
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
        help="refuse a case whose serial run a short probe estimates at more than S seconds (default "
        f"{_default('max_case_time'):g}), or at more than {_percent(MEMORY_SHARE)} of the memory available; off runs "
        "every case without estimating it",
    )
    parser.add_argument(
        "--trace",
        choices=("on", "off"),
        help=f"on{' (default)' if _default('trace') else ''}: one extra, untimed traced run per ok cell and a "
        f"traced serial run per case, for the POP efficiency metrics and the timelines of the report; "
        f"off{'' if _default('trace') else ' (default)'}: none",
    )
    parser.add_argument(
        "--memory",
        choices=("on", "off"),
        help=f"on{' (default)' if _default('memory') else ''}: one extra, untimed run per ok cell that measures "
        f"the driver's peak memory; off{'' if _default('memory') else ' (default)'}: none",
    )
    parser.add_argument(
        "--noise",
        type=seconds,
        metavar="S",
        help=f"seconds of the machine's noise probe before the sweep (bench doctor's, short; default: "
        f"{NOISE_VARIABLE} where set, else {NOISE_S:g}); 0: none",
    )
    parser.add_argument(
        "--blocks",
        type=positive_int,
        metavar="N",
        help=f"spread each cell's rounds over N blocks, each on a fresh executor instance at another moment of the "
        f"sweep, so that its intervals hold from one run to the next (default: {BLOCKS_VARIABLE} where set, else "
        f"{BLOCKS}; at most one block per {MIN_BLOCK_ROUNDS} rounds); 1: every round of a group in one go",
    )
    parser.add_argument("--resume", metavar="FILE", help="continue the run of this journal, appending to it")
    parser.add_argument("--quiet", action="store_true", help="print only the journal path and errors")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the cells the options ask for, one per line with the reason of those that would be skipped, "
        "and stop: nothing is started, measured or written",
    )


RUN_DESCRIPTION = "Run a sweep; prints the path of the journal it wrote."


EXIT_STATUS = (
    "exit status: 0 every cell ok or skipped; 1 some cell failed (the journal is written); "
    "2 bad usage (nothing is written); 130 interrupted, 143 terminated (finished cells are kept)"
)


def add_run_parser(commands: Any) -> None:
    run = commands.add_parser(
        "run", help="run a sweep and write a journal", description=RUN_DESCRIPTION, epilog=EXIT_STATUS
    )
    add_run_arguments(run)
    run.set_defaults(handler=cmd_run, command="run")


class _RunOptionsParser(_Parser):
    """The sweep options of a batch job: an error is one line naming them."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"RUN_OPTIONS: {message}")


def build_run_parser(
    prog: str = "python bench/run.py", parser_class: type[_Parser] = _Parser
) -> argparse.ArgumentParser:
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
    "trace": "--trace",
    "memory": "--memory",
    "noise": "--noise",
    "blocks": "--blocks",
    "out": "--out",
}


DEFAULT_PRESET = "quick"


DEFAULT_OUT = "results"


def matrix_from_args(args: argparse.Namespace) -> Matrix:
    """The Matrix the options ask for: the preset with the options laid over it."""
    from bench.measuring.plan import from_preset

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
    if args.trace is not None:
        matrix = replace(matrix, trace=args.trace == "on")
    if args.memory is not None:
        matrix = replace(matrix, memory=args.memory == "on")
    if args.noise is not None:
        matrix = replace(matrix, noise=args.noise)
    if args.blocks is not None:
        matrix = replace(matrix, blocks=args.blocks)
    if matrix.repeats not in ("auto", "race"):
        ignored = [
            flag for flag, value in (("--precision", args.precision), ("--max-repeats", args.max_repeats)) if value
        ]
        if ignored:
            raise UsageError(
                f"{' and '.join(ignored)} {'apply' if len(ignored) > 1 else 'applies'} only with --repeats auto or race"
            )
    return matrix


def _plan_error(exc: PlanError) -> str:
    """The message of a PlanError, naming the option that would allow what it refuses."""
    return exc.command_line()


def _measure(args: argparse.Namespace, progress: ConsoleProgress) -> Results:

    if args.resume:
        given = [flag for name, flag in RESUME_CONFLICTS.items() if getattr(args, name) not in (None, [])]
        if given:
            raise UsageError(f"--resume takes the matrix from the journal; drop {', '.join(given)}")
        return resume(args.resume, progress=progress, oversubscribe=bool(args.oversubscribe))
    return sweep(matrix_from_args(args), args.out or DEFAULT_OUT, progress=progress)


def _dry_run(args: argparse.Namespace) -> int:
    """The cells of the sweep, planned by the code that runs it, and nothing started."""
    from bench.measuring.plan import build

    if args.resume:
        raise UsageError("--dry-run plans a new sweep; drop --resume (the journal's remaining cells run with it)")
    try:
        groups = build(matrix_from_args(args))
    except PlanError as exc:
        raise UsageError(_plan_error(exc)) from None
    if not _speaks():
        return 0
    from bench.cli.common import make_console, print_note

    console = make_console()  # in a terminal each line wraps at word boundaries; in a pipe it stays whole
    cells = [cell for group in groups for cell in group.cells]
    skipped = [cell for cell in cells if cell.skip_reason]
    for cell in cells:
        print_note(console, cell.label() + (f"  (skipped: {cell.skip_reason})" if cell.skip_reason else ""))
    print_note(
        console,
        f"dry run: {len(cells) - len(skipped)} cell(s) to measure, {len(skipped)} skipped, "
        f"in {len(groups)} executor instance(s); nothing was started or written",
    )
    return 0


def precision_line(cells: Sequence[CellRecord]) -> str | None:
    """What the cells that ran out of rounds before their precision (``>``) would need: the rounds that
    would reach it at the spread they showed, and the precision their rounds gave; None without such."""
    short = [c for c in cells if c.precision_reached is False and c.stats is not None and c.precision]
    if not short:
        return None
    asked = short[0].precision or 0.0
    needed = sorted(stats.rounds_for(c.stats.estimate, asked) for c in short if c.stats is not None)
    given = sorted(c.stats.estimate.relative_half_width for c in short if c.stats is not None)
    rounds = max(c.rounds or len(c.times_s) for c in short)

    def span(values: Sequence[Any], text: Any) -> str:
        return text(values[0]) if text(values[0]) == text(values[-1]) else f"{text(values[0])} to {text(values[-1])}"

    return (
        f">: {len(short)} cell(s) ran out of rounds ({rounds}) before ±{percent_text(asked)}; at the spread their "
        f"rounds showed, that takes about {span(needed, str)} rounds (--max-repeats), and ±{span(given, percent_text)} "
        "is what their rounds gave here"
    )


def cmd_run(args: argparse.Namespace) -> int:
    from bench.cli.common import make_console, print_note
    from bench.cli.progress import ConsoleProgress
    from bench.cli.summary import print_summary

    if args.dry_run:
        return _dry_run(args)
    from bench.cli import supervise

    if supervise.wanted(args):
        return supervise.parent(args)
    from bench.analysis.findings import noise_explains
    from bench.host.cpuload import busy_line, steal_line
    from bench.host.noise import Noise

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
    for probe in results.noise:
        found = Noise.from_json(probe.to_json())
        print_note(console, found.summary())
        if any(cell.stats is not None and cell.stats.suspicious for cell in results.cells):
            print_note(console, f"!:{noise_explains(found)}")
    short = precision_line(results.cells)
    if short:
        print_note(console, short)
    for line in (busy_line(results.cells), steal_line(results.cells)):
        if line:
            print(f"warning: {line}", file=sys.stderr, flush=True)
    print(results.path, flush=True)
    if args.quiet:
        for cell in results.failed:
            print(f"{cell.status}: {cell.label()}: {cell.error}", file=sys.stderr)
    return 1 if results.failed else 0
