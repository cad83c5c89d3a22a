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
from bench.host.registry import EXECUTORS, UnknownName

__all__ = ["Executor", "Option", "OptionError", "UnknownName", "get", "names"]


def names() -> list[str]:
    """Registered executor names."""
    return EXECUTORS.names()


def get(name: str) -> type[Executor]:
    """The back-end class registered as ``name``; KeyError lists the known names."""
    backend: type[Executor] = EXECUTORS.get(name)
    return backend
