"""The timing protocol for the cells of one executor instance.

One instance per (executor, workers) serves all the cells of its group, so
start-up is paid once and timed on its own (``startup_s``: from construction
until every worker has answered once). Each cell gets a warm-up, then timed
runs in interleaved rounds: every running cell once per round. A timed run
is ``items(size)`` -> ``map(task, chunksize)`` -> ``reduce``, timed with
``time.perf_counter``; every answer is verified outside the timed region.

Paired baselines: each round also times the serial baseline of every case
(workload, size, params) among the group's cells, in the driver, right next
to that case's cells, and every cell keeps the baseline sample of each of its
rounds (``baseline_s``, pair by pair with ``times_s``). Speedups are then
ratios of runs taken seconds apart, which machine drift does not distort.
Odd rounds run the steps forwards and even rounds backwards, so that a
steady drift favours neither side of a pair.

A failure or timeout ends that cell and replaces the instance (with a new
instance number and its own ``startup_s``), so leftover work cannot disturb
the other cells.
"""

from __future__ import annotations

import itertools
import json
import math
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import workloads
from bench.data import stats
from bench.data.derived import rounds_once
from bench.data.format import one_line
from bench.data.matrix import RACE
from bench.data.schema import block_rounds
from bench.executors import Executor
from bench.executors.base import ABANDONED, READY_TIMEOUT_S
from bench.executors.local import Serial
from bench.host import inner_threads
from bench.host.cpuload import Meter, Snapshot
from bench.measuring import steps
from bench.measuring import trace as tracing
from bench.measuring.plan import AUTO, AUTO_MIN_ROUNDS, Cell, Group
from bench.measuring.race import Event, Race

__all__ = [
    "CellResult",
    "Context",
    "NullReporter",
    "Reporter",
    "Rounds",
    "Verifier",
    "remote_traceback",
    "measure_group",
    "time_run",
]

Clock = Callable[[], float]
T = TypeVar("T")


class Reporter(Protocol):
    """Where progress goes (a rich progress bar, plain lines, or nowhere)."""

    def run_started(self, label: str, phase: str) -> None: ...

    def run_finished(self) -> None: ...

    def expect(self, runs: int) -> None:
        """The number of runs still to come changed by ``runs`` (early stops, failures)."""


