"""Inner threads: how many threads the native libraries of each worker (BLAS, OpenMP) may use.

A numpy or SciPy task runs its linear algebra on a thread pool of its own,
which by default takes every core. Two workers then run twice as many
threads as there are cores, while Dask starts its workers with one thread
each: left alone, the back-ends run the same task under different rules.
The suite sets the rule for all of them (a cell's ``threads``):

- ``auto`` (the default): each worker gets ``max(1, cores // workers)``
  threads, so that workers x threads never exceeds the cores;
- a number: every worker gets that many;
- ``default``: the suite sets nothing; each library (and each back-end, such
  as Dask's one thread per worker) starts as it would on its own, and the
  cell records what it chose.

It is applied the same way everywhere: in each worker through threadpoolctl
(for the libraries already loaded) and through the usual environment
variables (for those loaded later, and for processes a back-end spawns).
The paired serial baseline always runs with one thread per core, the most
one process can use, so that every speedup answers "parallel map, or let
the library use the cores?" against the same reference.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "AUTO",
    "DEFAULT",
    "ENV_VARIABLES",
    "SPECS",
    "apply",
    "check",
    "describe",
    "environ",
    "initialize",
    "kept_environ",
    "limited",
    "observed",
    "per_worker",
    "pools",
    "spec_text",
]

AUTO = "auto"
DEFAULT = "default"
SPECS = (AUTO, DEFAULT)
#: The variables the common native libraries read when they load: OpenMP, OpenBLAS, MKL, BLIS,
#: Apple's Accelerate and numexpr.
ENV_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
#: The most threads a worker may be given: far beyond any machine, short of what a library would refuse.
MOST = 4096


def spec_text(spec: Any) -> Any:
    """A threads spec as a matrix keeps it: ``auto``, ``default`` or a positive number as text (a number
    given in Python becomes its text; anything else is left for ``check`` to refuse)."""
    return str(spec) if isinstance(spec, int) and not isinstance(spec, bool) else spec


def check(spec: Any) -> str:
    """The spec as text; ValueError names what it may be."""
    text = spec_text(spec)
    if isinstance(text, str) and (text in SPECS or (text.isdecimal() and 1 <= int(text) <= MOST)):
        return text
    raise ValueError(f"threads {spec!r} is not {AUTO!r}, {DEFAULT!r} or a number of threads from 1 to {MOST}")


def per_worker(spec: str, cores_each: int) -> int | None:
    """The threads each worker gets under ``spec``, where each has ``cores_each`` cores of its own
    (``max(1, cores // workers)`` on one machine); None under ``default`` (whatever the libraries choose)."""
    if spec == DEFAULT:
        return None
    if spec == AUTO:
        return cores_each
    return int(spec)


def environ(threads: int | None) -> dict[str, str]:
    """The environment variables that give a process's libraries ``threads`` threads (none for None)."""
    return {} if threads is None else dict.fromkeys(ENV_VARIABLES, str(threads))


def apply(threads: int | None) -> None:
    """In a worker, for the rest of its life: ``threads`` threads for its native libraries
    (None: leave them as they are)."""
    if threads is None:
        return
    os.environ.update(environ(threads))
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)


def initialize(setup: Callable[[], None], threads: int | None) -> None:
    """A worker initializer: the back-end's own ``setup`` (signals), then the threads."""
    setup()
    apply(threads)


@contextmanager
def limited(threads: int | None) -> Iterator[None]:
    """``threads`` threads for this process's native libraries inside the block, restored after
    (None: as they are). For work that runs in the driver: the serial baseline, serial and
    thread-pool cells, and the ranks of an MPI launch between executors."""
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with kept_environ(ENV_VARIABLES):
        os.environ.update(environ(threads))
        with threadpool_limits(limits=threads):
            yield


@contextmanager
def kept_environ(names: Iterable[str]) -> Iterator[None]:
    """The variables ``names`` of this process as they were before the block, whatever it set."""
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


#: What a cell keeps of each thread pool threadpoolctl finds (its file path is left out).
POOL_FIELDS = ("user_api", "internal_api", "prefix", "version", "threading_layer", "architecture", "num_threads")


def pools() -> list[dict[str, Any]]:
    """The native thread pools loaded in this process, as threadpoolctl sees them (runs in a worker)."""
    from threadpoolctl import threadpool_info

    return [{key: pool.get(key) for key in POOL_FIELDS if key in pool} for pool in threadpool_info()]


def describe(found: list[dict[str, Any]] | None) -> str:
    """``openblas 0.3.27 pthreads x1``: each native thread pool of a worker, in one line."""
    shown = []
    for pool in found or ():
        parts = [pool.get("internal_api"), pool.get("version"), pool.get("threading_layer")]
        text = " ".join(str(part) for part in parts if part and part != "unknown")
        shown.append(f"{text} x{pool.get('num_threads')}")
    return "; ".join(shown)


def observed(found: list[dict[str, Any]] | None) -> int | None:
    """The threads a worker's libraries use: the most of any of its pools (None: no pool loaded)."""
    counts = [pool["num_threads"] for pool in found or () if isinstance(pool.get("num_threads"), int)]
    return max(counts) if counts else None
