"""The matrix: presets, validation, expansion into cells, skips with reasons."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import bench.executors
import workloads
from bench.data import stats
from bench.data.chunks import auto_chunksize
from bench.data.matrix import BLOCKS, BLOCKS_VARIABLE, NATIVE, NOISE_S, NOISE_VARIABLE, RACE, Matrix, PlanError, is_int
from bench.data.schema import AUTO, METHODS, NO_CHUNKS, CellIdentity, CellKey
from bench.host import inner_threads
from bench.host.provenance import available_cores

__all__ = [
    "AUTO",
    "AUTO_MIN_ROUNDS",
    "NO_CHUNKS",
    "PRESETS",
    "QUICK_ROUNDS",
    "Cell",
    "CellSpec",
    "Group",
    "Matrix",
    "PlanError",
    "build",
    "build_cells",
    "check_seconds",
    "from_preset",
    "validate",
    "without",
]

#: Local workers per available core beyond which a matrix is refused unless
#: ``oversubscribe`` is set: a few per core measure oversubscription, thousands
#: only exhaust the machine.
MAX_WORKERS_PER_CORE = 4
WARMUPS = ("short", "full")
#: The longest a timeout or time bound may be: a little over eleven days, short of what clocks and
#: waits can hold (an infinite timeout would fail every cell when its deadline is computed).
MAX_SECONDS = 1e6
#: ``repeats="auto"`` stops no cell before this many rounds: the fewest for
#: which a distribution-free 95% interval of a median exists.
AUTO_MIN_ROUNDS = max(3, stats.min_samples())


def max_local_workers() -> int:
    """The most workers a local back-end may start here without ``oversubscribe``."""
    return MAX_WORKERS_PER_CORE * available_cores()


def check_seconds(value: Any, what: str, *, allow_none: bool = False) -> None:
    """PlanError unless ``value`` is a number of seconds above 0 and at most MAX_SECONDS (or None when
    ``allow_none``): the one check of every duration a matrix holds, from the command line or Python."""
    if value is None and allow_none:
        return
    number = (is_int(value) or isinstance(value, float)) and 0 < value <= MAX_SECONDS
    if not number:
        raise PlanError(f"{what} must be a number of seconds above 0 and at most {MAX_SECONDS:g}, not {value!r}")


#: The longest noise probe a sweep takes.
MAX_NOISE_S = 60.0


def _setting(value: Any, variable: str, default: Any, parse: Callable[[str, str], Any], what: str) -> tuple[Any, str]:
    """A matrix's setting: its ``value``, else the environment ``variable``'s text parsed (``parse(text,
    words)``), else ``default``; and the words that name where it came from, for an error."""
    if value is not None:
        return value, what
    text = os.environ.get(variable, "").strip()
    if not text:
        return default, what
    words = f"{variable}={text}"
    return parse(text, words), words


def _seconds_text(text: str, words: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise PlanError(f"{words} is not a number of seconds") from None


def noise_seconds(matrix: Matrix) -> float:
    """How long the sweep's noise probe runs: the matrix's ``noise``, else ``BENCH_NOISE_S``, else NOISE_S
    (0: none); PlanError for a value out of 0..MAX_NOISE_S."""
    value, what = _setting(matrix.noise, NOISE_VARIABLE, NOISE_S, _seconds_text, "the noise probe")
    if not ((is_int(value) or isinstance(value, float)) and 0 <= value <= MAX_NOISE_S):
        raise PlanError(f"{what} must be a number of seconds from 0 to {MAX_NOISE_S:g}, not {value!r}")
    return float(value)


#: The most blocks a sweep may spread rounds over, and the fewest rounds a block gets.
MAX_BLOCKS = 20
MIN_BLOCK_ROUNDS = 2


def blocks_asked(matrix: Matrix) -> int:
    """The blocks the matrix asks for: its ``blocks``, else ``BENCH_BLOCKS``, else BLOCKS; PlanError for a
    value out of 1..MAX_BLOCKS."""

    def whole(text: str, words: str) -> int | str:
        return int(text) if text.isdecimal() else text

    value, what = _setting(matrix.blocks, BLOCKS_VARIABLE, BLOCKS, whole, "blocks")
    if not (is_int(value) and 1 <= value <= MAX_BLOCKS):
        raise PlanError(f"{what} must be a whole number from 1 to {MAX_BLOCKS}, not {value!r}")
    return int(value)


def sweep_blocks(matrix: Matrix) -> int:
    """The blocks a sweep of ``matrix`` spreads each cell's rounds over: those asked for, as many as give
    each block MIN_BLOCK_ROUNDS of the most rounds a cell gets. A race goes on across blocks: each block
    measures the cells it has not eliminated."""
    most = matrix.max_repeats if matrix.repeats in (AUTO, RACE) else matrix.repeats
    return max(1, min(blocks_asked(matrix), int(most) // MIN_BLOCK_ROUNDS))


def _quick_workers() -> tuple[int, ...]:
    """1, 2 and the core count, and under an MPI launch its worker ranks (``mpiexec -n 5``: 4), so that
    the launch's ranks all serve mpi-comm."""
    from bench.host import mpi_launch

    launch = {mpi_launch.world_size() - 1} if mpi_launch.launched() and mpi_launch.world_size() > 1 else set()
    return tuple(sorted({1, 2, available_cores(), *launch}))