@dataclass(frozen=True)
class Rounds:
    """How many rounds cells get, and how they are warmed up."""

    repeats: int | str = 3
    precision: float = 0.03
    max_repeats: int = 20
    warmup: str = "short"
    cell_timeout: float | None = None
    #: One extra, untimed run per cell that measures the driver's peak memory.
    memory: bool = True
    #: One extra, untimed traced run per ok cell, and a traced serial run per case (``bench.measuring.trace``).
    trace: bool = False
    #: Blocks each cell's rounds are spread over (``Matrix.blocks``): the sweep measures every group once
    #: per block, each time on a fresh instance.
    blocks: int = 1

    @property
    def adaptive(self) -> bool:
        """Rounds until a precision is reached (``auto``, and ``race``)."""
        return self.repeats in (AUTO, RACE)

    @property
    def racing(self) -> bool:
        return self.repeats == RACE

    @property
    def most(self) -> int:
        """Timed rounds a cell gets at most."""
        return self.max_repeats if self.adaptive else int(self.repeats)

    def finished(
        self, rounds: int, estimate: Callable[[], stats.Estimate], blocks: int = 1
    ) -> tuple[bool, bool | None]:
        """(no more rounds, precision reached) after ``rounds`` timed rounds in ``blocks`` blocks. Spread over
        blocks, a cell's precision is judged once its rounds span two of them: one block's rounds share
        its moment, and their interval says nothing of the next."""
        if not self.adaptive:
            return rounds >= self.most, None
        spread = blocks >= min(2, self.blocks)
        if spread and rounds >= AUTO_MIN_ROUNDS and stats.precise_enough(estimate(), self.precision):
            return True, True
        return rounds >= self.most, False

    def block_end(self, block: int) -> int:
        """The rounds a cell has at most once block ``block`` (from 1) is done."""
        return -(-self.most * block // self.blocks)


@dataclass(eq=False)
class CellResult:
    """What measuring one cell produced; becomes a journal cell record."""

    cell: Cell
    status: str = "ok"
    error: str | None = None
    #: The last lines of the traceback of the exception that failed the cell (a worker's, where it came from one).
    traceback: str | None = None
    startup_s: float | None = None
    warmup: str | None = None
    warmup_items: int | None = None
    warmup_s: float | None = None
    times_s: list[float] = field(default_factory=list)
    #: Serial runs of the same case, one per round, paired with ``times_s``; None when unpaired.
    baseline_s: list[float] | None = None
    baseline_error: str | None = None
    teardown_s: float | None = None
    answer: Any = None
    verified: bool | None = None
    instance: int | None = None
    #: Every option of the executor instance, as used.
    options: dict[str, Any] = field(default_factory=dict)
    #: Where the instance's workers ran (``Executor.placement``).
    placement: dict[str, Any] = field(default_factory=dict)
    #: Chunks in flight under imap / imap_unordered (None under map).
    window: int | None = None
    #: Under ``native`` where the library sizes chunks as it runs: what each timed run dispatched
    #: (``chunks`` and their ``items``).
    native_chunks: list[dict[str, int]] | None = None
    #: Peak bytes the driver allocated in one extra, untimed run (``driver_peak_bytes``).
    driver_peak_bytes: int | None = None
    precision_reached: bool | None = None
    #: The threads each worker's libraries had (the cell's, or under ``default`` what they chose).
    threads_per_worker: int | None = None
    #: threadpoolctl's view of a worker's thread pools, once the cell's task had run there.
    threadpools: list[dict[str, Any]] | None = None
    #: The threads of the paired serial baseline.
    baseline_threads: int | None = None
    #: The machine's load over the span of the cell's rounds (``bench.host.cpuload``).
    load: dict[str, Any] | None = None
    #: Why the cell stopped measuring (``records.STOPPED``).
    stopped: str | None = None
    #: What eliminated the cell from its race (``stopped`` "eliminated").
    eliminated: Event | None = None
    #: Rounds taken over from an interrupted record of the cell.
    prior_rounds: int | None = None
    #: The cell's traced run (``bench.measuring.trace``) and the serial useful time of its items; None: not traced.
    trace: tracing.Trace | None = None
    serial_s: float | None = None
    #: The factor that brought the profile's run to the median of the case's paired baselines (``serial_s``
    #: includes it): one serial run is noisy, the median of the rounds' baselines much less.
    serial_scale: float | None = None
    #: The POP metrics of the traced run.
    pop: dict[str, float | None] | None = None
    #: The wall times of the cell's traced runs (at most TRACE_RUNS), in order; ``trace`` is the nearest the median.
    trace_walls_s: list[float] | None = None
    #: Why the cell's traced run (``trace_error``), the traced serial run of its case (``profile_error``) or its
    #: memory run (``memory_error``) gave nothing; each is extra, so the cell stays as it was.
    trace_error: str | None = None
    profile_error: str | None = None
    memory_error: str | None = None
    #: A task ended the process it ran in (``bench.measuring.steps.Step.record``).
    crashed: dict[str, Any] | None = None
    #: The traced serial run of the cell's case beside which it was traced (its cost profile).
    profile: tracing.Trace | None = None
    spent_s: float = 0.0
    done: bool = False
    #: The blocks the cell finished (``rounds``, ``instance``), and the rounds it had when the current one
    #: began; ``paused``: it has this block's rounds and waits for the next block (``Rounds.blocks``).
    blocks: list[dict[str, int]] = field(default_factory=list)
    block_start: int = 0
    paused: bool = False
    #: The meter's readings at the start of the cell's first round and the end of its latest.
    span: tuple[Snapshot, Snapshot] | None = None

    @property
    def memory_owed(self) -> bool:
        return self.driver_peak_bytes is None and self.memory_error is None

    def fail(self, status: str, error: str) -> None:
        self.status, self.error = status, error

    @property
    def running(self) -> bool:
        """Still owed timed rounds in this block."""
        return self.status == "ok" and not self.done and not self.paused

    @property
    def going(self) -> bool:
        """Still owed timed rounds, in this block or a later one."""
        return self.status == "ok" and not self.done

    def block_sizes(self) -> list[int]:
        """The rounds of each block so far, the current one last."""
        sizes = [block["rounds"] for block in self.blocks]
        current = len(self.times_s) - sum(sizes)
        return [*sizes, current] if current > 0 else sizes

    def end_block(self) -> None:
        """The current block is over for the cell: its rounds and instance join ``blocks``."""
        rounds = len(self.times_s) - self.block_start
        if rounds > 0:
            self.blocks.append({"rounds": rounds, "instance": self.instance or 0})
        self.block_start = len(self.times_s)

    @property
    def measured_here(self) -> int:
        """Timed rounds this run measured (those taken over from an interrupted record excluded)."""
        return len(self.times_s) - (self.prior_rounds or 0)

    def take_over(self, paired: bool) -> None:
        """Start from the rounds of the cell's interrupted record, where they fit its pairing."""
        if self.cell.prior is None:
            return
        times, baselines, blocks = self.cell.prior
        if paired != (baselines is not None) or (baselines is not None and len(baselines) != len(times)):
            return  # rounds of another pairing cannot go on: measured anew
        self.times_s = list(times)
        self.baseline_s = list(baselines) if baselines is not None else None
        self.prior_rounds = len(times)
        # its rounds were measured on other instances, at another time: blocks of their own
        if block_rounds(len(times), blocks) == [int(block.get("rounds") or 0) for block in blocks]:
            self.blocks = [dict(block) for block in blocks]
        elif times:
            self.blocks = [{"rounds": len(times), "instance": 0}]

    def estimate(self) -> stats.Estimate:
        return stats.cell_stats(self.times_s, self.baseline_s, self.cell.workers, self.block_sizes()).estimate


#: Traced runs of a cell, at most: one whose wall time lies within TRACE_WITHIN of the median of its timed
#: rounds stands for them (its POP metrics); else it is traced again, and the nearest of its traced runs
#: stands for them. One run meets the machine at one moment, and a slow spell makes its GE low.
TRACE_RUNS = 3
TRACE_WITHIN = 0.1


def _off(wall_s: float, median_s: float) -> float:
    return abs(math.log(wall_s / median_s)) if wall_s > 0 and median_s > 0 else math.inf


def nearest(walls: Sequence[float], median_s: float | None) -> int:
    """The traced run (index into ``walls``) that stands for rounds of ``median_s``: the nearest it (relatively),
    the first of equals; the first without a median."""
    if median_s is None or not walls:
        return 0
    return min(range(len(walls)), key=lambda i: (_off(walls[i], median_s), i))


def traced_again(walls: Sequence[float], median_s: float | None) -> bool:
    """Whether a cell whose traced runs took ``walls`` is traced again: none yet, or none within TRACE_WITHIN
    of the median of its rounds, and fewer than TRACE_RUNS."""
    if not walls:
        return True
    if median_s is None or len(walls) >= TRACE_RUNS:
        return False
    return _off(walls[nearest(walls, median_s)], median_s) > math.log1p(TRACE_WITHIN)


class Verifier:
    """Checks answers with the workload's own ``verify``, once per distinct answer."""

    def __init__(self) -> None:
        self._checked: dict[tuple[Any, ...], bool] = {}

    def check(self, cell: Cell, answer: Any) -> bool:
        key = (*cell.case, json.dumps(answer, sort_keys=True, default=repr))
        if key not in self._checked:
            workload = workloads.get(cell.workload)
            self._checked[key] = bool(workload.verify(answer, cell.size, **cell.param_dict))
        return self._checked[key]


#: Why an extra run did not happen: an earlier failure stopped the executor, and no new one could start.
NO_INSTANCE = "not run: the executor had stopped after a failure and could not start again"
#: Lines of a worker's traceback kept in a failed cell's record.
TRACEBACK_LINES = 12


def remote_traceback(exc: BaseException) -> str | None:
    """The last lines of the traceback where ``exc`` was raised: in a worker process, as the executor
    passed it on (``concurrent.futures`` and ``multiprocessing`` chain it as the cause; Dask and
    mpi4py restore the frames), or in this process."""
    import traceback

    cause = exc.__cause__
    text = getattr(cause, "tb", None)  # concurrent.futures.process._RemoteTraceback, multiprocessing's
    if not isinstance(text, str):
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, chain=False))
    lines = [line for line in text.strip().splitlines() if line.strip() and set(line.strip()) != {'"'}]
    return "\n".join(lines[-TRACEBACK_LINES:]) or None


