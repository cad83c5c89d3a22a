"""Before a sweep: the time and memory of each case's serial run, estimated from a small probe.

A case that would outgrow the machine (``noop`` at a billion items holds a
billion results) or run for hours (``fibprimes`` at a billion) is refused
before anything starts, with the estimate, instead of being killed by the
kernel or running without end. The probe runs the case serially at sizes
that double until one run takes PROBE_S (or the case itself is reached),
fits the growth of time with the items between its last two sizes (at least
linear), and measures the driver's peak memory at the last size (tracemalloc),
which grows with the items.
"""

from __future__ import annotations

import math
import time
import tracemalloc
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import workloads
from bench import threads as inner
from bench.stats import duration_text

__all__ = ["PROBE_S", "CaseEstimate", "probe", "refusal"]

#: A probe stops doubling once one of its runs takes this long.
PROBE_S = 0.1
#: Memory a sweep may take, as a share of what is available when it starts: the workers and the
#: messages in flight hold copies of items and results beside the driver's.
MEMORY_SHARE = 0.5


@dataclass(frozen=True)
class CaseEstimate:
    """A case's serial run, estimated from a probe at ``probed_size``."""

    label: str
    seconds: float
    #: The driver's peak memory, estimated (None where the probe ran the whole case: it fits).
    peak_bytes: int | None
    probed_size: int
    probed_s: float
    #: How run time grows with the items (1: linearly); None when the probe ran the whole case.
    exponent: float | None

    @property
    def exact(self) -> bool:
        return self.exponent is None

    def how(self) -> str:
        if self.exact:
            return "measured"
        return (
            f"a probe at size {self.probed_size} took {duration_text(self.probed_s)}; "
            f"time grows as items^{self.exponent:.1f}"
        )


def _run(workload: workloads.Workload, size: int, params: dict[str, Any]) -> float:
    start = time.perf_counter()
    workload.consume(map(workload.task, workload.items(size, **params)), size, **params)
    return time.perf_counter() - start


def _peak_bytes(workload: workloads.Workload, size: int, params: dict[str, Any]) -> int:
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        before = tracemalloc.get_traced_memory()[0]
        _run(workload, size, params)
        return max(tracemalloc.get_traced_memory()[1] - before, 0)
    finally:
        if not tracing:
            tracemalloc.stop()


def _items(workload: workloads.Workload, size: int, params: dict[str, Any]) -> float:
    count = workload.count(size, **params)
    return float(count if count is not None else size)


def probe(name: str, size: int, params: dict[str, Any], label: str, threads: int | None) -> CaseEstimate | None:
    """The estimate of one case; None for a workload that fails on purpose or a probe that raised
    (the sweep then records the error where it happens)."""
    workload = workloads.get(name)
    if workload.fault or workload.needs_timeout:
        return None
    points: list[tuple[int, float]] = []
    probed = 1
    try:
        with inner.limited(threads):
            while True:
                points.append((probed, _run(workload, probed, params)))
                if probed >= size or points[-1][1] >= PROBE_S:
                    break
                probed = min(size, probed * 2)
            if probed >= size:  # the whole case ran: it fits, and its time is known
                return CaseEstimate(label, points[-1][1], None, probed, points[-1][1], None)
            peak = _peak_bytes(workload, probed, params)
    except Exception:
        return None
    items, probed_items = _items(workload, size, params), _items(workload, probed, params)
    seconds = points[-1][1]
    exponent = 1.0
    if len(points) >= 2:
        (size_a, time_a), (size_b, time_b) = points[-2:]
        items_a, items_b = _items(workload, size_a, params), probed_items
        if time_a > 0 and items_b > items_a > 0:
            exponent = max(1.0, math.log(time_b / time_a) / math.log(items_b / items_a))
    growth = items / probed_items
    return CaseEstimate(label, seconds * growth**exponent, int(peak * growth), probed, seconds, exponent)


def refusal(found: CaseEstimate, max_seconds: float | None, available_bytes: int | None) -> str | None:
    """Why a case cannot run here, or None: memory first (a case that outgrows it is killed), then time."""
    peak = found.peak_bytes
    if available_bytes is not None and peak is not None and peak > MEMORY_SHARE * available_bytes:
        return (
            f"{found.label}: its serial run would need about {_bytes_text(peak)} of memory "
            f"({found.how()}), more than {MEMORY_SHARE:.0%} of the {_bytes_text(available_bytes)} available here"
        )
    if max_seconds is not None and found.seconds > max_seconds:
        return (
            f"{found.label}: its serial run would take about {duration_text(found.seconds)} ({found.how()}), "
            f"more than the longest case time of {duration_text(max_seconds)}"
        )
    return None


def _bytes_text(count: float) -> str:
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    power = min(int(math.log(max(count, 1.0), 1024)), len(units) - 1)
    return f"{count / 1024**power:.3g} {units[power]}"


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation here (psutil), or None where it cannot tell."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except (ImportError, OSError, RuntimeError):
        return None


def cases(cells: Iterable[Any]) -> dict[tuple[Any, ...], Any]:
    """One cell of each case among ``cells`` (the runnable ones), in order."""
    found: dict[tuple[Any, ...], Any] = {}
    for cell in cells:
        if not cell.skip_reason:
            found.setdefault(cell.case, cell)
    return found
