"""Traces: which worker computed each chunk of a run, and when, on one clock; and the POP metrics from them.

A traced run is one extra run of a cell, outside its timed rounds. The task is
wrapped (:func:`traced_call`) so that every item comes back with the worker
that computed it (node, process, MPI rank, thread) and the worker's clock at
its start and end; the driver notes when the library took each item from the
input (a chunk is submitted once its last item is taken) and when each result
reached it. Consecutive items of one chunk ran together on one worker, so the
items fold into chunks: worker, items, submit, start, end, done, bytes in and
out (the items' and results' pickled sizes, measured after the run), and the
CPU time the worker's thread spent on them (``time.thread_time``; a task's own
inner threads are not counted). A chunk's CPU time over its compute time is
its CPU share (``TraceRecord.cpu_share``): about 1 where the worker had a core
to itself, lower where it waited, for the GIL (threads of one process) or for
a core (oversubscribed). Unlike a ratio of two runs, it is measured in one
moment, so a core's speed does not move it.

One clock: ``time.perf_counter``, which on one host is a monotonic clock that
every process shares (Linux's CLOCK_MONOTONIC). Workers on other nodes have
clocks of their own; :func:`clock_offsets` estimates each node's offset when
an instance starts, from round trips (Cristian's method: the offset lies
between the worker's reading less the receipt and the worker's reading less
the submission; the narrowest such interval over several probes is kept, and
its half-width is the uncertainty).

The POP metrics (the POP Centre of Excellence's efficiency model), for worker
*w* with useful time *u_w* (the sum of its chunks' compute time) and the
traced run's wall time *T*: load balance LB = mean(u) / max(u); communication
efficiency CommE = max(u) / T; parallel efficiency PE = LB x CommE;
computation scaling CompS = (the serial useful time of the same items) / sum(u);
global efficiency GE = PE x CompS, which equals serial useful time / (P x T). Both sides at the level of
their rounds: the serial time at the median of the case's paired baselines, and *u* and *T* at the median
of the cell's timed rounds (times it over the traced run's *T*), so that GE is the rounds' efficiency
where the traced run met the machine at another speed (:func:`pop_metrics`).
"""

from __future__ import annotations

import functools
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pickle import HIGHEST_PROTOCOL, dumps
from typing import Any

from bench.data.schema import POP_KEYS, TRACE_COLUMNS, TRACE_EXTRA_COLUMNS
from bench.host.mpi_launch import node_name

__all__ = [
    "CLOCK",
    "GAP_LIMIT",
    "MAX_CHUNKS",
    "MAX_PROFILE_ITEMS",
    "POP_KEYS",
    "Trace",
    "Tracer",
    "clock_offsets",
    "compact",
    "pop_metrics",
    "serial_seconds",
    "traced_call",
]

#: The clock of every trace: a monotonic clock shared by the processes of one host.
CLOCK = "perf_counter"
#: Chunks a trace record keeps at most; past it, a uniform sample of them (the POP metrics use them all).
MAX_CHUNKS = 4000
#: Items a cost profile (the traced serial run of a case) keeps at most, past which it is sampled too.
MAX_PROFILE_ITEMS = 20000
#: How far the global efficiency of a trace may lie from the cell's measured paired efficiency
#: (relative) before the report says that the traced run does not represent the timed rounds.
GAP_LIMIT = 0.15
#: Rounds of clock probes (one per worker each) at an instance's start, where workers run elsewhere.
PROBE_ROUNDS = 5
#: Where chunks have no fixed size: consecutive items that one worker started within this long of the
#: previous one's end belong to one chunk (a worker runs a chunk's items back to back, a few microseconds
#: apart; the next chunk reaches it through the library's queue).
ADJACENT_S = 20e-6
#: Decimals kept of a time in a trace record (0.1 us).
DECIMALS = 7

_process: tuple[str, int, int | None] | None = None


def _process_identity() -> tuple[str, int, int | None]:
    """(node, pid, MPI rank or None) of this process, found once (again after a fork)."""
    global _process
    if _process is None or _process[1] != os.getpid():
        rank = None
        mpi = sys.modules.get("mpi4py.MPI")
        if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
            rank = mpi.COMM_WORLD.Get_rank()
        _process = (node_name(), os.getpid(), rank)
    return _process


def traced_call(
    task: Callable[[Any], Any], pair: tuple[int, Any]
) -> tuple[Any, int, float, float, tuple[Any, ...], float]:
    """On a worker: ``task(item)`` for ``pair = (index, item)``, with (result, index, start, end, who, cpu)."""
    index, item = pair
    cpu = time.thread_time()
    start = time.perf_counter()
    result = task(item)
    end = time.perf_counter()
    cpu = time.thread_time() - cpu
    return result, index, start, end, (*_process_identity(), threading.get_ident()), cpu