def _cores() -> tuple[int, ...]:
    return (available_cores(),)


#: Sizes that run in well under a second serially: what ``quick`` gives any workload it runs.
QUICK_SIZES = {
    "fibprimes": (1000,),
    "fibprimes-first": (10,),
    "primes-range": (100_000,),
    "polyfit": (4,),
    "linalg": (32,),
    "noop": (500,),
    "sleep": (200,),
    "spin": (200,),
    "payload": (50,),
    "fault-raise": (16,),
    "fault-exit": (16,),
    "fault-segv": (16,),
    "fault-hang": (16,),
}
#: Rounds of the ``quick`` preset: more than the fewest for a 95% interval (6), so that ``compare`` can
#: call a change between two quick runs. Its two-sided test at p < 0.002 needs 7 rounds each with every
#: sample of one run above the other's; with 8 a change is still found with 4 of the 64 pairs out of order.
QUICK_ROUNDS = 8
#: Task durations of the ``granularity`` preset, 10 us to 100 ms.
GRANULARITY_TASK_US = ("10", "100", "1000", "10000", "100000")

#: Named matrices; command-line options override their fields.
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "help": "every executor on fibprimes, noop, polyfit and linalg at small sizes, workers 1, 2 and the core "
        "count, chunk sizes 1, 16, auto, inner threads auto (and default for fibprimes and linalg: do BLAS "
        "threads matter?), 8 rounds (95% intervals, and enough for compare to find a change)",
        "workloads": ("fibprimes", "noop", "polyfit", "linalg"),
        "workers": _quick_workers,
        "chunksizes": ("1", "16", AUTO),
        "workload_sizes": QUICK_SIZES,
        "repeats": QUICK_ROUNDS,
        # beside auto, libraries left as they start: does a task's use of BLAS threads change the answer?
        # (at the core count, where the two differ: one worker gets every core either way, but under Dask)
        "workload_threads": {name: (inner_threads.AUTO, inner_threads.DEFAULT) for name in ("fibprimes", "linalg")},
        "threads_workers": lambda: {inner_threads.DEFAULT: (available_cores(),)},
    },
    "seed": {
        "help": "the course exercise: primes among the first 5000 Fibonacci numbers, "
        "workers 1-4, chunk sizes 1, 10, 100, auto",
        "workers": (1, 2, 3, 4),
        "chunksizes": ("1", "10", "100", AUTO),
        "sizes": (5000,),
        "repeats": 3,
    },
    "overhead": {
        "help": "the probes at one task per chunk on the core count: noop (per-task cost), sleep and spin "
        "(1 ms tasks), payload (1 B to 1 MiB: bandwidth)",
        "workloads": ("noop", "sleep", "spin", "payload"),
        "workers": _cores,
        "chunksizes": ("1",),
        "repeats": AUTO_MIN_ROUNDS,
    },
    "granularity": {
        "help": "spin tasks of 10 us to 100 ms (64 of each), one per chunk, on the core count: "
        "the smallest task each executor runs at 50% efficiency (METG)",
        "workloads": ("spin",),
        "workers": _cores,
        "chunksizes": ("1",),
        "sizes": (64,),
        "params": {"task_us": GRANULARITY_TASK_US},
        "repeats": 3,
    },
    "pipelines": {
        "help": "the generator workloads under map, imap and imap_unordered, from a list, a generator "
        "and an iterator: fibprimes 3000 and the first 22 Fibonacci primes (each about 5 s serially)",
        "workloads": ("fibprimes", "fibprimes-first"),
        "workers": _cores,
        "chunksizes": ("16",),
        "methods": ("map", "imap", "imap_unordered"),
        "params": {"producer": ("list", "generator", "iterator")},
        "workload_sizes": {"fibprimes": (3000,), "fibprimes-first": (22,)},
        "repeats": 3,
    },
}


