"""The matrix: presets, validation, expansion into cells, skips with reasons."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import bench.executors
import workloads
from bench import stats
from bench.metadata import available_cores

__all__ = [
    "AUTO",
    "AUTO_MIN_ROUNDS",
    "PRESETS",
    "Cell",
    "Group",
    "Matrix",
    "PlanError",
    "auto_chunksize",
    "build",
    "from_preset",
]

AUTO = "auto"
#: The chunk spec of back-ends that do not chunk (one cell, chunksize 1).
NO_CHUNKS = "n/a"
#: Items per task under ``auto``: multiprocessing's rule, ceil(n / (4 x workers)).
AUTO_TASKS_PER_WORKER = 4
#: Local workers per available core beyond which a matrix is refused unless
#: ``oversubscribe`` is set: a few per core measure oversubscription, thousands
#: only exhaust the machine.
MAX_WORKERS_PER_CORE = 4
WARMUPS = ("short", "full")
#: ``repeats="auto"`` stops no cell before this many rounds: the fewest for
#: which a distribution-free 95% interval of a median exists.
AUTO_MIN_ROUNDS = max(3, stats.min_samples())


class PlanError(ValueError):
    """A matrix that cannot be run: a bad name, value or combination."""


def auto_chunksize(n_items: int, workers: int) -> int:
    """The ``auto`` chunk size: about four tasks per worker, at least one item."""
    return max(1, math.ceil(n_items / (AUTO_TASKS_PER_WORKER * workers)))


def max_local_workers() -> int:
    """The most workers a local back-end may start here without ``oversubscribe``."""
    return MAX_WORKERS_PER_CORE * available_cores()


def _unique(values: Any) -> Any:
    """A tuple option without repeats (first occurrence kept); other values as they are."""
    return tuple(dict.fromkeys(values)) if isinstance(values, tuple) else values


@dataclass(frozen=True)
class Matrix:
    """What to sweep. ``None`` means: every executor / the workload's default size.

    ``repeats`` is a number of timed rounds, or ``"auto"``: rounds until the
    95% interval of every cell's paired speedup is within +-``precision`` of
    it (at most ``max_repeats``). Repeated values in a list make one cell.
    """

    executors: tuple[str, ...] | None = None
    workloads: tuple[str, ...] = ("fibprimes",)
    workers: tuple[int, ...] = (1, 2)
    chunksizes: tuple[str, ...] = ("1", "16", AUTO)
    sizes: tuple[int, ...] | None = None
    params: dict[str, tuple[str, ...]] = field(default_factory=dict)
    repeats: int | str = 3
    cell_timeout: float | None = None
    precision: float = 0.03
    max_repeats: int = 20
    warmup: str = "short"
    oversubscribe: bool = False

    def __post_init__(self) -> None:
        for name in ("executors", "workloads", "workers", "chunksizes", "sizes"):
            object.__setattr__(self, name, _unique(getattr(self, name)))
        object.__setattr__(self, "params", {key: _unique(tuple(values)) for key, values in self.params.items()})

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Matrix:
        def tup(value: Any) -> Any:
            return tuple(value) if isinstance(value, list) else value

        fields = {key: tup(value) for key, value in data.items() if key != "params"}
        fields.setdefault("warmup", "full")  # journals from before short warm-ups ran whole cases
        return cls(**fields, params={key: tuple(values) for key, values in data.get("params", {}).items()})


def _quick_workers() -> tuple[int, ...]:
    return tuple(sorted({1, 2, available_cores()}))


#: Named matrices; command-line options override their fields.
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "help": "every executor on fibprimes size 1500, workers 1, 2 and the core count, chunk sizes 1, 16, auto, "
        "6 rounds (the fewest that give 95% intervals)",
        "workers": _quick_workers,
        "chunksizes": ("1", "16", AUTO),
        "sizes": (1500,),
        "repeats": AUTO_MIN_ROUNDS,
    },
    "seed": {
        "help": "the course exercise: primes among the first 5000 Fibonacci numbers, "
        "workers 1-4, chunk sizes 1, 10, 100, auto",
        "workers": (1, 2, 3, 4),
        "chunksizes": ("1", "10", "100", AUTO),
        "sizes": (5000,),
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
    return Matrix(**fields)


@dataclass(frozen=True)
class Cell:
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
    items: int = 0

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def key(self) -> tuple[Any, ...]:
        """Identity of the cell within a run (used by ``--resume``)."""
        return (self.executor, self.workers, self.workload, self.size, self.chunksize_spec, self.params)

    @property
    def case(self) -> tuple[Any, ...]:
        """What is computed, whoever computes it: cells of one case share a serial baseline."""
        return (self.workload, self.size, self.params)

    def case_label(self) -> str:
        """E.g. ``fibprimes[2000] order=ascending``."""
        params = "".join(f" {key}={value}" for key, value in self.params)
        return f"{self.workload}[{self.size}]{params}"

    def label(self) -> str:
        """Short human name, e.g. ``process-pool x2 fibprimes[2000] order=ascending chunk=auto->250``."""
        chunk = ""
        if self.chunksize_spec == AUTO:
            chunk = f" chunk=auto->{self.chunksize}"
        elif self.chunksize_spec != NO_CHUNKS:
            chunk = f" chunk={self.chunksize}"
        return f"{self.executor} x{self.workers} {self.case_label()}{chunk}"


def record_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """The ``Cell.key`` of a journal's cell record."""
    params = tuple(sorted(record.get("params", {}).items()))
    return (record["executor"], record["workers"], record["workload"], record["size"], record["chunksize_spec"], params)


