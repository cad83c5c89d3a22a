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

__all__ = [
    "Payload",
    "Sleep",
    "Spin",
    "all_tasks",
    "calibrated_iterations",
    "payload_block",
    "non_negative_int",
    "positive_int",
    "sleep_task",
    "spin_task",
    "tally",
]


def positive_int(text: str) -> int:
    """A parameter value that must be a positive integer (ValueError otherwise)."""
    value = int(text)
    if value < 1:
        raise ValueError("not a positive integer")
    return value


def non_negative_int(text: str) -> int:
    """A parameter value that must be an integer of 0 or more (ValueError otherwise)."""
    value = int(text)
    if value < 0:
        raise ValueError("not a non-negative integer")
    return value


TASK_US = Param(default=1000, help="duration of each task in microseconds", convert=positive_int)


def tally(results: Iterable[tuple[int, Any]]) -> tuple[dict[str, int], list[Any]]:
    """(which tasks answered: how many, how many distinct, the first and last index; their values),
    whatever order the results came in."""
    indices: set[int] = set()
    values, count = [], 0
    for index, value in results:
        count += 1
        indices.add(index)
        values.append(value)
    first, last = min(indices, default=-1), max(indices, default=-1)
    return {"tasks": count, "distinct": len(indices), "first": first, "last": last}, values


def all_tasks(answer: Any, size: int) -> bool:
    """Every task 0..size-1 answered, each exactly once."""
    expected = {"tasks": size, "distinct": size, "first": 0 if size else -1, "last": size - 1}
    return isinstance(answer, dict) and all(answer.get(key) == value for key, value in expected.items())


def sleep_task(item: tuple[int, int]) -> tuple[int, float]:
    """Sleep ``task_us`` microseconds: (index, microseconds it really slept)."""
    index, task_us = item
    start = time.perf_counter()
    time.sleep(task_us / 1e6)
    return index, (time.perf_counter() - start) * 1e6


class Sleep(Workload):
    """``size`` tasks that each sleep ``task_us``: pure scheduling, ideal speedup = workers."""

    probe = True

    name = "sleep"
    description = "tasks that sleep task_us each (the first straggler_us, where given): scheduling alone"
    default_size = 2000
    params = {
        "task_us": TASK_US,
        "straggler_us": Param(
            default=0,
            help="duration of the first task in microseconds, a planted straggler (0: task_us like the others)",
            convert=non_negative_int,
        ),
    }
    task = staticmethod(sleep_task)

    def items(self, size: int, task_us: int = 1000, straggler_us: int = 0, **params: Any) -> Iterable[tuple[int, int]]:
        return ((index, straggler_us if index == 0 and straggler_us else task_us) for index in range(size))

    def reduce(self, results: Iterable[Any]) -> dict[str, Any]:
        tasks, slept_us = tally(results)
        return {**tasks, "shortest_us": round(min(slept_us, default=0.0), 1)}

    def verify(self, answer: Any, size: int, task_us: int = 1000, straggler_us: int = 0, **params: Any) -> bool:
        # time.sleep sleeps at least as long as asked; 1 us of slack for the rounding
        shortest = min(task_us, straggler_us) if straggler_us and size > 1 else straggler_us or task_us
        return all_tasks(answer, size) and answer.get("shortest_us", -1) >= shortest - 1


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
    """Spin for the given iterations: (index, the loop's sum)."""
    index, iterations = item
    return index, spin_loop(iterations)


class Spin(Workload):
    """``size`` CPU-bound tasks of ``task_us`` each (a busy loop calibrated once per run in the driver)."""

    probe = True

    name = "spin"
    description = "CPU-bound tasks of task_us each (busy loop calibrated in the driver): like sleep, on cores"
    default_size = 2000
    params = {"task_us": TASK_US}
    task = staticmethod(spin_task)

    def items(self, size: int, task_us: int = 1000, **params: Any) -> Iterable[tuple[int, int]]:
        iterations = calibrated_iterations(task_us)
        return ((index, iterations) for index in range(size))

    def reduce(self, results: Iterable[Any]) -> dict[str, Any]:
        tasks, sums = tally(results)
        return {**tasks, "loop_sums": sorted(set(sums))}

    def verify(self, answer: Any, size: int, task_us: int = 1000, **params: Any) -> bool:
        # Every task ran the whole loop the driver calibrated for task_us: n iterations sum to n(n-1)/2.
        iterations = calibrated_iterations(task_us)
        return all_tasks(answer, size) and answer.get("loop_sums") == [iterations * (iterations - 1) // 2]


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

    probe = True

    name = "payload"
    description = "identity over payload_bytes of data per task, there and back: transfer bandwidth"
    default_size = 200
    params = {
        "payload_bytes": Param(
            default=1024,
            help="bytes each task carries (unless given: 1 B, 1 KiB, 64 KiB and 1 MiB)",
            convert=positive_int,
            sweep=(1, 1024, 65536, 1048576),
        )
    }
    task = staticmethod(identity)

    def items(self, size: int, payload_bytes: int = 1024, **params: Any) -> Iterable[tuple[int, bytes]]:
        # Each item carries its own copy: pickle sends an object that recurs within one chunk only once,
        # so a shared block would travel once per chunk, not once per item, at chunk sizes above 1.
        block = payload_block(payload_bytes)
        return ((index, bytes(memoryview(block))) for index in range(size))

    def reduce(self, results: Iterable[Any]) -> dict[str, Any]:
        tasks, blocks = tally(results)
        # A byte-wise comparison with the block sent (memcmp, several GB/s) keeps the driver's share
        # of a run small, so that the time is the transfer's; a checksum would cost more than that.
        intact = sum(1 for block in blocks if block == payload_block(len(block)))
        return {**tasks, "bytes": sum(len(block) for block in blocks), "intact": intact}

    def verify(self, answer: Any, size: int, payload_bytes: int = 1024, **params: Any) -> bool:
        # The block the tasks carried is the one made afresh here, checked by its CRC-32.
        sent = zlib.crc32(payload_block(payload_bytes)) == zlib.crc32(payload_block.__wrapped__(payload_bytes))
        return (
            sent
            and all_tasks(answer, size)
            and answer.get("bytes") == size * payload_bytes
            and answer.get("intact") == size
        )