def from_preset(name: str, **overrides: Any) -> Matrix:
    """The preset's matrix with the given (non-None) fields replaced."""
    if name not in PRESETS:
        raise PlanError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    fields = {key: value for key, value in PRESETS[name].items() if key != "help"}
    fields = {key: value() if callable(value) else value for key, value in fields.items()}
    fields.update({key: value for key, value in overrides.items() if value is not None})
    if overrides.get("sizes") is not None:  # sizes given for all workloads replace the preset's own
        fields.pop("workload_sizes", None)
    if any(overrides.get(name) is not None for name in ("threads", "workloads", "workers")):
        # a preset's comparison of inner threads is made for its own workloads and worker counts
        fields.pop("workload_threads", None)
        fields.pop("threads_workers", None)
    return Matrix(**fields)


#: The rounds of an interrupted record of a cell that ``--resume`` goes on from: its times, their paired
#: baselines (None: unpaired), and the blocks they were measured in (``CellRecord.blocks``; empty: one).
Prior = tuple[tuple[float, ...], tuple[float, ...] | None, tuple[dict[str, int], ...]]


@dataclass(frozen=True)
class Cell(CellIdentity):
    """One point of the matrix."""

    executor: str
    workers: int
    workload: str
    size: int
    chunksize: int
    chunksize_spec: str
    params: tuple[tuple[str, Any], ...] = ()
    skip_reason: str | None = None
    oversubscribed: bool = False
    #: Items of a run; None for an endless stream (read as far as the answer needs).
    items: int | None = 0
    method: str = "map"
    #: The inner-threads spec, and the threads it gives each worker (None under ``default``).
    threads: str = inner_threads.AUTO
    threads_per_worker: int | None = None
    #: Timed rounds of an earlier record of this cell that an interrupt cut short, which a resumed
    #: run goes on from: (times, baselines or None).
    prior: Prior | None = field(default=None, compare=False)

    @property
    def param_items(self) -> tuple[tuple[str, Any], ...]:
        return self.params

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def asked_chunksize(self) -> int | None:
        """What the cell's map method is given: its chunk size, or None under ``native`` (the library's own rule)."""
        return None if self.chunksize_spec == NATIVE else self.chunksize

    @property
    def adaptive(self) -> bool:
        """Whether the library sizes the cell's chunks as it runs (``native`` under joblib): ``chunksize`` is then
        only where it starts."""
        return (
            self.chunksize_spec == NATIVE
            and bench.executors.get(self.executor).native_chunksize(self.items, self.workers, self.method) is None
        )


@dataclass(frozen=True)
class Group:
    """Cells that share one executor instance (same back-end, workers and inner threads)."""

    executor: str
    workers: int
    cells: tuple[Cell, ...]
    #: The executor options this back-end takes, as given (text).
    options: tuple[tuple[str, str], ...] = ()
    threads: str = inner_threads.AUTO
    #: The threads each worker gets (None under ``default``).
    threads_per_worker: int | None = None

    @property
    def skipped(self) -> bool:
        return all(cell.skip_reason for cell in self.cells)


def _check_names(kind: str, asked: Sequence[str], known: Sequence[str]) -> None:
    for name in asked:
        if name not in known:
            raise PlanError(f"unknown {kind} {name!r}; known: {', '.join(known)}")


def _param_grid(workload: workloads.Workload, asked: Mapping[str, Sequence[str]]) -> list[tuple[tuple[str, Any], ...]]:
    axes = []
    for key, param in sorted(workload.params.items()):
        values = asked.get(key)
        parsed = [param.parse(key, text) for text in values] if values else list(param.unswept)
        axes.append([(key, value) for value in parsed])
    return [tuple(combo) for combo in itertools.product(*axes)]


