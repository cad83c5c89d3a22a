"""Executor back-ends and their registry.

    import bench.executors
    Backend = bench.executors.get("process-pool")
    with Backend(workers=2) as pool:
        results = pool.map(task, items, chunksize=16)

Third-party back-ends register an :class:`~bench.executors.base.Executor`
subclass through the entry-point group ``bench.executors``.
"""

from __future__ import annotations

from bench.executors.base import Executor, Option, OptionError
from bench.registry import Registry, UnknownName

__all__ = ["Executor", "Option", "OptionError", "UnknownName", "get", "names"]

_registry: Registry[type[Executor]] = Registry(
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


def names() -> list[str]:
    """Registered executor names."""
    return _registry.names()


def get(name: str) -> type[Executor]:
    """The back-end class registered as ``name``; KeyError lists the known names."""
    return _registry.get(name)