def time_run(
    pool: Executor,
    cell: Cell,
    timeout: float | None = None,
    *,
    limit: int | None = None,
    clock: Clock = time.perf_counter,
    method: str | None = None,
    tracer: tracing.Tracer | None = None,
) -> tuple[float, Any]:
    """One timed run of a cell, or of its first ``limit`` items: (seconds, answer).

    items -> the cell's map method (or ``method``) -> the workload's ``consume``; a stream is
    closed inside the timed region, since cancelling what a pipeline no longer needs is part of it.
    Call it inside ``pool.limits()``, which sets the inner threads where the work runs in this process.
    With a ``tracer``, the run is traced (an extra run, never a timed one): the tracer wraps the task
    and watches the input and the results.
    """
    workload = workloads.get(cell.workload)
    task: Callable[[Any], Any] = workload.task
    params = cell.param_dict
    start = clock()
    if tracer is not None:
        tracer.begin()
        task = tracer.task(task)
    items = workload.items(cell.size, **params)
    if limit is not None:
        items = itertools.islice(items, limit)
    if tracer is not None:
        items = tracer.feed(items)
    results = pool.method(method or cell.method)(task, items, chunksize=cell.asked_chunksize, timeout=timeout)
    with closing(results) if hasattr(results, "close") else nullcontext():
        if tracer is None:
            answer = workload.consume(results, cell.size, **params)
        else:
            with closing(tracer.collect(results)) as collected:
                answer = workload.consume(collected, cell.size, **params)
            tracer.end()
    return clock() - start, answer


def baseline_method(workload_name: str) -> str:
    """How the serial baseline runs a case: ``map``, unless the workload streams endlessly."""
    methods = workloads.get(workload_name).methods
    return "map" if "map" in methods else methods[0]


def driver_peak_bytes(run: Callable[[], T]) -> tuple[int, T]:
    """(peak bytes the driver's Python code allocated during ``run()``, its result).

    Measured with ``tracemalloc`` over every thread of the driver, so a list
    built from the input counts and a stream read a window ahead does not.
    """
    tracing = tracemalloc.is_tracing()
    if tracing:
        tracemalloc.reset_peak()
    else:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        value = run()
        return max(tracemalloc.get_traced_memory()[1] - before, 0), value
    finally:
        if not tracing:
            tracemalloc.stop()