def _chunk_specs(executor: type[bench.executors.Executor], specs: Sequence[str | int]) -> tuple[str, ...]:
    # A chunk size means nothing to a back-end that does not chunk: one cell.
    return tuple(map(str, specs)) if executor.chunked else (NO_CHUNKS,)


def _resolve_chunksize(
    spec: str, n_items: int | None, workers: int, backend: type[bench.executors.Executor], method: str
) -> int:
    if spec == AUTO:  # a stream of unknown length: one item per task
        return 1 if n_items is None else auto_chunksize(n_items, workers)
    if spec == NATIVE:  # where the library adapts it as it runs, the first chunks' size: one item
        return backend.native_chunksize(n_items, workers, method) or 1
    return int(spec) if spec.isdigit() else 1


def validate(matrix: Matrix) -> None:
    """Raise PlanError for anything that makes the matrix unrunnable."""
    _check_names("executor", matrix.executors or (), bench.executors.names())
    _check_workloads(matrix.workloads)
    for method in matrix.methods or ():
        if method not in METHODS:
            raise PlanError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    sizes = [size for values in (matrix.sizes or (), *matrix.workload_sizes.values()) for size in values]
    for label, values in (("workers", matrix.workers), ("sizes", sizes)):
        wrong = next((v for v in values if not is_int(v) or v < 1), None)
        if wrong is not None:
            raise PlanError(f"{label} must be positive integers, not {wrong!r}")
    for spec in matrix.chunksizes:
        if spec not in (AUTO, NATIVE) and not (isinstance(spec, str) and spec.isdecimal() and int(spec) >= 1):
            raise PlanError(f"chunk size {spec!r} is not a positive integer, 'auto' or 'native'")
    _check_rounds(matrix)
    check_seconds(matrix.cell_timeout, "the cell timeout", allow_none=True)
    check_seconds(matrix.max_case_time, "the longest case time", allow_none=True)
    noise_seconds(matrix)
    blocks_asked(matrix)
    for spec in [*matrix.threads, *(s for values in matrix.workload_threads.values() for s in values)]:
        try:
            inner_threads.check(spec)
        except ValueError as exc:
            raise PlanError(str(exc)) from None
    if not matrix.threads or not all(matrix.workload_threads.values()):
        raise PlanError("threads needs at least one value")
    if matrix.warmup not in WARMUPS:
        raise PlanError(f"warm-up {matrix.warmup!r} is not one of {', '.join(WARMUPS)}")
    _check_executor_options(matrix)
    _check_local_workers(matrix)
    declared = {key for name in matrix.workloads for key in workloads.get(name).params}
    for key in matrix.params:
        if key not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise PlanError(f"unknown param {key!r} for {', '.join(matrix.workloads)}; known: {known}")
    for name in matrix.workloads:
        workload = workloads.get(name)
        if workload.needs_timeout and matrix.cell_timeout is None:
            raise PlanError(f"{name} never finishes without a cell timeout", allowed_by="cell_timeout")
        if workload.max_size is not None and any(size > workload.max_size for size in matrix.sizes_of(name)):
            reason = f" ({workload.max_size_reason})" if workload.max_size_reason else ""
            raise PlanError(f"{name} takes sizes up to {workload.max_size}{reason}")
        try:
            _param_grid(workload, {k: v for k, v in matrix.params.items() if k in workload.params})
        except ValueError as exc:
            raise PlanError(str(exc)) from None


def _check_workloads(names: Sequence[str]) -> None:
    """Every workload is registered or a user's ``module:Class`` that loads."""
    known = workloads.names()
    for name in names:
        if workloads.is_spec(name):
            try:
                workloads.get(name)
            except workloads.WorkloadError as exc:
                raise PlanError(str(exc)) from None
        elif name not in known:
            raise PlanError(f"unknown workload {name!r}; known: {', '.join(known)}, or module:Class, file.py:Class")


#: The most timed rounds a cell may be asked for.
MAX_ROUNDS = 100_000