def clock_probe(delay_s: float) -> tuple[str, float, float]:
    """On a worker: (node, its clock on arrival, its clock on leaving); the delay spreads probes over workers."""
    arrived = time.perf_counter()
    time.sleep(delay_s)
    return node_name(), arrived, time.perf_counter()


def clock_offsets(pool: Any, nodes: Iterable[str] | None, rounds: int = PROBE_ROUNDS) -> dict[str, dict[str, Any]]:
    """Per node where the workers run, their clock less the driver's: ``offset_s`` with ``uncertainty_s``
    (half the narrowest interval found) and ``probes``. Empty where every worker runs on the driver's node,
    whose clock they share. ``pool`` is a started executor (``submit`` and ``_gather``)."""
    here = node_name()
    if not nodes or set(nodes) <= {here}:
        return {}
    bounds: dict[str, list[float]] = {}
    probes: dict[str, int] = {}
    for _ in range(rounds):
        sent = []
        for _ in range(pool.workers):
            sent.append((time.perf_counter(), pool.submit(clock_probe, 0.005)))
        answers = pool._gather([future for _, future in sent], 60.0)
        received = time.perf_counter()
        for (submitted, _), (node, arrived, left) in zip(sent, answers, strict=True):
            # the worker read ``arrived`` after the submission and ``left`` before the receipt (driver's clock)
            low, high = left - received, arrived - submitted
            found = bounds.setdefault(node, [low, high])
            found[0], found[1] = max(found[0], low), min(found[1], high)
            if found[0] > found[1]:  # clocks that drifted apart: keep the latest interval
                found[0], found[1] = low, high
            probes[node] = probes.get(node, 0) + 1
    return {
        node: {
            "offset_s": round((low + high) / 2, 9),
            "uncertainty_s": round((high - low) / 2, 9),
            "probes": probes[node],
        }
        for node, (low, high) in sorted(bounds.items())
    }


@dataclass
class Trace:
    """A traced run: its wall time and its chunks, every time in seconds since the run began."""

    wall_s: float
    #: Who ran chunks: one object per lane (``node``, ``pid``, ``rank``, ``thread``), by first start.
    lanes: list[dict[str, Any]]
    #: Column name -> one value per chunk, in item order.
    chunks: dict[str, list[Any]]
    #: Per node, the clock offset applied to its workers' times (``clock_offsets``).
    offsets: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.chunks["first"])

    def useful(self) -> list[float]:
        """Each lane's useful time: the sum of its chunks' compute time."""
        totals = [0.0] * len(self.lanes)
        for lane, start, end in zip(self.chunks["worker"], self.chunks["start"], self.chunks["end"], strict=True):
            totals[lane] += max(end - start, 0.0)
        return totals

    def item_seconds(self) -> dict[int, float]:
        """Item index -> seconds, for a trace of one item per chunk (a serial cost profile)."""
        return {
            first: end - start
            for first, start, end in zip(self.chunks["first"], self.chunks["start"], self.chunks["end"], strict=True)
        }


def _pickled(value: Any) -> int:
    try:
        return len(dumps(value, protocol=HIGHEST_PROTOCOL))
    except Exception:  # a result the driver could not pickle itself: its size is unknown
        return 0


