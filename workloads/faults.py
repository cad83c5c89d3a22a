"""Fault workloads: one task of ``size`` raises, ends its worker process, crashes it, or never returns.

They test a site's installation and the suite itself: a sweep records the
failing cell (``error`` or ``timeout``, with the worker's traceback), replaces
the broken executor and goes on. ``at`` is the index of the faulty task (the
middle one by default); with ``at`` beyond the last task nothing fails.

Each task knows the driver's process id: in the driver itself (the ``serial``
loop, a thread pool) ``fault-exit`` and ``fault-segv`` raise instead of ending
the process that measures. ``fault-hang`` needs a cell timeout, and these workloads get no
serial baseline (there is no speedup to measure).
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Iterable
from typing import Any

from workloads.base import Param, Workload

__all__ = [
    "FaultExit",
    "FaultHang",
    "FaultInjected",
    "FaultRaise",
    "FaultSegv",
    "exit_task",
    "hang_task",
    "raise_task",
    "segv_task",
]

#: The exit status of a worker that ``fault-exit`` ends.
EXIT_STATUS = 13
#: How long one sleep of ``fault-hang`` lasts; it sleeps again and again.
HANG_STEP_S = 3600.0


class FaultInjected(RuntimeError):
    """The planned failure of a fault workload."""


def _at(value: str) -> int:
    number = int(value)
    if number < -1:
        raise ValueError("at is a task index (0 or more), or -1 for the middle task")
    return number


AT = Param(default=-1, help="index of the faulty task; -1: the middle one", convert=_at)


def raise_task(item: tuple[int, int, int]) -> int:
    index, at, _ = item
    if index == at:
        raise FaultInjected(f"fault-raise: task {index} raised, as planned")
    return index


def exit_task(item: tuple[int, int, int]) -> int:
    index, at, driver = item
    if index == at:
        if os.getpid() == driver:
            raise FaultInjected(f"fault-exit: task {index} runs in the driver process, which it must not end")
        os._exit(EXIT_STATUS)
    return index


def segv_task(item: tuple[int, int, int]) -> int:
    index, at, driver = item
    if index == at:
        if os.getpid() == driver:
            raise FaultInjected(f"fault-segv: task {index} runs in the driver process, which it must not crash")
        ctypes.string_at(0)  # reads address 0: the kernel ends the process with SIGSEGV
    return index


def hang_task(item: tuple[int, int, int]) -> int:
    index, at, _ = item
    while index == at:
        time.sleep(HANG_STEP_S)
    return index


class _Fault(Workload):
    fault = True
    default_size = 16
    params = {"at": AT}
    #: No serial baseline: the baseline would fail (or hang) as the cell does.
    baseline = False

    def items(self, size: int, at: int = -1, **params: Any) -> Iterable[tuple[int, int, int]]:
        faulty = size // 2 if at == -1 else at
        driver = os.getpid()
        return ((index, faulty, driver) for index in range(size))

    def reduce(self, results: Iterable[Any]) -> list[int]:
        return sorted(results)

    def verify(self, answer: Any, size: int, **params: Any) -> bool:
        return bool(answer == list(range(size)))


class FaultRaise(_Fault):
    """One task raises ``FaultInjected``."""

    name = "fault-raise"
    description = "fault: one task (param at) raises an exception"
    task = staticmethod(raise_task)


class FaultExit(_Fault):
    """One task ends its worker process with ``os._exit``."""

    name = "fault-exit"
    description = "fault: one task (param at) ends its worker process (os._exit); in the driver it raises"
    task = staticmethod(exit_task)


class FaultSegv(_Fault):
    """One task crashes its worker process: a segmentation fault, as a broken C extension makes."""

    name = "fault-segv"
    description = "fault: one task (param at) crashes its worker process (SIGSEGV); in the driver it raises"
    task = staticmethod(segv_task)


class FaultHang(_Fault):
    """One task never returns: only a cell timeout ends the cell."""

    name = "fault-hang"
    description = "fault: one task (param at) never returns (needs a cell timeout)"
    task = staticmethod(hang_task)
    #: Refused without a cell timeout: the sweep would never end.
    needs_timeout = True
