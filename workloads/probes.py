"""Probes of what an executor itself costs (in the spirit of ``python -m mpi4py.bench futures``
and Task Bench): tasks of a known duration, idle (``sleep``) or busy (``spin``), and data
that only travels (``payload``). ``noop`` (empty tasks) is in :mod:`workloads.noop`.

With tasks of a known duration the ideal time is known: ``size x task_us``
serially, divided by the workers in parallel. Sweeping ``task_us`` (the
``granularity`` preset) finds the smallest task an executor still runs at
50% efficiency (Task Bench's METG).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from workloads.base import Param, Workload

__all__ = ["Payload", "Sleep", "Spin", "calibrated_iterations", "payload_block", "sleep_task", "spin_task"]

TASK_US = Param(default=1000, help="duration of each task in microseconds", convert=int)


def _positive(key: str, value: int) -> int:
    if value < 1:
        raise ValueError(f"{key} must be >= 1")
    return value


def _tally(results: Iterable[tuple[int, Any]]) -> tuple[int, int, list[Any]]:
    """(tasks, sum of their indices, their values), whatever order the results came in."""
    count, index_sum, values = 0, 0, []
    for index, value in results:
        count, index_sum = count + 1, index_sum + index
        values.append(value)
    return count, index_sum, values


def _all_tasks(answer: Any, size: int) -> bool:
    """Every task 0..size-1 answered exactly once (as far as a count and a sum can tell)."""
    return (
        isinstance(answer, dict) and answer.get("tasks") == size and answer.get("index_sum") == size * (size - 1) // 2
    )


def sleep_task(item: tuple[int, int]) -> tuple[int, int]:
    """Sleep ``task_us`` microseconds: (index, task_us) for (index, task_us)."""
    index, task_us = item
    time.sleep(task_us / 1e6)
    return index, task_us


class Sleep(Workload):
    """``size`` tasks that each sleep ``task_us``: pure scheduling, ideal speedup = workers."""

    name = "sleep"
    description = "tasks that sleep task_us each: scheduling alone (ideal speedup = workers)"
    default_size = 2000
    params = {"task_us": TASK_US}
    task = staticmethod(sleep_task)

    def items(self, size: int, task_us: int = 1000, **params: Any) -> Iterable[tuple[int, int]]:
        _positive("task_us", task_us)
        return ((index, task_us) for index in range(size))

    def reduce(self, results: Iterable[Any]) -> dict[str, Any]:
        tasks, index_sum, durations = _tally(results)
        return {"tasks": tasks, "index_sum": index_sum, "task_us": sorted(set(durations))}

    def verify(self, answer: Any, size: int, task_us: int = 1000, **params: Any) -> bool:
        return _all_tasks(answer, size) and answer.get("task_us") == [task_us]


def spin_loop(iterations: int) -> int:
    """A pure-Python busy loop; returns its sum so that no step can be skipped."""
    total = 0
    for step in range(iterations):
        total += step
    return total


@lru_cache(maxsize=1)
def _loops_per_s() -> float:
    """Iterations of ``spin_loop`` per second in this process, measured once (the best of 5 runs)."""
    iterations, best = 200_000, float("inf")
    for _ in range(5):
        start = time.perf_counter()
        spin_loop(iterations)
        best = min(best, time.perf_counter() - start)
    return iterations / best


def calibrated_iterations(task_us: int) -> int:
    """Iterations of ``spin_loop`` that take ``task_us`` here (calibrated once per process)."""
    return max(1, round(_loops_per_s() * task_us / 1e6))


def spin_task(item: tuple[int, int]) -> tuple[int, int]:
    """Spin for the given iterations: (index, iterations) when the loop's sum is right."""
    index, iterations = item
    total = spin_loop(iterations)
    return index, iterations if total == iterations * (iterations - 1) // 2 else -1


class Spin(Workload):
    """``size`` CPU-bound tasks of ``task_us`` each (a busy loop calibrated once per run in the driver)."""

    name = "spin"
    description = "CPU-bound tasks of task_us each (busy loop calibrated in the driver): like sleep, on cores"
    default_size = 2000
    params = {"task_us": TASK_US}
    task = staticmethod(spin_task)

    def items(self, size: int, task_us: int = 1000, **params: Any) -> Iterable[tuple[int, int]]:
        iterations = calibrated_iterations(_positive("task_us", task_us))
        return ((index, iterations) for index in range(size))

    def reduce(self, results: Iterable[Any]) -> dict[str, Any]:
        tasks, index_sum, iterations = _tally(results)
        return {"tasks": tasks, "index_sum": index_sum, "iterations": sorted(set(iterations))}

    def verify(self, answer: Any, size: int, **params: Any) -> bool:
        # -1 marks a task whose loop sum was wrong; every task must have run the same loop.
        return _all_tasks(answer, size) and len(answer.get("iterations", [])) == 1 and answer["iterations"][0] > 0


@lru_cache(maxsize=16)
def payload_block(payload_bytes: int) -> bytes:
    """``payload_bytes`` of incompressible data (seeded: the same bytes in every process)."""
    import random

    return random.Random(payload_bytes).randbytes(payload_bytes)


def identity(item: tuple[int, bytes]) -> tuple[int, bytes]:
    """Hand the data back: it travels to the worker and back."""
    return item


class Payload(Workload):
    """``size`` tasks that each carry ``payload_bytes`` to a worker and back: transfer bandwidth."""

    name = "payload"
    description = "identity over payload_bytes of data per task, there and back: transfer bandwidth"
    default_size = 200
    params = {
        "payload_bytes": Param(
            default=1024,
            help="bytes each task carries (unless given: 1 B, 1 KiB, 64 KiB and 1 MiB)",
            convert=int,
            sweep=(1, 1024, 65536, 1048576),
        )
    }
    task = staticmethod(identity)

    def items(self, size: int, payload_bytes: int = 1024, **params: Any) -> Iterable[tuple[int, bytes]]:
        block = payload_block(_positive("payload_bytes", payload_bytes))
        return ((index, block) for index in range(size))

    def reduce(self, results: Iterable[Any]) -> dict[str, Any]:
        tasks, index_sum, blocks = _tally(results)
        return {
            "tasks": tasks,
            "index_sum": index_sum,
            "bytes": sum(len(block) for block in blocks),
            "crc32": sorted({zlib.crc32(block) for block in blocks}),
        }

    def verify(self, answer: Any, size: int, payload_bytes: int = 1024, **params: Any) -> bool:
        expected = zlib.crc32(payload_block.__wrapped__(payload_bytes))  # made afresh, not the tasks' copy
        return (
            _all_tasks(answer, size)
            and answer.get("bytes") == size * payload_bytes
            and answer.get("crc32") == [expected]
        )