class Tracer:
    """The driver's side of a traced run (see ``bench.measuring.measure.time_run``): wraps the task, notes when each
    item is taken and each result arrives, then folds the items into chunks."""

    def __init__(self, chunksize: int | None, offsets: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        #: Items per chunk; None where the library sizes chunks as it runs (their items are then those that
        #: one worker ran back to back, see ``ADJACENT_S``).
        self.chunksize = None if chunksize is None else max(1, chunksize)
        self.offsets = {node: dict(value) for node, value in (offsets or {}).items()}
        self.began = self.ended = 0.0
        self._taken: list[float] = []
        self._inputs: list[Any] = []
        self._received: dict[int, tuple[float, float, tuple[Any, ...], float, Any, float]] = {}

    def begin(self) -> None:
        self.began = time.perf_counter()

    def end(self) -> None:
        self.ended = time.perf_counter()

    def task(self, task: Callable[[Any], Any]) -> Callable[[tuple[int, Any]], Any]:
        return functools.partial(traced_call, task)

    def feed(self, items: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        """The input, each item numbered, its taking noted."""
        for index, item in enumerate(items):
            self._inputs.append(item)
            self._taken.append(time.perf_counter())
            yield index, item

    def collect(self, results: Iterable[Any]) -> Generator[Any, None, None]:
        """The plain results, in the order they come, their arrival noted."""
        for result, index, start, end, who, cpu in results:
            self._received[index] = (start, end, who, time.perf_counter(), result, cpu)
            yield result

    def trace(self) -> Trace:
        """The run's chunks (call after ``end``)."""
        began = self.began
        lanes: dict[tuple[Any, ...], int] = {}
        by_chunk: dict[int, list[int]] = {}
        chunk, previous = -1, None
        for index in sorted(self._received):
            start, end, who = self._received[index][:3]
            if self.chunksize is not None:
                chunk = index // self.chunksize
            elif previous is None or (who, index - 1) != previous[:2] or start - previous[2] > ADJACENT_S:
                chunk += 1
            previous = (who, index, end)
            by_chunk.setdefault(chunk, []).append(index)
        whos: list[tuple[Any, ...]] = []
        chunks: dict[str, list[Any]] = {name: [] for name in (*TRACE_COLUMNS, *TRACE_EXTRA_COLUMNS)}
        for indices in by_chunk.values():
            who = self._received[indices[0]][2]
            shift = float(self.offsets.get(str(who[0]), {}).get("offset_s", 0.0))
            last = indices[-1]
            row = {
                "first": indices[0],
                "items": len(indices),
                "submit": self._taken[last] - began if last < len(self._taken) else None,
                "start": min(self._received[i][0] for i in indices) - shift - began,
                "end": max(self._received[i][1] for i in indices) - shift - began,
                "done": min(self._received[i][3] for i in indices) - began,
                "bytes_in": sum(_pickled(self._inputs[i]) for i in indices if i < len(self._inputs)),
                "bytes_out": sum(_pickled(self._received[i][4]) for i in indices),
                "cpu": sum(self._received[i][5] for i in indices),
            }
            whos.append(who)
            for name, value in row.items():
                chunks[name].append(value)
        for _, who in sorted(zip(chunks["start"], whos, strict=True), key=lambda pair: pair[0]):
            lanes.setdefault(who, len(lanes))
        chunks["worker"] = [lanes[who] for who in whos]
        described = [{"node": who[0], "pid": who[1], "rank": who[2], "thread": who[3]} for who in lanes]
        return Trace(self.ended - began, described, chunks, self.offsets)


def pop_metrics(
    trace: Trace, workers: int, serial_s: float | None, median_s: float | None = None
) -> dict[str, float | None]:
    """The POP metrics of a traced run on ``workers`` workers (see the module's docstring); ``serial_s`` is the
    serial useful time of the items it computed (None: unknown, and so are CompS and GE).

    ``median_s``: the median of the cell's timed rounds. The traced run gives the shape (LB, CommE and PE are
    ratios within it, which a core's speed does not move), the rounds' median the level: CompS divides the
    serial time by the useful time at that level (times ``median_s`` over the traced run's wall time), as the
    serial side takes its level from the median of the paired baselines. One run meets the machine at one
    moment, and its level alone would put GE as far from the rounds' efficiency as that moment was from them."""
    useful = trace.useful()
    lanes = max(workers, len(useful))
    useful += [0.0] * (lanes - len(useful))
    most = max(useful, default=0.0)
    if most <= 0 or trace.wall_s <= 0:
        return dict.fromkeys(POP_KEYS)
    balance = sum(useful) / lanes / most
    communication = most / trace.wall_s
    parallel = balance * communication
    level = median_s / trace.wall_s if median_s and median_s > 0 else 1.0
    computation = serial_s / (sum(useful) * level) if serial_s else None
    values = {
        "global": parallel * computation if computation is not None else None,
        "parallel": parallel,
        "load_balance": balance,
        "communication": communication,
        "computation": computation,
    }
    return {key: None if value is None else round(value, 4) for key, value in values.items()}


def serial_seconds(trace: Trace, profile: Mapping[int, float]) -> float | None:
    """The serial useful time (from a cost ``profile``: item index -> seconds) of the items ``trace``
    computed; None when the profile lacks one of them."""
    total = 0.0
    for first, items in zip(trace.chunks["first"], trace.chunks["items"], strict=True):
        for index in range(first, first + items):
            if index not in profile:
                return None
            total += profile[index]
    return total


def _rounded(values: list[Any]) -> list[Any]:
    return [round(v, DECIMALS) if isinstance(v, float) else v for v in values]


def compact(trace: Trace, limit: int = MAX_CHUNKS) -> dict[str, Any]:
    """A trace as a record holds it: columns rounded to 0.1 us, at most ``limit`` chunks (a uniform sample
    past it, said by ``sampled``), ``chunks_total`` the chunks of the run."""
    count = trace.count
    keep = range(count)
    if count > limit:
        step = count / limit
        keep = sorted({min(count - 1, math.floor(i * step)) for i in range(limit)})  # type: ignore[assignment]
    columns = {name: _rounded([values[i] for i in keep]) for name, values in trace.chunks.items()}
    return {
        "wall_s": round(trace.wall_s, DECIMALS),
        "clock": {"name": CLOCK, "shared": not trace.offsets, "offsets": trace.offsets},
        "lanes": trace.lanes,
        "chunks": columns,
        "chunks_total": count,
        "sampled": count > limit,
    }