def _check_rounds(matrix: Matrix) -> None:
    if matrix.repeats in (AUTO, RACE):
        precision = matrix.precision
        if not (isinstance(precision, (int, float)) and not isinstance(precision, bool) and 0 < precision < 1):
            raise PlanError(f"precision must be a fraction between 0 and 1 (0.03 for 3%), not {precision!r}")
        if not is_int(matrix.max_repeats) or not AUTO_MIN_ROUNDS <= matrix.max_repeats <= MAX_ROUNDS:
            raise PlanError(
                f"max repeats must be from {AUTO_MIN_ROUNDS} to {MAX_ROUNDS} with repeats {matrix.repeats} "
                f"(the fewest rounds that give a 95% interval of a median), not {matrix.max_repeats!r}"
            )
    elif not is_int(matrix.repeats) or not 1 <= matrix.repeats <= MAX_ROUNDS:  # type: ignore[operator]
        raise PlanError(f"repeats must be from 1 to {MAX_ROUNDS}, {AUTO!r} or {RACE!r}, not {matrix.repeats!r}")


def options_for(backend: type[bench.executors.Executor], options: Mapping[str, str]) -> dict[str, str]:
    """The options among ``options`` that ``backend`` takes."""
    return {key: value for key, value in options.items() if key in backend.options}


def _check_executor_options(matrix: Matrix) -> None:
    """Every option given is taken by some executor, and every value (given, or from the environment) parses."""
    backends = [bench.executors.get(name) for name in matrix.executors or tuple(bench.executors.names())]
    for key in matrix.executor_options:
        if not any(key in backend.options for backend in backends):
            takes = [f"{b.name}: {', '.join(b.options)}" for b in backends if b.options]
            names = ", ".join(b.name for b in backends)
            known = "; ".join(takes) if takes else f"{names} {'takes' if len(backends) == 1 else 'take'} no options"
            raise PlanError(f"no executor takes option {key!r} ({known})")
    for backend in backends:
        try:
            backend.check_options(options_for(backend, matrix.executor_options))
        except bench.executors.OptionError as exc:
            raise PlanError(str(exc)) from None


def _check_local_workers(matrix: Matrix) -> None:
    if matrix.oversubscribe:
        return
    limit = max_local_workers()
    for name in matrix.executors or tuple(bench.executors.names()):
        backend = bench.executors.get(name)
        if not backend.runs_here(options_for(backend, matrix.executor_options)):
            continue
        too_many = [workers for workers in matrix.workers if workers > limit and not backend.unsupported(workers)]
        if too_many:
            raise PlanError(
                f"{name} with {max(too_many)} workers exceeds the limit of {limit} local workers here "
                f"({MAX_WORKERS_PER_CORE} per available core)",
                allowed_by="oversubscribe",
            )


@dataclass(frozen=True)
class _Site:
    """Where one back-end runs, as a plan needs it: its options, why it cannot run here (if it cannot),
    and how many workers run before they oversubscribe what they run on."""

    name: str
    backend: type[bench.executors.Executor]
    options: tuple[tuple[str, str], ...]
    unavailable: str | None
    #: The CPUs of the nodes a batch back-end's workers run on (None: they run here).
    remote: int | None
    capacity: int

    @classmethod
    def of(cls, name: str, matrix: Matrix) -> _Site:
        backend = bench.executors.get(name)
        unavailable = backend.available()
        options = tuple(sorted(options_for(backend, matrix.executor_options).items()))
        remote = None if unavailable else backend.capacity(dict(options))
        # workers elsewhere whose CPUs are not known here (a Ray cluster's): none oversubscribed
        elsewhere = not unavailable and not backend.runs_here(dict(options))
        capacity = remote or (max(matrix.workers) if elsewhere else available_cores())
        return cls(name, backend, options, unavailable, remote, capacity)

    def reason(self, workers: int) -> str | None:
        """Why ``workers`` of this back-end cannot run here, or None."""
        reason = self.unavailable or self.backend.unsupported(workers)
        if reason is None and self.remote is not None and workers > self.remote:
            # workers on a batch system run at once or not at all: more would wait forever
            reason = f"{workers} workers need {workers} CPUs at once; the nodes have {self.remote} in all"
        return reason

    def group(self, workers: int, threads: str, cells: Sequence[Cell]) -> Group:
        return Group(self.name, workers, tuple(cells), self.options, threads, self.per_worker(workers, threads))

    def per_worker(self, workers: int, threads: str) -> int | None:
        return inner_threads.per_worker(threads, self.backend.worker_cores(workers))

    def cell(
        self,
        workers: int,
        threads: str,
        workload: str,
        size: int,
        params: tuple[tuple[str, Any], ...],
        method: str,
        spec: str,
    ) -> Cell:
        """One cell on this back-end, its chunk spec resolved and the reason it would be skipped, if any."""
        found = workloads.get(workload)
        n_items = found.count(size, **dict(params))
        return Cell(
            executor=self.name,
            workers=workers,
            workload=workload,
            size=size,
            chunksize=_resolve_chunksize(spec, n_items, workers, self.backend, method),
            chunksize_spec=spec,
            params=params,
            skip_reason=self.reason(workers) or found.available() or _method_reason(workload, method),
            oversubscribed=workers > self.capacity,
            items=n_items,
            method=method,
            threads=str(threads),
            threads_per_worker=self.per_worker(workers, threads),
        )


