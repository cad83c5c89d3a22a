"""Sweeps: plan a matrix, measure it group by group, keep every cell as a record.

:func:`sweep` and :func:`resume` are the entry points of the Python API
(``bench.sweep``, ``bench.resume``) and of the command line. Under an MPI
launcher the same call works on every rank: rank 0 runs the sweep while the
other ranks serve it (``mpi-comm`` workers) until it is done.
"""

from __future__ import annotations

import itertools
import os
import signal
import statistics
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import bench.executors
from bench.data import stats
from bench.data.journal import Journal, JournalError, Results, load, new_run_id, utc_now
from bench.data.schema import NO_CHUNKS, CellRecord, NoiseRecord, ResumeRecord, RunRecord, TraceRecord
from bench.executors.base import STOP_SIGNALS
from bench.host import mpi_launch, noise, scratch
from bench.host.cpuload import Meter
from bench.measuring import steps
from bench.measuring.measure import (
    CellResult,
    Context,
    NullReporter,
    Reporter,
    Rounds,
    Verifier,
    baseline_method,
    measure_group,
)
from bench.measuring.plan import (
    Cell,
    Group,
    Matrix,
    PlanError,
    build,
    noise_seconds,
    sweep_blocks,
    validate,
    without,
)
from bench.measuring.race import Race

__all__ = [
    "Interrupted",
    "Progress",
    "ProgressCallback",
    "Signalled",
    "cell_record",
    "resume",
    "race_of",
    "rounds_of",
    "run_race",
    "run_groups",
    "signum_of",
    "sweep",
    "total_runs",
]


class Interrupted(KeyboardInterrupt):
    """A sweep stopped by an interrupt (SIGINT) or SIGTERM: ``results`` holds every cell finished before it.

    ``results.path`` is the journal (when there is one), which keeps them too;
    ``signum`` is the signal and ``status`` the conventional exit status (130, 143).
    """

    def __init__(self, results: Results, signum: int = signal.SIGINT) -> None:
        super().__init__("interrupted" if signum == signal.SIGINT else signal.Signals(signum).name)
        self.results, self.signum = results, int(signum)

    @property
    def status(self) -> int:
        return 128 + self.signum