def short_warmup_items(cell: Cell) -> int:
    """Items of a short warm-up: one chunk for every worker, never the whole case."""
    return min(cell.items, cell.workers * cell.chunksize) if cell.items else cell.workers * cell.chunksize


class _Instance:
    """One running executor instance and the bookkeeping of the cells it serves."""

    def __init__(
        self,
        backend: type[Executor],
        workers: int,
        number: int,
        clock: Clock,
        options: dict[str, Any],
        threads: int | None,
        meter: Meter | None,
        trace: bool = False,
    ) -> None:
        self.number = number
        #: Per node, its workers' clock offset from the driver's (measured where they run elsewhere).
        self.offsets: dict[str, dict[str, Any]] = {}
        #: The cells warmed up on this instance (a replacement starts cold).
        self.warmed: set[int] = set()
        self._clock = clock
        self._stack = ExitStack()
        start = clock()
        self.pool = self._stack.enter_context(backend(workers, threads=threads, **options))
        self.startup_s = clock() - start
        try:
            self.placement = self.pool.placement()
            if meter is not None:
                meter.watch(self.pool.processes())
            if trace:
                self.offsets = tracing.clock_offsets(self.pool, self.pool.nodes)
        except BaseException:  # an interrupt too: the instance is not handed out, so stop it here
            self._stack.pop_all()
            self.pool.abort()
            raise

    def serve(self, results: list[CellResult]) -> None:
        for result in results:
            result.instance, result.startup_s = self.number, self.startup_s
            result.options, result.placement = self.pool.settings, self.placement
            result.window = None if result.cell.method == "map" else self.pool.window

    def _stop(self, stop: Callable[[], object], results: list[CellResult]) -> None:
        start = self._clock()
        try:
            stop()
        finally:
            teardown_s = self._clock() - start
            for result in results:
                if result.instance == self.number:
                    result.teardown_s = teardown_s

    def close(self, results: list[CellResult]) -> None:
        self._stop(self._stack.close, results)

    def abort(self, results: list[CellResult]) -> str | None:
        """Stop a pool that may still run abandoned work; returns what it left running, if anything
        (also kept in ``ABANDONED``)."""
        self._stack.pop_all()
        try:
            self._stop(self.pool.abort, results)
            left = self.pool.abandoned()
        except Exception:  # the pool is being discarded; nothing more to save
            return None
        if left:
            ABANDONED.append(left)
        return left


@dataclass
class _Case:
    """The cells of one (workload, size, params) in a group, and their shared serial baseline."""

    cell: Cell
    results: list[CellResult]
    paired: bool
    failed: bool = False

    @property
    def wants_baseline(self) -> bool:
        return self.paired and not self.failed and any(result.running for result in self.results)

    def drop_baseline(self, error: str) -> None:
        """No pairs for the running cells of this case: a failed baseline cannot pair with later rounds.

        Cells that already finished keep their complete pairs.
        """
        self.failed = True
        for result in self.results:
            if result.running:
                result.baseline_s, result.baseline_error = None, error


