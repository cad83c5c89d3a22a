"""The machine's load while a cell ran: CPU taken by processes outside the run, steal, load average.

A cell is measured over the span of its rounds (its timed runs, the paired
baselines and the other cells of its executor instance, which interleave
with it). Over that span the meter reads the CPU time the machine's cores
(those this process may use) spent busy, and subtracts the CPU time of the
run's own processes: the driver and everything it started, the other ranks
of an MPI launch, the tasks of the same Slurm job on this node, and what an
executor names as its own (the worker jobs of ``dask-slurm``). What is left
was taken by other processes. A cell is ``busy`` when they took more than
BUSY_SHARE of the cores on average (beyond what the counters' resolution
can tell). Steal, the time a virtual machine's hypervisor gave its cores to
others, is recorded and reported beside it: it slows the run's own
processes as much as its baseline's, and on a shared virtual machine it
comes and goes with the host, whatever the run does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.host.provenance import available_cores

__all__ = [
    "BUSY_SHARE",
    "Meter",
    "Snapshot",
    "busy",
    "busy_line",
    "job_processes",
    "record",
    "steal_line",
    "steals",
    "stolen",
]

#: The share of the cores that other processes (or steal) may take, on average over a cell, before the
#: cell is marked busy: a tenth, one core in ten.
BUSY_SHARE = 0.10


@dataclass(frozen=True)
class Snapshot:
    """Cumulative counters at one moment (seconds)."""

    wall: float
    busy: float
    steal: float
    own: float
    processes: int


def _ticks_s() -> float:
    """The resolution of the kernel's CPU time counters."""
    try:
        return 1.0 / os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return 0.01


def _cpus() -> list[int] | None:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return None


class Meter:
    """Reads the counters; one per sweep (``watch`` adds an executor instance's own processes)."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self.cpus = _cpus()
        self.cores = available_cores()
        self._roots = set(self._run_roots())
        self._watched: set[int] = set()

    def _run_roots(self) -> Iterable[int]:
        """The processes whose descendants are this run: this one, the ranks of an MPI launch (the
        launcher's proxy is their parent), and the tasks of this Slurm job on this node."""
        from bench.host import mpi_launch

        yield os.getpid()
        if mpi_launch.launched():
            yield os.getppid()
        job = os.environ.get("SLURM_JOB_ID")
        if job:
            yield from job_processes({job})

    def watch(self, pids: Iterable[int]) -> None:
        """Count ``pids`` (and their descendants) as the run's own from now on."""
        self._watched.update(pids)

    def _machine(self) -> tuple[float, float]:
        """CPU seconds the usable cores spent busy (user, nice, system) and stolen, since boot."""
        per_cpu = self._psutil.cpu_times(percpu=True)
        chosen = [per_cpu[i] for i in self.cpus if i < len(per_cpu)] if self.cpus else per_cpu
        busy = sum(t.user + t.nice + t.system for t in chosen)
        steal = sum(getattr(t, "steal", 0.0) for t in chosen)
        return busy, steal

    def _own(self) -> tuple[float, int]:
        """CPU seconds of the run's processes (with their children that have ended), and how many."""
        parent: dict[int, int] = {}
        cpu: dict[int, float] = {}
        for process in self._psutil.process_iter(["ppid", "cpu_times"]):
            info = process.info
            times = info.get("cpu_times")
            if times is None:
                continue
            parent[process.pid] = info.get("ppid") or 0
            cpu[process.pid] = times.user + times.system + times.children_user + times.children_system
        children: dict[int, list[int]] = {}
        for pid, ppid in parent.items():
            children.setdefault(ppid, []).append(pid)
        seen: set[int] = set()
        stack = [pid for pid in self._roots | self._watched if pid in cpu]
        while stack:
            pid = stack.pop()
            if pid not in seen:
                seen.add(pid)
                stack.extend(children.get(pid, ()))
        return sum(cpu[pid] for pid in seen), len(seen)

    def snapshot(self) -> Snapshot:
        busy, steal = self._machine()
        own, processes = self._own()
        return Snapshot(time.monotonic(), busy, steal, own, processes)

    def record(self, start: Snapshot, end: Snapshot) -> dict[str, Any]:
        """A cell's ``load`` over the span from ``start`` to ``end``."""
        return record(start, end, self.cores)


def job_processes(jobs: set[str]) -> list[int]:
    """Processes on this node that belong to one of the Slurm ``jobs`` (by their environment)."""
    import psutil

    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("SLURM_JOB_ID") in jobs:
                found.append(process.pid)
        except psutil.Error:
            continue
    return found


def record(start: Snapshot, end: Snapshot, cores: int, loadavg: Sequence[float] | None = None) -> dict[str, Any]:
    """``other_cores`` (CPU used by processes outside the run, in cores, on average), ``steal`` (the share of
    the cores' time the hypervisor took), ``loadavg`` (1, 5 and 15 minutes, at the end), ``seconds`` (the
    span) and ``busy``."""
    seconds = max(end.wall - start.wall, 1e-9)
    other = max((end.busy - start.busy) - (end.own - start.own), 0.0) / seconds
    steal = max(end.steal - start.steal, 0.0) / (seconds * cores)
    # each counter read is off by up to a tick: the machine's per core, and each process's own
    tick = _ticks_s()
    resolution = 2 * tick * (cores + max(start.processes, end.processes)) / seconds
    if loadavg is None and hasattr(os, "getloadavg"):
        loadavg = os.getloadavg()
    busy = other - resolution > BUSY_SHARE * cores
    return {
        "other_cores": round(other, 3),
        "steal": round(steal, 4),
        "loadavg": [round(value, 2) for value in loadavg] if loadavg is not None else None,
        "seconds": round(seconds, 3),
        "busy": busy,
    }


def _cells(count: int) -> str:
    return f"{count} cell{'s' if count != 1 else ''}"


def busy(records: Sequence[Any]) -> tuple[list[Any], float]:
    """The records of cells that ran while the machine was busy, and the cores other processes used
    then, on average over them."""
    found = [record for record in records if record.busy]
    others = sum((record.load or {}).get("other_cores", 0.0) for record in found) / max(len(found), 1)
    return found, others


def busy_line(records: Sequence[Any]) -> str | None:
    """The run's last line about the machine's load: which cells ran while it was busy, or None."""
    busy_cells, others = busy(records)
    if not busy_cells:
        return None
    return (
        f"the machine was busy during {_cells(len(busy_cells))} (other processes used {others:.1f} cores on average): "
        "their results are unreliable; run again on a quiet machine"
    )


def stolen(record: Any) -> float:
    """The share of a cell's CPU time the hypervisor took, beyond what the counters can tell (0: none)."""
    load = record.load or {}
    seconds, steal = load.get("seconds") or 0.0, load.get("steal") or 0.0
    return steal if seconds > 0 and steal - 2 * _ticks_s() / seconds > BUSY_SHARE else 0.0


def steals(records: Sequence[Any]) -> list[float]:
    """The steal of each cell during which the hypervisor took more than BUSY_SHARE of the CPU."""
    return [share for share in map(stolen, records) if share]


def steal_line(records: Sequence[Any]) -> str | None:
    """A line about cells during which the hypervisor took more than BUSY_SHARE of the CPU, or None."""
    found = steals(records)
    if not found:
        return None
    return (
        f"the hypervisor took up to {max(found):.0%} of the CPU during {_cells(len(found))} (steal): "
        "this virtual machine's host was busy, and those timings may be disturbed"
    )