class Signalled(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived (during a sweep, or a command that handles SIGTERM as Ctrl-C)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signum_of(exc: BaseException) -> int:
    """The signal that stopped a sweep or command (SIGINT for a plain KeyboardInterrupt)."""
    return int(getattr(exc, "signum", signal.SIGINT))


class Progress(NullReporter):
    """Receives the progress of a sweep; override what you need (each method here does nothing).

    ``sweep_started`` gets the planned cells and the number of runs expected;
    ``run_started``/``run_finished`` bracket every warm-up, timed and baseline
    run; ``expect`` corrects the number still to come (cells that stop early
    or fail); ``cell_finished`` gets each cell's record as soon as it is kept.
    """

    def sweep_started(self, cells: Sequence[Cell], runs: int) -> None:
        pass

    def cell_finished(self, record: CellRecord) -> None:
        pass


#: A plain callback, ``progress(done_runs, expected_runs, label)``, called after every run.
ProgressCallback = Callable[[int, int, str], None]


class _Callback(Progress):
    def __init__(self, callback: ProgressCallback) -> None:
        self._callback, self._done, self._total, self._label = callback, 0, 0, ""

    def sweep_started(self, cells: Sequence[Cell], runs: int) -> None:
        self._total = runs

    def run_started(self, label: str, phase: str) -> None:
        self._label = f"{label} {phase}"

    def run_finished(self) -> None:
        self._done += 1
        self._callback(self._done, self._total, self._label)

    def expect(self, runs: int) -> None:
        self._total += runs


def _progress(progress: Progress | ProgressCallback | None) -> Progress:
    if progress is None:
        return Progress()
    if isinstance(progress, Progress):
        return progress
    if all(hasattr(progress, name) for name in ("run_started", "run_finished", "expect")):
        return progress  # type: ignore[return-value] # a duck-typed Progress
    if callable(progress):
        return _Callback(progress)
    raise TypeError(f"progress must be a bench.Progress or a callable, not {type(progress).__name__}")


class _Interrupts(Progress):
    """Ctrl-C that cannot be lost: remembered, and raised again at the next run.

    Python ignores an exception raised in a finalizer (``__del__``), and a
    library's finalizer (Dask's futures release themselves that way) may be
    running when SIGINT arrives: the KeyboardInterrupt would vanish and the
    sweep go on (after a report on stderr). The handler raises it as usual
    and also remembers it, every run checks, and the report is dropped.
    """

    SIGNALS = STOP_SIGNALS

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self.pending: int | None = None
        self._holding = self._deferred = False

    def _handler(self, signum: int, frame: object) -> None:
        if self.pending is not None:  # already stopping: let the clean-up (cancelling jobs) finish
            return
        self.pending = signum
        if self._holding:
            self._deferred = True
        else:
            raise Signalled(signum)

    @contextmanager
    def held(self) -> Iterator[None]:
        """A signal that arrives inside is raised when the block is done (a journal line is written whole)."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        if self._deferred and self.pending is not None:
            self._deferred = False
            raise Signalled(self.pending)

    @contextmanager
    def installed(self) -> Iterator[_Interrupts]:
        """Handle SIGINT, SIGTERM and SIGHUP this way while the sweep runs (in the main thread only).

        SIGTERM (what ``scancel`` and batch systems send) and SIGHUP (a closed terminal) stop the sweep as
        Ctrl-C does:
        executors release their workers and jobs, and the journal keeps what finished.
        """
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {signum: signal.signal(signum, self._handler) for signum in self.SIGNALS}
        hook = sys.unraisablehook

        def unraisable(report: Any) -> None:
            if not isinstance(report.exc_value, KeyboardInterrupt):  # that one is remembered
                hook(report)

        sys.unraisablehook = unraisable
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            sys.unraisablehook = hook

    def _check(self) -> None:
        if self.pending is not None:
            raise Signalled(self.pending)

    def sweep_started(self, cells: Sequence[Cell], runs: int) -> None:
        self._progress.sweep_started(cells, runs)

    def run_started(self, label: str, phase: str) -> None:
        self._check()
        self._progress.run_started(label, phase)

    def run_finished(self) -> None:
        self._progress.run_finished()
        self._check()

    def expect(self, runs: int) -> None:
        self._progress.expect(runs)

    def cell_finished(self, record: CellRecord) -> None:
        self._progress.cell_finished(record)


def rounds_of(matrix: Matrix) -> Rounds:
    """The measurement protocol a matrix asks for."""
    return Rounds(
        repeats=matrix.repeats,
        precision=matrix.precision,
        max_repeats=matrix.max_repeats,
        warmup=matrix.warmup,
        cell_timeout=matrix.cell_timeout,
        trace=matrix.trace,
        memory=matrix.memory,
        blocks=sweep_blocks(matrix),
    )


def resolved_chunksize(result: CellResult) -> int:
    """The cell's chunk size; where the library sized the chunks as it ran, the median of the runs' mean."""
    runs = [run["items"] / run["chunks"] for run in result.native_chunks or () if run.get("chunks")]
    return max(1, round(statistics.median(runs))) if runs else result.cell.chunksize


#: The fields a cell record takes as they are: from the planned cell, and from what measuring it produced.
FROM_CELL = (
    "executor",
    "workers",
    "workload",
    "size",
    "chunksize_spec",
    "method",
    "threads",
    "items",
    "oversubscribed",
)
FROM_RESULT = (
    "status", "threads_per_worker", "threadpools", "load", "stopped", "pop", "native_chunks", "prior_rounds",
    "options", "startup_s", "warmup", "warmup_items", "warmup_s", "times_s", "baseline_s", "baseline_error",
    "precision_reached", "teardown_s", "error", "traceback", "answer", "verified", "instance", "window",
    "driver_peak_bytes", "memory_error", "trace_error", "profile_error", "trace_walls_s", "crashed",
)  # fmt: skip


def cell_record(run_id: str, result: CellResult, rounds: Rounds) -> CellRecord:
    """The record of one measured or skipped cell."""
    cell = result.cell
    return CellRecord(
        run_id=run_id,
        **{name: getattr(cell, name) for name in FROM_CELL},
        **{name: getattr(result, name) for name in FROM_RESULT},
        chunksize=resolved_chunksize(result),
        params=cell.param_dict,
        baseline_threads=result.baseline_threads if result.baseline_s is not None else None,
        eliminated_by=_eliminated_by(result),
        blocks=result.blocks if len(result.blocks) > 1 else None,
        rounds=len(result.times_s),
        precision=rounds.precision if rounds.adaptive else None,
        finished=utc_now(),
        **result.placement,
    )


def _eliminated_by(result: CellResult) -> dict[str, Any] | None:
    event = result.eliminated if result.stopped == "eliminated" else None
    return None if event is None else {"leader": event.leader, "p": event.to_json()["p"], "round": event.round}


def race_of(groups: list[Group], rounds: Rounds, **rules: Any) -> Race | None:
    """The race of a sweep with ``repeats="race"`` (else None): every runnable cell with a paired baseline
    enters, against the other cells of its case."""
    if not rounds.racing:
        return None
    import workloads

    entrants = [
        (cell.key, cell.case, cell.label())
        for group in groups
        if bench.executors.get(group.executor).paired
        for cell in group.cells
        if not cell.skip_reason and workloads.get(cell.workload).baseline
    ]
    return Race.of(entrants, **rules)


def trace_records(run_id: str, result: CellResult) -> list[TraceRecord]:
    """The trace record of a cell's traced run, and the one of its case's serial run (the profile) that the
    traced run was compared with (written once, before the first cell that used it)."""
    from bench.measuring import trace as tracing

    cell, records = result.cell, []
    # what names the cell (a profile: its case, beside the cell's executor group)
    key: dict[str, Any] = {
        "run_id": run_id,
        "executor": cell.executor,
        "workers": cell.workers,
        "workload": cell.workload,
        "size": cell.size,
        "params": cell.param_dict,
        "threads": cell.threads,
        "instance": result.instance,
    }
    if result.profile is not None:
        records.append(
            TraceRecord(
                **key,
                role="profile",
                chunksize=1,
                chunksize_spec=NO_CHUNKS,
                method=baseline_method(cell.workload),
                **tracing.compact(result.profile, tracing.MAX_PROFILE_ITEMS),
            )
        )
    if result.trace is not None:
        records.append(
            TraceRecord(
                **key,
                role="cell",
                chunksize=cell.chunksize,
                chunksize_spec=cell.chunksize_spec,
                method=cell.method,
                median_s=stats.median(result.times_s) if result.times_s else None,
                serial_s=None if result.serial_s is None else round(result.serial_s, 7),
                serial_scale=None if result.serial_scale is None else round(result.serial_scale, 4),
                **tracing.compact(result.trace),
            )
        )
    return records


def total_runs(groups: list[Group], rounds: Rounds) -> int:
    """Warm-up, timed, memory and traced runs, paired baselines included, if no cell stops early (for progress)."""
    total = 0
    for group in groups:
        runnable = [cell for cell in group.cells if not cell.skip_reason]
        if not runnable:
            continue
        cases = len({cell.case for cell in runnable})
        baselines = cases if bench.executors.get(group.executor).paired else 0
        total += (rounds.blocks + rounds.most) * (len(runnable) + baselines) + (len(runnable) if rounds.memory else 0)
        total += len(runnable) + cases if rounds.trace else 0
    return total


def run_groups(
    groups: list[Group],
    run_id: str,
    rounds: Rounds,
    *,
    reporter: Reporter,
    first_instance: int = 1,
    on_record: Callable[[CellRecord | TraceRecord], None] = lambda record: None,
    race: Race | None = None,
) -> list[CellRecord | TraceRecord]:
    """Measure every group; returns the cell records (each followed by its trace records), each also passed
    to ``on_record`` as soon as it exists.

    Executor instances are numbered from ``first_instance`` on, restarts included. When an
    interrupt stops a group, the cells it had finished are passed to ``on_record`` before the
    interrupt goes on. With ``race``, groups are measured in their order against the best cells of
    the groups before them (``bench.measuring.race``); once its budget is spent, the groups left are skipped.
    """
    records: list[CellRecord | TraceRecord] = []
    profiles: set[int] = set()

    def keep(results: list[CellResult]) -> None:
        for result in results:
            if result.profile is not None and id(result.profile) in profiles:
                result.profile = None  # written once, with the first cell traced beside it
            elif result.profile is not None:
                profiles.add(id(result.profile))
            made: list[CellRecord | TraceRecord] = [cell_record(run_id, result, rounds), *trace_records(run_id, result)]
            for record in made:
                records.append(record)
                on_record(record)

    # the cells a stopped group had finished are kept too
    context = Context(
        Verifier(), reporter, itertools.count(first_instance), meter=_meter(), race=race, on_interrupt=keep
    )
    if race is not None:
        race.start()
    try:
        for block in range(1, rounds.blocks + 1):
            context.block = block
            for group in groups:
                _measure_block(group, rounds, context, keep, race)
    except BaseException:  # cells waiting for their next block keep the rounds they have, for --resume
        for result in context.carried.values():
            result.done, result.stopped, result.paused = True, "interrupted", False
        keep(list(context.carried.values()))
        raise
    return records


def _measure_block(
    group: Group, rounds: Rounds, context: Context, keep: Callable[[list[CellResult]], None], race: Race | None
) -> None:
    """One block of a group: its cells still going measure this block's rounds on a fresh instance; those
    that finished (or failed, or are skipped) go to ``keep``, the others wait in ``context.carried``."""
    first = context.block == 1
    going = [cell for cell in group.cells if not cell.skip_reason and (first or cell.key in context.carried)]
    if race is not None and race.spent and going:
        # none of its runs in this block or a later one will come
        left = rounds.blocks - context.block + 1
        context.reporter.expect(-total_runs([group], rounds) * left // rounds.blocks)
        if first:
            keep([_skipped(cell) for cell in _unraced(group).cells])
            return
        waiting = [context.carried.pop(cell.key) for cell in going]
        for result in waiting:  # measured in the blocks before: kept with the rounds they have
            result.done, result.stopped, result.paused = True, "budget", False
        keep(waiting)
        return
    measured: dict[Cell, CellResult] = {}
    if going:
        backend = bench.executors.get(group.executor)
        results = measure_group(backend, replace(group, cells=tuple(going)), rounds, context)
        measured = {result.cell: result for result in results}
    for result in measured.values():
        if result.going:
            context.carried[result.cell.key] = result
    # a cell's record comes once: in the first block for those skipped, else in the block it ends in
    ended = [measured.get(cell) or _skipped(cell) for cell in (group.cells if first else going)]
    keep([result for result in ended if not result.going])


def _unraced(group: Group) -> Group:
    why = "not measured: the race's time budget was spent"
    return replace(
        group, cells=tuple(cell if cell.skip_reason else replace(cell, skip_reason=why) for cell in group.cells)
    )


def _skipped(cell: Cell) -> CellResult:
    return CellResult(cell, status="skipped", error=cell.skip_reason, threads_per_worker=cell.threads_per_worker)


def _meter() -> Meter | None:
    """The load meter of a sweep, where the machine lets it read its counters."""
    try:
        return Meter()
    except (ImportError, OSError, RuntimeError):
        return None


def run_env(groups: list[Group]) -> dict[str, Any]:
    """Provenance of the run, with the metadata of each executor that will run."""
    from bench.host.provenance import collect_env

    running = dict.fromkeys(g.executor for g in groups if not g.skipped)
    return {**collect_env(), "executors": {name: bench.executors.get(name).metadata() for name in running}}


def _on_rank_zero(work: Callable[[], Results]) -> Results:
    """Run ``work`` on rank 0 of an MPI launch while the other ranks serve it; alone otherwise."""
    if not mpi_launch.launched():
        return work()
    try:
        size, rank = mpi_launch.world_size(), mpi_launch.rank()
    except ImportError:
        raise PlanError(f"launched by MPI but mpi4py is missing: {mpi_launch.INSTALL_HINT}") from None
    if size == 1 and mpi_launch.launcher_size() > 1:
        library = mpi_launch.describe()["mpi_library"] or "unknown"
        raise PlanError(
            f"the launcher started {mpi_launch.launcher_size()} processes but mpi4py sees a world of 1 in each: "
            f"mpiexec and mpi4py's MPI library ({' '.join(library.splitlines()[0].split())}) do not match; use the "
            "mpiexec of that library (the mpich wheel's is in the virtualenv's bin/), or point mpi4py at "
            "the launcher's with MPI4PY_LIBMPI"
        )
    if size == 1:
        return work()
    if rank != 0:
        mpi_launch.serve()
        return Results([], [])
    mpi_launch.own_launch_files()
    try:
        return work()
    finally:
        mpi_launch.stop_servers()


def _measure(
    groups: list[Group],
    journal: Journal | None,
    run_id: str,
    matrix: Matrix,
    reporter: _Interrupts,
    first_instance: int,
    kept: list[CellRecord | TraceRecord],
    race: Race | None = None,
) -> list[CellRecord | TraceRecord]:
    """Measure the groups; ``kept`` holds every finished cell (and its traces), also when an interrupt ends
    it early. ``race``: the race they run (default: the matrix's, where it asks for one). ``reporter``
    is installed (``_Interrupts.installed``)."""
    rounds = rounds_of(matrix)
    if race is None and rounds.racing:
        groups = racing_order(groups)
    reporter.sweep_started([cell for group in groups for cell in group.cells], total_runs(groups, rounds))

    def finished(record: CellRecord | TraceRecord) -> None:
        with reporter.held():
            if journal is not None:
                journal.write(record)
            kept.append(record)
            if isinstance(record, CellRecord):
                reporter.cell_finished(record)

    return run_groups(
        groups,
        run_id,
        rounds,
        reporter=reporter,
        first_instance=first_instance,
        on_record=finished,
        race=race if race is not None else race_of(groups, rounds),
    )


def racing_order(groups: list[Group]) -> list[Group]:
    """The groups of a racing sweep from the most workers down (in matrix order among equals): the likely
    leaders race first, so that the slower cells meet a strong leader after their first rounds."""
    return sorted(groups, key=lambda group: -group.workers)


def sweep(
    matrix: Matrix,
    out: str | os.PathLike[str] | None = None,
    *,
    progress: Progress | ProgressCallback | None = None,
    argv: Sequence[str] | None = None,
) -> Results:
    """Measure every cell of ``matrix``; returns its results.

    With ``out`` (a folder), every record is also appended to the new journal
    ``out/<run_id>.jsonl`` as soon as it exists (``results.path``); without,
    the results stay in memory. ``progress`` is a :class:`Progress` or a
    callable ``progress(done_runs, expected_runs, label)``. ``argv`` is the
    command line recorded in the run record (default ``sys.argv``).

    Raises PlanError for a matrix that cannot run and JournalError for an
    output folder that cannot be written, before anything is measured or
    written. Under an MPI launcher, call it on every rank: rank 0 measures
    and returns the results, the other ranks serve it and return empty ones.
    """
    # Every rank checks what it can before MPI starts, so that bad input ends them all alike.
    validate(matrix)
    if out is not None:
        Journal.check(out)
    reporter = _progress(progress)
    return _on_rank_zero(lambda: _sweep(matrix, out, reporter, argv))


def _any_runnable(groups: list[Group]) -> bool:
    return any(not cell.skip_reason for group in groups for cell in group.cells)


def _runnable(groups: list[Group]) -> None:
    """PlanError when no cell of the matrix can run here, with the reasons."""
    if _any_runnable(groups):
        return
    reasons = list(dict.fromkeys(cell.skip_reason for group in groups for cell in group.cells if cell.skip_reason))
    more = f" (and {len(reasons) - 2} more reasons)" if len(reasons) > 2 else ""
    raise PlanError(f"nothing to measure: every cell would be skipped: {'; '.join(reasons[:2])}{more}")


def _estimate(groups: list[Group], matrix: Matrix, crashes: Sequence[steps.Step] = ()) -> None:
    """PlanError for a case whose serial run is estimated to outgrow the machine's memory or
    ``matrix.max_case_time`` (a short probe of each case; none without a bound). A case that crashed
    the measuring process (``crashes``) is not probed again."""
    from bench.executors.local import Serial
    from bench.measuring import preflight

    if matrix.max_case_time is None:
        return
    available = preflight.available_memory()
    crashed = [crash.case for crash in crashes if crash.driver]
    for cell in preflight.cases(_cells(groups)).values():
        if steps.plain(cell.case) in crashed:
            continue
        with steps.running(cell, "estimate probe", driver=True, whole_case=True):
            found = preflight.probe(
                cell.workload, cell.size, cell.param_dict, cell.case_label(), Serial.worker_cores(1)
            )
        reason = preflight.refusal(found, matrix.max_case_time, available) if found else None
        if reason:
            raise PlanError(reason, allowed_by="max_case_time")


def _cells(groups: list[Group]) -> list[Cell]:
    return [cell for group in groups for cell in group.cells]


def _crashed(groups: list[Group], crashes: Sequence[steps.Step], done: set[Any]) -> list[tuple[Cell, steps.Step]]:
    """The runnable cells of ``groups`` not in ``done`` that a crash of the measuring process or launch fails."""
    runnable = [cell for cell in _cells(groups) if not cell.skip_reason and cell.key not in done]
    return steps.crashed_cells(crashes, runnable)


def _record_crashes(
    crashed: list[tuple[Cell, steps.Step]], run_id: str, rounds: Rounds, journal: Journal, kept: list[Any]
) -> None:
    """An ``error`` record with ``crashed`` for each cell a crash fails."""
    for cell, crash in crashed:
        result = CellResult(cell, status="error", error=crash.error(), crashed=crash.record())
        result.threads_per_worker = cell.threads_per_worker
        record = cell_record(run_id, result, rounds)
        journal.write(record)
        kept.append(record)


def _idle_ranks(groups: list[Group]) -> None:
    """One line when ranks of this MPI launch serve no cell: they serve mpi-comm's executors only."""
    ranks = mpi_launch.world_size() - 1 if mpi_launch.launched() else 0
    if ranks < 1:
        return
    used = max((group.workers for group in groups if group.executor == "mpi-comm" and not group.skipped), default=0)
    if used >= ranks:
        return
    if not used:
        warnings.warn(
            f"the {ranks} worker rank(s) of this launch serve only mpi-comm, which no cell here runs: "
            "add --executors mpi-comm, or run without mpiexec",
            stacklevel=3,
        )
        return
    idle = f"rank {ranks}" if used + 1 == ranks else f"ranks {used + 1}-{ranks}"
    warnings.warn(
        f"{idle} of this launch serve no cell (mpi-comm uses at most {used} worker rank(s)): "
        f"--workers {ranks} uses them, or launch with -n {used + 1}",
        stacklevel=3,
    )


def _probe_noise(run_id: str, seconds: float, journal: Journal | None, kept: list[Any]) -> noise.Noise | None:
    """The machine's noise for ``seconds`` (``bench.host.noise``), before anything starts: its record goes
    after the run's. A probe that fails is said and the sweep goes on (None, as without a probe)."""
    if seconds <= 0:
        return None
    try:
        found = noise.probe(seconds)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        warnings.warn(f"the noise probe failed ({exc}); the sweep goes on without it", stacklevel=3)
        return None
    record = NoiseRecord(run_id=run_id, **found.to_json())
    kept.append(record)
    if journal is not None:
        journal.write(record)
    return found


def _workload_files(matrix: Matrix) -> dict[str, Any]:
    import workloads

    found = {name: workloads.source(name) for name in matrix.workloads}
    return {name: where for name, where in found.items() if where}


def run_race(
    matrix: Matrix,
    groups: list[Group],
    race: Race,
    out: str | os.PathLike[str] | None = None,
    *,
    progress: Progress | ProgressCallback | None = None,
    argv: Sequence[str] | None = None,
) -> Results:
    """Measure ``groups`` (cells of ``matrix``, chosen and ordered by the caller) as :func:`sweep` does,
    in ``race``; errors as for :func:`sweep`."""
    validate(matrix)
    if out is not None:
        Journal.check(out)
    reporter = _progress(progress)
    return _on_rank_zero(lambda: _sweep(matrix, out, reporter, argv, groups, race))


def _sweep(
    matrix: Matrix,
    out: str | os.PathLike[str] | None,
    progress: Progress,
    argv: Sequence[str] | None,
    groups: list[Group] | None = None,
    race: Race | None = None,
) -> Results:
    scratch.remove_stale()
    steps.start()
    crashes = steps.crashed()
    groups = build(matrix) if groups is None else groups
    _runnable(groups)
    _estimate(groups, matrix, crashes)
    _idle_ranks(groups)
    run_id = new_run_id()
    run = RunRecord(
        run_id,
        utc_now(),
        list(sys.argv if argv is None else argv),
        matrix,
        run_env(groups),
        workload_files=_workload_files(matrix),
    )
    kept: list[CellRecord | TraceRecord] = []
    journal: Journal | None = None
    # From before the journal exists: a signal while it is created and its run record written waits for
    # the record, so that a journal, once there, is one that --resume takes, and the line says so.
    with _Interrupts(progress).installed() as reporter:
        try:
            with reporter.held():
                journal = Journal.create(out, run_id) if out is not None else None
                if journal is not None:
                    journal.write(run)
                    steps.journal(journal.path, beside=mpi_launch.launched())
                    crashed = _crashed(groups, crashes, set())
                    _record_crashes(crashed, run_id, rounds_of(matrix), journal, kept)
                    groups = without(groups, {cell.key for cell, _ in crashed})
            found = _probe_noise(run_id, noise_seconds(matrix), journal, kept)
            if race is not None:
                race.noise = found  # a cell closer to the leader than the noise lets them tell apart goes on
            _measure(groups, journal, run_id, matrix, reporter, 1, kept, race)
        except KeyboardInterrupt as exc:
            paths = (journal.path,) if journal else ()
            raise Interrupted(Results.of([run], kept, [], paths), signum_of(exc)) from None
        finally:
            steps.ended()
            if journal is not None:
                journal.close()
    return Results.of([run], kept, [], (journal.path,) if journal else ())


def resume(
    path: str | os.PathLike[str],
    *,
    progress: Progress | ProgressCallback | None = None,
    oversubscribe: bool = False,
    argv: Sequence[str] | None = None,
) -> Results:
    """Go on with the run of the journal at ``path``: measure the cells it lacks or that are not ok
    (failed, timed out or skipped) and append them.

    The matrix comes from the journal. A ``resume`` record marks where the
    new cells begin; nothing already in the file changes. Returns the results
    of the whole journal. ``oversubscribe`` lets a journal from a bigger
    machine go on here (it changes no cell). Errors as for :func:`sweep`.
    """
    import workloads

    path = Path(path)
    old = load(path)
    if len(old.runs) != 1:
        raise JournalError(f"{path} holds {len(old.runs)} runs; only a journal of one run can be resumed")
    if old.advice:
        raise JournalError(f"{path} is an advise run, whose race cannot go on: run advise again")
    matrix = old.runs[0].matrix
    if matrix is None:
        raise JournalError(f"{path} has no matrix to resume")
    for spec, recorded in old.runs[0].workload_files.items():  # found where the run found them
        changed = workloads.pin(spec, recorded) if isinstance(recorded, dict) else None
        if changed:
            warnings.warn(changed, stacklevel=2)
    if oversubscribe:  # it changes no cell, only lets a journal from a bigger machine go on here
        matrix = replace(matrix, oversubscribe=True)
    validate(matrix)
    reporter = _progress(progress)
    return _on_rank_zero(lambda: _resume(path, old, matrix, reporter, argv))


def _resume(path: Path, old: Results, matrix: Matrix, progress: Progress, argv: Sequence[str] | None) -> Results:
    [run] = old.runs
    scratch.remove_stale()
    steps.start()
    crashes = steps.crashed()
    left = steps.leftover(path)  # the step an MPI launch of this journal died in
    if left is not None:
        crashes.append(left)
    # Cells that are missing or not ok (failed, timed out, skipped) run again, and those an interrupt cut
    # short go on from the rounds they have; the newest record of a cell counts.
    done = {cell.key for cell in old.cells if cell.complete}
    prior = {
        cell.key: (
            tuple(cell.times_s),
            tuple(cell.baseline_s) if cell.baseline_s is not None else None,
            tuple(cell.blocks or ({"rounds": len(cell.times_s), "instance": cell.instance or 0},)),
        )
        for cell in old.cells
        if cell.ok and cell.interrupted
    }
    planned = build(matrix)
    crashed = _crashed(planned, crashes, done)
    done |= {cell.key for cell, _ in crashed}
    if left is not None:
        warnings.warn(
            f"the MPI launch of {path} ended {left.where()}: its cell(s) are recorded as error, with `crashed`, "
            "and not run again",
            stacklevel=3,
        )
    groups = without(planned, done, prior)
    if not _any_runnable(groups) and not crashed:
        still = sum(len(group.cells) for group in groups)
        why = f" or still cannot run here ({still} skipped)" if still else ""
        warnings.warn(f"nothing to resume: every cell of {path} is complete{why}", stacklevel=3)
        return old
    marker = ResumeRecord(run.run_id, utc_now(), list(sys.argv if argv is None else argv), run_env(groups))
    # Instance numbers stay unique across resumed runs.
    first_instance = 1 + max((cell.instance or 0 for cell in old.cells), default=0)
    kept: list[CellRecord | TraceRecord] = [*old.cells, *old.traces]
    with _Interrupts(progress).installed() as reporter, Journal.reopen(path) as journal:
        try:
            with reporter.held():
                journal.write(marker)
                _record_crashes(crashed, run.run_id, rounds_of(matrix), journal, kept)
                steps.journal(path, beside=mpi_launch.launched())
            if _any_runnable(groups):
                _measure(groups, journal, run.run_id, matrix, reporter, first_instance, kept)
        except KeyboardInterrupt as exc:
            raise Interrupted(Results.of(old.runs, kept, [*old.resumes, marker], (path,)), signum_of(exc)) from None
        finally:
            steps.ended()
    return Results.of(old.runs, kept, [*old.resumes, marker], (path,))