class _Group:
    """Measures the cells of one (executor, workers) group; see the module docstring."""

    def __init__(self, backend: type[Executor], group: Group, rounds: Rounds, context: Context) -> None:
        self.backend, self.workers, self.rounds, self.options = backend, group.workers, rounds, dict(group.options)
        self.verifier, self.reporter, self.instances = context.verifier, context.reporter, context.instances
        self.clock, self.threads, self.meter, self.race = (
            context.clock,
            group.threads_per_worker,
            context.meter,
            context.race,
        )
        baseline, cells = context.baseline, list(group.cells)
        self.block, self.last_block = context.block, context.block >= rounds.blocks
        # The serial baseline gets the threads one process has with the whole machine (bench.host.inner_threads).
        baseline_threads = baseline.worker_cores(1)
        carried = {id(cell): context.carried.pop(cell.key) for cell in cells if cell.key in context.carried}
        taken_up = {id(result) for result in carried.values()}  # measured in earlier blocks: as they are
        self.results = [
            carried.get(id(cell))
            or CellResult(
                cell,
                warmup=rounds.warmup,
                threads_per_worker=cell.threads_per_worker,
                baseline_threads=baseline_threads if backend.paired else None,
            )
            for cell in cells
        ]
        cases: dict[tuple[Any, ...], _Case] = {}
        for result in self.results:
            paired = backend.paired and workloads.get(result.cell.workload).baseline
            case = cases.setdefault(result.cell.case, _Case(result.cell, [], paired))
            case.results.append(result)
            if id(result) not in taken_up:
                if case.paired:
                    result.baseline_s = []
                else:
                    result.baseline_threads = None
                result.take_over(case.paired)
            result.paused, result.block_start = False, len(result.times_s)
            self._pause_at_block_end(result)
        self.cases = list(cases.values())
        self.baseline = baseline(1, threads=baseline_threads)
        self.active: _Instance | None = None
        self.runs = 0
        self.retraced = 0  # traced runs beyond one a cell, each told to the progress as it came

    # -- instances ---------------------------------------------------------
    def _start(self) -> bool:
        """A fresh instance for the cells still running; False when none could start."""
        running = [result for result in self.results if result.running]
        if self.backend.blocked:
            for result in running:
                result.fail("error", self.backend.blocked)
            return False
        number = next(self.instances)
        try:
            self.active = _Instance(
                self.backend,
                self.workers,
                number,
                self.clock,
                self.options,
                self.threads,
                self.meter,
                self.rounds.trace,
            )
        except Exception as exc:
            self.active = None
            first = all(result.instance is None for result in self.results)
            for result in running:
                result.instance = number
                result.fail("error", f"{'start-up' if first else 'executor restart'} failed: {one_line(exc)}")
            return False
        self.active.serve(running)
        return True

    def _replace(self, failed: CellResult | None = None) -> bool:
        """A fresh instance for the running cells; ``failed``'s error says what the old one left running."""
        assert self.active is not None
        left = self.active.abort(self.results)
        if left and failed is not None and failed.error:
            failed.error += f"; {left}"
        self.active = None
        return any(result.running for result in self.results) and self._start()

    # -- one run -----------------------------------------------------------
    def _finished(self) -> None:
        steps.idle()
        self.runs += 1
        self.reporter.run_finished()

    def _timeout(self, result: CellResult) -> float | None:
        limit = self.rounds.cell_timeout
        return None if limit is None else max(limit - result.spent_s, 0.0)

    def _verified(self, cell: Cell, answer: Any) -> str | None:
        """None when ``answer`` is right, else why not."""
        try:
            return None if self.verifier.check(cell, answer) else "wrong answer: verification failed"
        except Exception as exc:  # a broken verify fails its cell, not the sweep
            return f"verify raised {one_line(exc)}"

    def _warmup_limit(self, cell: Cell, warmup: bool) -> int | None:
        """Items a run takes: the first few for a short warm-up, else all (None)."""
        return short_warmup_items(cell) if warmup and self.rounds.warmup == "short" else None

    def _cell_run(self, result: CellResult, warmup: bool) -> float | None:
        """Time one run of a cell; None when it failed (the instance is then replaced if it must be)."""
        assert self.active is not None
        limit = self._warmup_limit(result.cell, warmup)
        phase = "warm-up" if warmup else f"run {len(result.times_s) + 1}"
        self.reporter.run_started(result.cell.label(), phase)
        steps.begin(result.cell, phase, self.active.pool.tasks_in_driver)
        start = self.clock()
        try:
            with self.active.pool.limits():
                elapsed, answer = time_run(
                    self.active.pool, result.cell, self._timeout(result), limit=limit, clock=self.clock
                )
        except TimeoutError:
            timeout = self.rounds.cell_timeout
            runs = len(result.times_s)
            result.fail("timeout", f"exceeded the cell timeout of {timeout:g} s after {runs} timed run(s)")
            self._replace(result)
            return None
        except Exception as exc:
            result.fail("error", one_line(exc))
            result.traceback = remote_traceback(exc)
            self._replace(result)
            return None
        finally:
            result.spent_s += self.clock() - start
            self._finished()
        if limit is not None:  # a part of the case has no answer to verify
            result.warmup_items, result.warmup_s = limit, elapsed
            return elapsed
        chunks = getattr(self.active.pool, "last_chunks", None) if result.cell.adaptive else None
        if chunks is not None and not warmup:
            result.native_chunks = [*(result.native_chunks or []), dict(chunks)]
        result.answer = answer
        problem = self._verified(result.cell, answer)
        result.verified = problem is None
        if problem:
            result.fail("error", problem)
            return None
        if warmup:
            result.warmup_items, result.warmup_s = result.cell.items, elapsed
        return elapsed

    def _memory_run(self, result: CellResult) -> None:
        """One untimed run that records the driver's peak memory. It is extra: a failure leaves
        ``driver_peak_bytes`` null and the cell as it was (the instance is stopped, since what failed
        may still run)."""

        def run(pool: Executor) -> tuple[int, Any]:
            # inside the threads' limits, outside what is traced: setting the threads allocates too
            peak, (_, answer) = driver_peak_bytes(
                lambda: time_run(pool, result.cell, self.rounds.cell_timeout, clock=self.clock)
            )
            return peak, answer

        result.driver_peak_bytes, result.memory_error = self._extra_run(result, "memory", "memory run", run)

    def _extra_run(
        self, result: CellResult, phase: str, what: str, run: Callable[[Executor], tuple[T, Any]]
    ) -> tuple[T | None, str | None]:
        """One extra, untimed run of ``result``'s cell on the running instance, inside its threads' limits
        (``run(pool)`` gives its value and the answer): (value, None), or (None, why not). What failed may
        still run, so a failure stops the instance; a wrong answer gives nothing either."""
        assert self.active is not None
        pool = self.active.pool
        self.reporter.run_started(result.cell.label(), phase)
        steps.begin(result.cell, what, pool.tasks_in_driver)
        try:
            with pool.limits():
                value, answer = run(pool)
        except Exception as exc:
            self._replace()
            return None, f"the {what} failed: {one_line(exc)}"
        finally:
            self._finished()
        problem = self._verified(result.cell, answer)
        return (value, None) if problem is None else (None, f"the {what}: {problem}")

    def _serial_run(
        self, cell: Cell, limit: int | None = None, tracer: tracing.Tracer | None = None
    ) -> tuple[float, Any]:
        """A serial run of ``cell``'s case in the driver, as every baseline runs (its threads, its method)."""
        with self.baseline.limits():
            return time_run(
                self.baseline,
                cell,
                self.rounds.cell_timeout,
                limit=limit,
                clock=self.clock,
                method=baseline_method(cell.workload),
                tracer=tracer,
            )

    def _baseline_run(self, case: _Case, warmup: bool) -> float | None:
        """Time the case's serial baseline in the driver; None (and no more pairs) when it failed."""
        cell = case.cell
        limit = self._warmup_limit(cell, warmup)
        self.reporter.run_started(f"serial baseline {cell.case_label()}", "warm-up" if warmup else "paired run")
        steps.begin(cell, "serial baseline", driver=True, whole_case=True)
        try:
            elapsed, answer = self._serial_run(cell, limit=limit)
        except TimeoutError:
            case.drop_baseline(f"serial baseline exceeded {self.rounds.cell_timeout:g} s")
            return None
        except Exception as exc:
            case.drop_baseline(f"serial baseline failed: {one_line(exc)}")
            return None
        finally:
            self._finished()
        problem = None if limit is not None else self._verified(cell, answer)
        if problem:
            case.drop_baseline(f"serial baseline: {problem}")
            return None
        return elapsed

    # -- the protocol --------------------------------------------------------
    def _steps(self, forwards: bool) -> list[tuple[_Case, CellResult | None]]:
        """One round: each case's baseline next to its cells; (case, None) is the baseline."""
        order: list[tuple[_Case, CellResult | None]] = []
        for case in self.cases:
            if case.wants_baseline:
                order.append((case, None))
            order.extend((case, result) for result in case.results if result.running)
        return order if forwards else order[::-1]

    def _warm_up(self) -> None:
        for case, result in self._steps(forwards=True):
            if result is None:
                if case.wants_baseline:
                    self._baseline_run(case, warmup=True)
            elif result.running:
                self._warm(result)

    def _warm(self, result: CellResult) -> bool:
        """Warm ``result`` up on the running instance unless it was already; False when that failed."""
        if self.active is None:
            return False
        if id(result) in self.active.warmed:
            return True
        warmed_on = self.active
        if self._cell_run(result, warmup=True) is None:
            return False
        warmed_on.warmed.add(id(result))
        self._record_pools(result)
        return True

    def _record_pools(self, result: CellResult) -> None:
        """The thread pools of a worker, once the cell's task has loaded its libraries there. Extra: a
        failure leaves ``threadpools`` null and the cell as it was."""
        if result.threadpools is not None or self.active is None:
            return
        try:
            result.threadpools = self.active.pool.thread_pools(self._timeout(result) or READY_TIMEOUT_S)
        except Exception:
            return
        if result.threads_per_worker is None:  # ``default``: what the libraries chose
            result.threads_per_worker = inner_threads.observed(result.threadpools)

    def _pause_at_block_end(self, result: CellResult) -> None:
        """A cell with this block's rounds waits for the next block (on another instance, later)."""
        if result.going and not self.last_block and len(result.times_s) >= self.rounds.block_end(self.block):
            result.paused = True

    def _round(self, number: int) -> None:
        times: dict[int, float] = {}
        baselines: dict[int, float] = {}
        before = self.meter.snapshot() if self.meter is not None else None
        for case, result in self._steps(forwards=number % 2 == 1):
            if self.active is None:
                break
            if result is None:
                if case.wants_baseline:  # not when its cells all failed earlier in this round
                    sample = self._baseline_run(case, warmup=False)
                    if sample is not None:
                        baselines[id(case)] = sample
            elif result.running and self._warm(result):  # a replaced instance warms its cells again
                sample = self._cell_run(result, warmup=False)
                if sample is not None:
                    times[id(result)] = sample
        after = self.meter.snapshot() if self.meter is not None else None
        for case in self.cases:
            for result in case.results:
                if id(result) not in times or not result.running:
                    continue
                result.times_s.append(times[id(result)])
                if result.baseline_s is not None:
                    result.baseline_s.append(baselines[id(case)])
                if before is not None and after is not None:
                    result.span = (result.span[0] if result.span else before, after)
                result.done, result.precision_reached = self.rounds.finished(
                    len(result.times_s), result.estimate, len(result.block_sizes())
                )
                if result.done:
                    result.stopped = "precision" if result.precision_reached else "rounds"
                self._pause_at_block_end(result)
                self._judge(result, judge=False)
        for case in self.cases:  # judged once the race knows every cell's round
            for result in case.results:
                if id(result) in times and result.running:
                    self._judge(result)

    def _judge(self, result: CellResult, judge: bool = True) -> None:
        """Tells the race the cell's paired speedups; with ``judge``, the cell stops when they eliminate it."""
        if self.race is None or not result.baseline_s:
            return
        ratios = stats.paired_ratios(result.baseline_s, result.times_s).tolist()
        event = self.race.observe(
            result.cell.key, ratios, judge=judge, times=result.times_s, baselines=result.baseline_s
        )
        if event is not None:
            result.done, result.stopped, result.eliminated = True, "eliminated", event
            result.precision_reached = None  # not judged: the race stopped it first

    def _memory_owed(self) -> list[CellResult]:
        """Cells still owed their memory run."""
        if not self.rounds.memory:
            return []
        return [
            result for result in self.results if result.status == "ok" and result.memory_owed and self._ends(result)
        ]

    def _measure_memory(self) -> None:
        for result in self._memory_owed():
            if self.active is None:
                result.memory_error = NO_INSTANCE
                continue
            self._memory_run(result)

    # -- traces --------------------------------------------------------------
    def _trace_owed(self) -> list[CellResult]:
        """Cells still owed their traced run."""
        if not self.rounds.trace:
            return []
        return [
            r for r in self.results if r.status == "ok" and self._ends(r) and r.trace is None and r.trace_error is None
        ]

    def _ends(self, result: CellResult) -> bool:
        """Whether the cell ends in this block (its extra runs come at its end): it is done, or this is the last."""
        return result.done or self.last_block

    def _trace_runs(self) -> int:
        """Traced runs still to come: one per owed cell (a second or third, where it comes, is added then), and
        one serial run per case with such cells."""
        owed = self._trace_owed()
        cases = sum(any(r in owed for r in case.results) and self._profiled(case) for case in self.cases)
        return len(owed) + cases

    @staticmethod
    def _profiled(case: _Case) -> bool:
        return workloads.get(case.cell.workload).baseline

    def _profile_run(self, case: _Case) -> tuple[tracing.Trace | None, str | None]:
        """The traced serial run of a case, in the driver as its baselines run: each item's serial cost; or
        None and why not, where the run failed (extra: nothing else changes). (None, None) where the case
        has no serial baseline."""
        cell = case.cell
        if not self._profiled(case):
            return None, None
        self.reporter.run_started(f"serial baseline {cell.case_label()}", "trace")
        steps.begin(cell, "traced serial run", driver=True, whole_case=True)
        tracer = tracing.Tracer(1)
        try:
            _, answer = self._serial_run(cell, tracer=tracer)
        except Exception as exc:
            return None, f"the traced serial run failed: {one_line(exc)}"
        finally:
            self._finished()
        problem = self._verified(cell, answer)
        return (tracer.trace(), None) if problem is None else (None, f"the traced serial run: {problem}")

    def _trace_run(
        self,
        result: CellResult,
        profile: tracing.Trace | None,
        costs: dict[int, float] | None,
        scale: float,
    ) -> None:
        """The cell's traced run, and its POP metrics (``costs``: each item's serial seconds from ``profile``,
        times ``scale``). Extra: a failure leaves ``trace`` null and the cell
        as it was (the instance is stopped, since what failed may still run)."""
        cell = result.cell
        median = stats.median(result.times_s) if result.times_s else None
        walls: list[float] = []
        while traced_again(walls, median):
            if self.active is None:
                break
            if walls:  # one run more than the forecast counted: the progress knows before it starts
                self.reporter.expect(1)
                self.retraced += 1
            tracer = tracing.Tracer(None if cell.adaptive else cell.chunksize, self.active.offsets)

            def run(pool: Executor, tracer: tracing.Tracer = tracer) -> tuple[tracing.Trace, Any]:
                _, answer = time_run(pool, cell, self.rounds.cell_timeout, clock=self.clock, tracer=tracer)
                return tracer.trace(), answer

            trace, error = self._extra_run(result, "trace", "traced run", run)
            if trace is None:
                result.trace_error = None if result.trace is not None else error
                break
            walls.append(trace.wall_s)
            if nearest(walls, median) == len(walls) - 1:
                result.trace = trace
        result.trace_walls_s = walls or None
        if result.trace is None:
            return
        result.profile = profile
        if profile is not None and costs is not None:
            found = tracing.serial_seconds(result.trace, costs)
            result.serial_s = None if found is None else found * scale
            result.serial_scale = scale
        result.pop = tracing.pop_metrics(result.trace, cell.workers, result.serial_s, median)

    def _measure_traces(self) -> None:
        """Each case's traced serial run, then the traced run of each of its cells, one after the other
        (so that the serial costs and the traced runs are taken close in time). The serial costs keep the
        profile's shape at the level of the median of the case's paired baselines, where it has them."""
        owed = self._trace_owed()
        for case in self.cases:
            cells = [result for result in case.results if result in owed]
            if not cells or self.active is None:
                continue
            profile, why = self._profile_run(case)
            baselines = rounds_once(result.baseline_s for result in case.results if result.baseline_s)
            scale = 1.0
            if profile is not None and baselines and profile.wall_s > 0:
                scale = stats.median(baselines) / profile.wall_s
            costs = profile.item_seconds() if profile is not None else None
            for result in cells:
                result.profile_error = why
                if self.active is None:
                    result.trace_error = NO_INSTANCE
                    continue
                self._trace_run(result, profile, costs, scale)

    def _forecast(self, rounds_done: int) -> int:
        """Runs made so far plus those the remaining rounds (and memory and traced runs) will make if no
        cell stops early."""
        most = self.rounds.most if self.last_block else self.rounds.block_end(self.block)
        start = min((result.block_start for result in self.results if result.going), default=most)
        rounds = max(most - start - rounds_done, 0) * len(self._steps(forwards=True))
        return self.runs + rounds + len(self._memory_owed()) + self._trace_runs()

    def measure(self, on_interrupt: Callable[[list[CellResult]], None]) -> list[CellResult]:
        expected = self._forecast(-1)
        try:
            with self.baseline:
                if any(result.running for result in self.results) and self._start():
                    self._warm_up()
                    for number in range(1, self.rounds.most + 1):
                        if not any(result.running for result in self.results):
                            break
                        if self.race is not None and self.race.spent:
                            self._stop_running("budget")
                            break
                        self._round(number)
                        forecast = self._forecast(number)
                        self.reporter.expect(forecast - expected)
                        expected = forecast
                    self._measure_memory()
                    self._measure_traces()
        except BaseException:  # an interrupt: stop the work at once, do not wait for it
            if self.active is not None:
                self.active.abort(self.results)
                self.active = None
            for result in self.results:  # what was measured is kept, and --resume goes on from it
                if result.going and result.measured_here > 0:
                    result.done, result.stopped, result.paused = True, "interrupted", False
                result.end_block()
            self._settle_loads()
            on_interrupt([result for result in self.results if result.status != "ok" or result.done])
            raise
        finally:
            if self.active is not None:
                self.active.close(self.results)
            self.reporter.expect(self.runs - expected - self.retraced)
        for result in self.results:
            result.end_block()
        self._settle_loads()
        return self.results

    def _stop_running(self, why: str) -> None:
        """Cells still running stop with the rounds they have (``stopped`` ``why``); without one, they fail."""
        for result in self.results:
            if not result.running:
                continue
            if result.times_s:
                result.done, result.stopped = True, why
            else:
                result.fail("skipped", "not measured: the race's time budget was spent")

    def _settle_loads(self) -> None:
        if self.meter is None:
            return
        for result in self.results:
            if result.span is not None and result.load is None:
                result.load = self.meter.record(*result.span)


