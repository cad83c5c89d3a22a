"""Before a sweep: the time and memory of each case's serial run, estimated from a small probe.

A case that would outgrow the machine (``noop`` at a billion items holds a
billion results) or run for hours (``fibprimes`` at a billion) is refused
before anything starts, with the estimate, instead of being killed by the
kernel or running without end.

The probe runs the case serially at sizes that double until one run takes
PROBE_S, or the case itself is reached (then it is known to fit). Time is
extrapolated linearly in the items from the last run: a lower bound where an
item costs no less than the items before it (``fibprimes`` grows far faster),
so a case is refused only when even that bound is too long. The growth the
last two runs suggest is shown beside it. Memory: the driver's peak
(tracemalloc) at two small sizes, whose difference is what each item adds
(results, inputs), beyond what one task needs at once.
"""

from __future__ import annotations

import math
import time
import tracemalloc
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import workloads
from bench.data.format import bytes_text, duration_text
from bench.host import inner_threads

__all__ = ["MEMORY_SHARE", "PROBE_S", "CaseEstimate", "available_memory", "cases", "probe", "refusal"]

#: A probe stops doubling once one of its runs takes this long.
PROBE_S = 0.1
#: Memory a sweep may take, as a share of what is available when it starts: the workers and the
#: messages in flight hold copies of items and results beside the driver's.
MEMORY_SHARE = 0.5
#: How many times larger than its probe a case must be for its memory to be estimated: within that,
#: it grows to no more than a few runs of the probe took.
MEMORY_GROWTH = 16


@dataclass(frozen=True)
class CaseEstimate:
    """A case's serial run, estimated from a probe at ``probed_size``."""

    label: str
    #: Seconds, at least (linear in the items from the probe); exact where the probe ran the whole case.
    seconds: float
    #: The driver's peak memory (None where the probe ran the whole case, or came near: it fits).
    peak_bytes: int | None
    probed_size: int
    probed_s: float
    #: How run time grew with the items between the probe's last two runs; None when it ran the whole case.
    exponent: float | None = None
    #: Seconds, were it to go on growing so.
    seconds_grown: float | None = None

    @property
    def exact(self) -> bool:
        return self.exponent is None

    def how(self) -> str:
        if self.exact:
            return "measured"
        text = f"a probe at size {self.probed_size} took {duration_text(self.probed_s)}"
        if self.exponent is not None and self.seconds_grown is not None and self.exponent > 1.05:
            text += f"; {duration_text(self.seconds_grown)} if time keeps growing as items^{self.exponent:.1f}"
        return text


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


def _memory(workload: workloads.Workload, points: list[tuple[int, float]], items: float, params: dict[str, Any]) -> int:
    """The driver's peak memory for ``items`` items: the peak of a small run plus what each item adds
    (the slope between two small runs); tracemalloc slows what it watches many times over, so it
    watches the probe's runs that took a tenth of the last one or less."""
    small = [size for size, seconds in points if seconds <= PROBE_S / 10][-2:]
    if len(small) < 2:
        small = [size for size, _ in points[:2]]
    (items_a, peak_a), (items_b, peak_b) = [
        (_items(workload, n, params), _peak_bytes(workload, n, params)) for n in small
    ]
    return int(peak_b + max(peak_b - peak_a, 0) / (items_b - items_a) * (items - items_b))


def probe(name: str, size: int, params: dict[str, Any], label: str, threads: int | None) -> CaseEstimate | None:
    """The estimate of one case; None for a workload that fails on purpose or a probe that raised
    (the sweep then records the error where it happens)."""
    workload = workloads.get(name)
    if workload.fault or workload.needs_timeout:
        return None
    points: list[tuple[int, float]] = []
    probed = 1
    try:
        with inner_threads.limited(threads):
            while True:
                points.append((probed, _run(workload, probed, params)))
                if probed >= size or points[-1][1] >= PROBE_S:
                    break
                probed = min(size, probed * 2)
            seconds = points[-1][1]
            if probed >= size:  # the whole case ran: it fits, and its time is known
                return CaseEstimate(label, seconds, None, probed, seconds)
            items, probed_items = _items(workload, size, params), _items(workload, probed, params)
            growth = items / probed_items
            peak = _memory(workload, points, items, params) if growth >= MEMORY_GROWTH and len(points) > 1 else None
    except Exception:
        return None
    exponent = 1.0
    if len(points) >= 2:
        (size_a, time_a), _ = points[-2:]
        items_a = _items(workload, size_a, params)
        if time_a > 0 and probed_items > items_a > 0:
            exponent = max(1.0, math.log(seconds / time_a) / math.log(probed_items / items_a))
    return CaseEstimate(label, seconds * growth, peak, probed, seconds, exponent, seconds * growth**exponent)


def refusal(found: CaseEstimate, max_seconds: float | None, available_bytes: int | None) -> str | None:
    """Why a case cannot run here, or None: memory first (a case that outgrows it is killed), then time."""
    peak = found.peak_bytes
    if available_bytes is not None and peak is not None and peak > MEMORY_SHARE * available_bytes:
        return (
            f"{found.label}: its serial run would need about {bytes_text(peak)} of memory "
            f"({found.how()}), more than {MEMORY_SHARE:.0%} of the {bytes_text(available_bytes)} available here"
        )
    if max_seconds is not None and found.seconds > max_seconds:
        return (
            f"{found.label}: its serial run would take at least {duration_text(found.seconds)} ({found.how()}), "
            f"more than the longest case time of {duration_text(max_seconds)}"
        )
    return None


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
