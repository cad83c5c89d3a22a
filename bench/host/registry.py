"""Name -> plug-in registries, fed by built-ins and an entry-point group: the executors and the workloads.

A registry names its plug-ins as text (``"module:attr"``) and imports one only when it is asked for, so
that any floor may ask what a name holds (the record schema asks a workload's declared parameters)
without importing the plug-ins' floor; ``bench.executors`` and ``workloads`` are their typed faces.
"""

from __future__ import annotations

import importlib
import warnings
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

__all__ = ["EXECUTORS", "WORKLOADS", "Registry", "UnknownName"]

T = TypeVar("T")


class UnknownName(KeyError):
    """An unknown registry name; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Generic[T]):
    """Built-in plug-ins given as ``"module:attr"`` plus third-party ones.

    Third-party plug-ins register through the entry-point ``group``; they are
    loaded lazily, once, and one that fails to import is reported with a
    warning instead of breaking the whole registry.
    """

    def __init__(self, kind: str, group: str, builtins: dict[str, str]) -> None:
        self.kind = kind
        self.group = group
        self._targets = dict(builtins)
        self._loaded: dict[str, T] = {}
        self._scanned = False

    def _scan(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        for ep in entry_points(group=self.group):
            self._targets.setdefault(ep.name, ep.value)

    def names(self) -> list[str]:
        """Every registered name, built-ins first in their documented order."""
        self._scan()
        return list(self._targets)

    def get(self, name: str) -> T:
        """The plug-in registered as ``name``; UnknownName lists the known ones."""
        self._scan()
        if name not in self._targets:
            known = ", ".join(self._targets)
            raise UnknownName(f"unknown {self.kind} {name!r}; known: {known}")
        if name not in self._loaded:
            module_name, _, attr = self._targets[name].partition(":")
            obj = importlib.import_module(module_name)
            for part in attr.split(".") if attr else ():
                obj = getattr(obj, part)
            self._loaded[name] = obj  # type: ignore[assignment]
        return self._loaded[name]

    def load_all(self) -> dict[str, T]:
        """Every plug-in that imports; a broken third-party one only warns."""
        loaded = {}
        for name in self.names():
            try:
                loaded[name] = self.get(name)
            except Exception as exc:  # a third-party plug-in may be broken
                warnings.warn(f"{self.kind} {name!r} failed to load: {exc}", stacklevel=2)
        return loaded


#: The executor back-ends (``bench.executors.get`` types them).
EXECUTORS: Registry[Any] = Registry(
    "executor",
    "bench.executors",
    {
        "serial": "bench.executors.local:Serial",
        "thread-pool": "bench.executors.local:ThreadPool",
        "multiprocessing": "bench.executors.local:MultiprocessingPool",
        "process-pool": "bench.executors.local:ProcessPool",
        "mpi-comm": "bench.executors.mpi:MpiComm",
        "mpi-pool": "bench.executors.mpi:MpiPool",
        "dask-local": "bench.executors.dask:DaskLocal",
        "dask-slurm": "bench.executors.dask:DaskSlurm",
        "joblib": "bench.executors.joblib:Joblib",
        "ray": "bench.executors.ray:Ray",
    },
)
#: The workloads' classes (``workloads.get`` makes their instances).
WORKLOADS: Registry[Any] = Registry(
    "workload",
    "bench.workloads",
    {
        "fibprimes": "workloads.fibprimes:FibPrimes",
        "fibprimes-first": "workloads.fibprimes:FibPrimesFirst",
        "primes-range": "workloads.primes_range:PrimesRange",
        "polyfit": "workloads.polyfit:Polyfit",
        "linalg": "workloads.linalg:Linalg",
        "noop": "workloads.noop:Noop",
        "sleep": "workloads.probes:Sleep",
        "spin": "workloads.probes:Spin",
        "payload": "workloads.probes:Payload",
        "fault-raise": "workloads.faults:FaultRaise",
        "fault-exit": "workloads.faults:FaultExit",
        "fault-segv": "workloads.faults:FaultSegv",
        "fault-hang": "workloads.faults:FaultHang",
    },
)