@dataclass(frozen=True)
class Group:
    """Cells that share one executor instance (same back-end, same workers)."""

    executor: str
    workers: int
    cells: tuple[Cell, ...]

    @property
    def skipped(self) -> bool:
        return all(cell.skip_reason for cell in self.cells)


def _check_names(kind: str, asked: Sequence[str], known: Sequence[str]) -> None:
    for name in asked:
        if name not in known:
            raise PlanError(f"unknown {kind} {name!r}; known: {', '.join(known)}")


def _param_grid(workload: workloads.Workload, asked: dict[str, tuple[str, ...]]) -> list[tuple[tuple[str, Any], ...]]:
    axes = []
    for key, param in sorted(workload.params.items()):
        values = asked.get(key)
        parsed = [param.parse(key, text) for text in values] if values else [param.default]
        axes.append([(key, value) for value in parsed])
    return [tuple(combo) for combo in itertools.product(*axes)]


def _chunk_specs(executor: type[bench.executors.Executor], specs: tuple[str, ...]) -> tuple[str, ...]:
    # A chunk size means nothing to a back-end that does not chunk: one cell.
    return specs if executor.chunked else (NO_CHUNKS,)


def _resolve_chunksize(spec: str, n_items: int, workers: int) -> int:
    if spec == AUTO:
        return auto_chunksize(n_items, workers)
    return int(spec) if spec.isdigit() else 1


def validate(matrix: Matrix) -> None:
    """Raise PlanError for anything that makes the matrix unrunnable."""
    _check_names("executor", matrix.executors or (), bench.executors.names())
    _check_names("workload", matrix.workloads, workloads.names())
    for label, values in (("workers", matrix.workers), ("sizes", matrix.sizes or ())):
        if any(not isinstance(v, int) or v < 1 for v in values):
            raise PlanError(f"{label} must be positive integers")
    for spec in matrix.chunksizes:
        if spec != AUTO and not (spec.isdigit() and int(spec) >= 1):
            raise PlanError(f"chunk size {spec!r} is not a positive integer or 'auto'")
    _check_rounds(matrix)
    if matrix.cell_timeout is not None and matrix.cell_timeout <= 0:
        raise PlanError("cell timeout must be > 0")
    if matrix.warmup not in WARMUPS:
        raise PlanError(f"warm-up {matrix.warmup!r} is not one of {', '.join(WARMUPS)}")
    _check_local_workers(matrix)
    declared = {key for name in matrix.workloads for key in workloads.get(name).params}
    for key in matrix.params:
        if key not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise PlanError(f"unknown param {key!r} for {', '.join(matrix.workloads)}; known: {known}")
    for name in matrix.workloads:
        workload = workloads.get(name)
        try:
            _param_grid(workload, {k: v for k, v in matrix.params.items() if k in workload.params})
        except ValueError as exc:
            raise PlanError(str(exc)) from None


def _check_rounds(matrix: Matrix) -> None:
    if matrix.repeats == AUTO:
        if not 0 < matrix.precision < 1:
            raise PlanError(f"precision must be between 0% and 100%, not {matrix.precision:.4g}")
        if not isinstance(matrix.max_repeats, int) or matrix.max_repeats < AUTO_MIN_ROUNDS:
            raise PlanError(
                f"max repeats must be >= {AUTO_MIN_ROUNDS} with repeats auto "
                f"(the fewest rounds that give a 95% interval of a median)"
            )
    elif not isinstance(matrix.repeats, int) or matrix.repeats < 1:
        raise PlanError(f"repeats must be >= 1 or {AUTO!r}")


def _check_local_workers(matrix: Matrix) -> None:
    if matrix.oversubscribe:
        return
    limit = max_local_workers()
    for name in matrix.executors or tuple(bench.executors.names()):
        backend = bench.executors.get(name)
        if not backend.local:
            continue
        too_many = [workers for workers in matrix.workers if workers > limit and not backend.unsupported(workers)]
        if too_many:
            raise PlanError(
                f"{name} with {max(too_many)} workers exceeds the limit of {limit} local workers here "
                f"({MAX_WORKERS_PER_CORE} per available core); --oversubscribe allows it"
            )


def build(matrix: Matrix) -> list[Group]:
    """Validate and expand the matrix into groups of cells, in run order."""
    validate(matrix)
    cores = available_cores()
    groups = []
    for executor_name in matrix.executors or tuple(bench.executors.names()):
        backend = bench.executors.get(executor_name)
        unavailable = backend.available()
        for workers in matrix.workers:
            reason = unavailable or backend.unsupported(workers)
            cells = []
            for workload_name in matrix.workloads:
                workload = workloads.get(workload_name)
                asked = {k: v for k, v in matrix.params.items() if k in workload.params}
                for size, params in itertools.product(
                    matrix.sizes or (workload.default_size,), _param_grid(workload, asked)
                ):
                    n_items = workload.count(size, **dict(params))
                    for spec in _chunk_specs(backend, matrix.chunksizes):
                        cells.append(
                            Cell(
                                executor=executor_name,
                                workers=workers,
                                workload=workload_name,
                                size=size,
                                chunksize=_resolve_chunksize(spec, n_items, workers),
                                chunksize_spec=spec,
                                params=params,
                                skip_reason=reason or workload.available(),
                                oversubscribed=workers > cores,
                                items=n_items,
                            )
                        )
            groups.append(Group(executor_name, workers, tuple(cells)))
    return groups


def without(groups: list[Group], done: set[tuple[Any, ...]]) -> list[Group]:
    """The groups with the cells whose keys are in ``done`` removed."""
    remaining = []
    for group in groups:
        cells = tuple(cell for cell in group.cells if cell.key not in done)
        if cells:
            remaining.append(replace(group, cells=cells))
    return remaining