def build(matrix: Matrix) -> list[Group]:
    """Validate and expand the matrix into groups of cells, in run order."""
    validate(matrix)
    groups = []
    for executor_name in matrix.executors or tuple(bench.executors.names()):
        site = _Site.of(executor_name, matrix)
        for workers, threads in itertools.product(matrix.workers, matrix.all_threads):
            if workers not in matrix.threads_workers.get(threads, (workers,)):
                continue
            cells = []
            for workload_name in matrix.workloads:
                if threads not in matrix.threads_of(workload_name):
                    continue
                workload = workloads.get(workload_name)
                asked = {k: v for k, v in matrix.params.items() if k in workload.params}
                for size, params, method in itertools.product(
                    matrix.sizes_of(workload_name) or (workload.default_size,),
                    _param_grid(workload, asked),
                    matrix.methods or workload.default_methods,
                ):
                    for spec in _chunk_specs(site.backend, matrix.chunksizes):
                        cells.append(site.cell(workers, threads, workload_name, size, params, method, spec))
            groups.append(site.group(workers, threads, cells))
    return groups


@dataclass(frozen=True)
class CellSpec:
    """A configuration to measure, named whole: executor, workers, chunk size and map method."""

    executor: str
    workers: int
    chunksize: int
    method: str = "map"


def build_cells(matrix: Matrix, specs: Sequence[CellSpec]) -> list[Group]:
    """The groups of exactly the cells ``specs`` name, of the matrix's one case (its workload, size, params
    and inner-threads spec), in the order in which ``specs`` first name each group. The matrix describes
    the sweep in its run record; PlanError as for :func:`build`."""
    validate(matrix)
    (workload_name,) = matrix.workloads
    (size,) = matrix.sizes_of(workload_name)
    (threads,) = matrix.threads_of(workload_name)
    workload = workloads.get(workload_name)
    (params,) = _param_grid(workload, {k: v for k, v in matrix.params.items() if k in workload.params})
    sites: dict[str, _Site] = {}
    cells: dict[tuple[str, int], list[Cell]] = {}
    for spec in specs:
        site = sites.setdefault(spec.executor, _Site.of(spec.executor, matrix))
        chunk = str(spec.chunksize) if site.backend.chunked else NO_CHUNKS
        found = site.cell(spec.workers, threads, workload_name, size, params, spec.method, chunk)
        cells.setdefault((spec.executor, spec.workers), []).append(found)
    return [sites[name].group(workers, threads, found) for (name, workers), found in cells.items()]


def _method_reason(name: str, method: str) -> str | None:
    workload = workloads.get(name)
    if method in workload.methods:
        return None
    why = "reads an endless stream: it " if method == "map" else ""
    return f"{name} {why}runs under {' and '.join(workload.methods)}, not {method}"


def without(groups: list[Group], done: set[CellKey], prior: Mapping[CellKey, Prior] | None = None) -> list[Group]:
    """The groups with the cells whose keys are in ``done`` removed; a cell in ``prior`` (the rounds an
    interrupted record of it holds) goes on from those rounds."""
    prior = prior or {}
    remaining = []
    for group in groups:
        cells = tuple(replace(cell, prior=prior.get(cell.key)) for cell in group.cells if cell.key not in done)
        if cells:
            remaining.append(replace(group, cells=cells))
    return remaining