@dataclass
class Context:
    """What the groups of one sweep share: the verifier (each distinct answer checked once), where progress
    goes, the numbers of executor instances (restarts included), the back-end of the paired serial
    baselines, the clock, the load meter, the race (if the sweep races) and what to do with the cells a
    stopped group had finished."""

    verifier: Verifier
    reporter: Reporter
    instances: Iterator[int]
    baseline: type[Executor] = Serial
    clock: Clock = time.perf_counter
    meter: Meter | None = None
    race: Race | None = None
    on_interrupt: Callable[[list[CellResult]], None] = lambda finished: None
    #: The block being measured (from 1, ``Rounds.blocks``), and the cells that wait for their next block,
    #: by key: a group takes its own back when it measures them again.
    block: int = 1
    carried: dict[Any, CellResult] = field(default_factory=dict)


def measure_group(backend: type[Executor], group: Group, rounds: Rounds, context: Context) -> list[CellResult]:
    """Measure the cells of one (executor, workers, threads) group, all runnable, on ``backend``.

    The executor gets the group's options and threads (``backend(workers, threads=threads, **options)``);
    ``context.baseline`` runs the paired serial baselines in the driver; ``context.meter`` records the
    machine's load over each cell's rounds. When an interrupt (or any other exception) stops the group,
    ``context.on_interrupt`` gets the cells that had finished (all their rounds done, or failed) and those
    it cut short with at least one round (``stopped`` "interrupted") before it is raised again, once the
    executor is stopped. With ``context.race``, each round's paired speedups go to it, and a cell it
    eliminates stops (``stopped`` "eliminated"); once its budget is spent, no round starts.
    """
    return _Group(backend, group, rounds, context).measure(context.on_interrupt)


class NullReporter:
    """Shows nothing (quiet or plain output, tests)."""

    def run_started(self, label: str, phase: str) -> None:
        pass

    def run_finished(self) -> None:
        pass

    def expect(self, runs: int) -> None:
        pass
