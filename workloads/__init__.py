"""Workloads: what the suite measures.

    import workloads
    w = workloads.get("fibprimes")
    answer = w.reduce([w.task(x) for x in w.items(2000)])
    w.verify(answer, 2000)

Third-party workloads register a :class:`~workloads.base.Workload` subclass
through the entry-point group ``bench.workloads``.
"""

from __future__ import annotations

from bench.registry import Registry, UnknownName
from workloads.base import Param, Workload

__all__ = ["Param", "UnknownName", "Workload", "get", "names"]

_registry: Registry[type[Workload]] = Registry(
    "workload",
    "bench.workloads",
    {"fibprimes": "workloads.fibprimes:FibPrimes", "noop": "workloads.noop:Noop"},
)
_instances: dict[str, Workload] = {}


def names() -> list[str]:
    """Registered workload names."""
    return _registry.names()


def get(name: str) -> Workload:
    """The workload registered as ``name``; KeyError lists the known names."""
    if name not in _instances:
        _instances[name] = _registry.get(name)()
    return _instances[name]
