"""The timing protocol for the cells of one executor instance.

One instance per (executor, workers) serves all the cells of its group, so
start-up is paid once and timed on its own (``startup_s``: from construction
until every worker has answered once). Each cell then gets one warm-up run,
and the ``repeats`` timed runs are taken in interleaved rounds (every cell
once per round) so that drift on a shared machine hits all cells alike. A
timed run is ``items(size)`` -> ``map(task, chunksize)`` -> ``reduce``, timed
with ``time.perf_counter``; every run's answer is verified outside the timed
region. A failure or timeout ends that cell and replaces the instance, so
leftover work cannot disturb the other cells.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import workloads
from bench.executors import Executor
from bench.plan import Cell

__all__ = ["CellResult", "NullReporter", "Reporter", "Verifier", "describe", "measure_group", "time_run"]


class Reporter(Protocol):
    """Where progress goes (a rich progress bar, plain lines, or nowhere)."""

    def run_started(self, cell: Cell, phase: str) -> None: ...

    def run_finished(self, cell: Cell) -> None: ...


@dataclass
class CellResult:
    """What measuring one cell produced; becomes a journal cell record."""

    cell: Cell
    status: str = "ok"
    error: str | None = None
    startup_s: float | None = None
    warmup_s: float | None = None
    times_s: list[float] = field(default_factory=list)
    teardown_s: float | None = None
    answer: Any = None
    verified: bool | None = None
    instance: int | None = None
    spent_s: float = 0.0

    def fail(self, status: str, error: str) -> None:
        self.status, self.error = status, error

    @property
    def running(self) -> bool:
        return self.status == "ok"


class Verifier:
    """Checks answers with the workload's own ``verify``, once per distinct answer."""

    def __init__(self) -> None:
        self._checked: dict[tuple[Any, ...], bool] = {}

    def check(self, cell: Cell, answer: Any) -> bool:
        key = (cell.workload, cell.size, cell.params, json.dumps(answer, sort_keys=True, default=repr))
        if key not in self._checked:
            workload = workloads.get(cell.workload)
            self._checked[key] = bool(workload.verify(answer, cell.size, **cell.param_dict))
        return self._checked[key]


def describe(exc: BaseException) -> str:
    """One line naming the exception, for a journal's ``error`` field."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def time_run(pool: Executor, cell: Cell, timeout: float | None = None) -> tuple[float, Any]:
    """One timed run of a cell: (seconds, answer)."""
    workload = workloads.get(cell.workload)
    task, params = workload.task, cell.param_dict
    start = time.perf_counter()
    results = pool.map(task, workload.items(cell.size, **params), chunksize=cell.chunksize, timeout=timeout)
    answer = workload.reduce(results)
    return time.perf_counter() - start, answer


def _start(backend: type[Executor], workers: int) -> tuple[Executor, float]:
    start = time.perf_counter()
    pool = backend(workers)
    pool.__enter__()
    return pool, time.perf_counter() - start


def measure_group(
    backend: type[Executor],
    workers: int,
    cells: list[Cell],
    *,
    repeats: int,
    cell_timeout: float | None,
    verifier: Verifier,
    reporter: Reporter,
    instance: int,
) -> list[CellResult]:
    """Measure the runnable cells of one (executor, workers) group."""
    results = [CellResult(cell, instance=instance) for cell in cells]
    try:
        active, startup_s = _start(backend, workers)
    except Exception as exc:
        for result in results:
            result.fail("error", f"start-up failed: {describe(exc)}")
        return results
    for result in results:
        result.startup_s = startup_s
    phases = ["warm-up"] + [f"run {n}/{repeats}" for n in range(1, repeats + 1)]
    try:
        for phase in phases:
            for result in [r for r in results if r.running]:
                reporter.run_started(result.cell, phase)
                failed = _run_once(active, result, phase == "warm-up", cell_timeout, verifier)
                reporter.run_finished(result.cell)
                if failed:
                    _abort(active)
                    active = _restart(backend, workers, results) if any(r.running for r in results) else None
                    if active is None:
                        return results
    finally:
        if active is not None:
            start = time.perf_counter()
            active.__exit__(None, None, None)
            teardown_s = time.perf_counter() - start
            for result in results:
                result.teardown_s = teardown_s
    return results


def _run_once(pool: Executor, result: CellResult, warmup: bool, cell_timeout: float | None, verifier: Verifier) -> bool:
    """Time one run into ``result``; True when the instance must be replaced."""
    timeout = None if cell_timeout is None else max(cell_timeout - result.spent_s, 0.0)
    start = time.perf_counter()
    try:
        elapsed, answer = time_run(pool, result.cell, timeout)
    except TimeoutError:
        runs = len(result.times_s)
        result.fail("timeout", f"exceeded --cell-timeout {cell_timeout:g} s after {runs} timed run(s)")
        return True
    except Exception as exc:
        result.fail("error", describe(exc))
        return True
    finally:
        result.spent_s += time.perf_counter() - start
    result.answer = answer
    try:
        result.verified = verifier.check(result.cell, answer)
    except Exception as exc:  # a broken verify fails its cell, not the sweep
        result.fail("error", f"verify raised {describe(exc)}")
        return False
    if not result.verified:
        result.fail("error", "wrong answer: verification failed")
        return False
    if warmup:
        result.warmup_s = elapsed
    else:
        result.times_s.append(elapsed)
    return False


def _abort(pool: Executor) -> None:
    """Stop a pool that may still run abandoned work."""
    try:
        pool.abort()
    except Exception:  # the pool is being discarded; nothing more to save
        pass


def _restart(backend: type[Executor], workers: int, results: list[CellResult]) -> Executor | None:
    """A fresh instance for the cells still running, or None (they are failed)."""
    try:
        return _start(backend, workers)[0]
    except Exception as exc:
        for result in results:
            if result.running:
                result.fail("error", f"executor restart failed: {describe(exc)}")
        return None


class NullReporter:
    """Shows nothing (``--quiet``, plain output, tests)."""

    def run_started(self, cell: Cell, phase: str) -> None:
        pass

    def run_finished(self, cell: Cell) -> None:
        pass
