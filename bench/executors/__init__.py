"""Executor back-ends and their registry.

    import bench.executors
    Backend = bench.executors.get("process-pool")
    with Backend(workers=2) as pool:
        results = pool.map(task, items, chunksize=16)

Third-party back-ends register an :class:`~bench.executors.base.Executor`
subclass through the entry-point group ``bench.executors``.
"""

from __future__ import annotations

from bench.data.matrix import AUTO, NATIVE
from bench.executors.base import Executor, Option, OptionError
from bench.host.registry import EXECUTORS, UnknownName

__all__ = ["Executor", "Option", "OptionError", "UnknownName", "get", "names", "plainness", "rank"]


def names() -> list[str]:
    """Registered executor names."""
    return EXECUTORS.names()


def rank(executor: str) -> int:
    """Where an executor sorts: registry order (serial first, the plainest), unknown ones last."""
    known = names()
    return known.index(executor) if executor in known else len(known)


#: Map methods, plainest first: results in order, all at once; in order, as they come; in any order.
METHODS_PLAINEST_FIRST = ("map", "imap", "imap_unordered")


def plainness(executor: str, workers: int, chunksize_spec: str, method: str) -> tuple[int, int, bool, int]:
    """How plain a configuration is, the plainest least: the fewest workers, then the plainest back-end
    (:func:`rank`), the library's own or the auto chunk size, then ``map``, then ``imap``. Of configurations
    equivalent here, the report and ``advise`` name the plainest."""
    order = METHODS_PLAINEST_FIRST
    return (
        workers,
        rank(executor),
        chunksize_spec not in (NATIVE, AUTO),
        order.index(method) if method in order else len(order),
    )


def get(name: str) -> type[Executor]:
    """The back-end class registered as ``name``; KeyError lists the known names."""
    backend: type[Executor] = EXECUTORS.get(name)
    return backend
