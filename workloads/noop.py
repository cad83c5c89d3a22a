"""Empty tasks: what an executor costs per task (tasks/s = size / time)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from workloads.base import Workload
from workloads.probes import all_tasks, tally

__all__ = ["Noop", "task"]


def task(item: int) -> int:
    """Does nothing but hand the item back."""
    return item


class Noop(Workload):
    """``size`` empty tasks; the answer says which came back (how many, how many distinct, first, last)."""

    probe = True

    name = "noop"
    description = "empty tasks: per-task overhead (tasks/s = size / time)"
    default_size = 10000
    task = staticmethod(task)

    def items(self, size: int, **params: Any) -> Iterable[int]:
        return range(size)

    def reduce(self, results: Iterable[Any]) -> dict[str, int]:
        return tally((index, None) for index in results)[0]

    def verify(self, answer: Any, size: int, **params: Any) -> bool:
        return all_tasks(answer, size)
