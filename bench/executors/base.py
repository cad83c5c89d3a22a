"""The executor protocol: one small class per back-end over this base."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any, ClassVar

__all__ = [
    "TIMEOUT_ERRORS",
    "Executor",
    "apply_chunk",
    "batched",
    "ignore_interrupts",
    "ignoring_interrupts",
    "mp_context",
    "package_versions",
    "worker_identity",
]

READY_TIMEOUT_S = 120.0
#: What libraries raise when a wait runs out. Before Python 3.11 neither
#: concurrent.futures' nor asyncio's TimeoutError is the builtin one.
TIMEOUT_ERRORS = (TimeoutError, concurrent.futures.TimeoutError, asyncio.TimeoutError)


def batched(iterable: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def apply_chunk(fn: Callable[[Any], Any], chunk: list[Any]) -> list[Any]:
    """Run ``fn`` over one chunk of items on a worker."""
    return [fn(item) for item in chunk]


def worker_identity(delay_s: float) -> tuple[str, int, int]:
    """Who ran this call; the delay keeps one worker from answering for all."""
    time.sleep(delay_s)
    return socket.gethostname(), os.getpid(), threading.get_ident()


def mp_context() -> multiprocessing.context.BaseContext:
    """The start method for process back-ends: forkserver where it exists.

    Forking a process that already runs threads (the progress display, Dask's
    event loop, an MPI library) can deadlock its children; forkserver starts
    workers from a clean single-threaded server and is still cheap.
    """
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def ignore_interrupts() -> None:
    """Initializer of worker processes: Ctrl-C is for the driver, which then stops the workers.

    A terminal's Ctrl-C reaches every process of its foreground group; a
    worker that took it would die mid-task with a traceback of its own.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def ignoring_interrupts() -> Iterator[None]:
    """SIGINT ignored while worker processes start, so that they inherit the ignoring.

    For libraries that take no worker initializer (see ``ignore_interrupts``).
    Outside the main thread (where signals cannot be set) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def package_versions(*names: str) -> dict[str, str | None]:
    """Installed versions of the named distributions (None when absent)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def check_chunksize(chunksize: int) -> None:
    if not isinstance(chunksize, int) or chunksize < 1:
        raise ValueError("chunksize must be >= 1")


class Executor:
    """Base of the back-ends.

    Used as ``with Backend(workers) as pool: pool.map(fn, items, chunksize=8)``.
    Entering starts the workers and returns once every worker has answered
    once; ``map`` returns the results in item order and raises TimeoutError
    when ``timeout`` seconds pass first, after which the caller should
    ``abort()`` the instance. Subclasses provide ``start``, ``submit`` and
    ``shutdown``; those whose library chunks natively also override ``_map``.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: False where a chunk size has no meaning (the plan then makes one cell).
    chunked: ClassVar[bool] = True
    #: The most workers the back-end can have (None: no fixed limit).
    max_workers: ClassVar[int | None] = None
    #: Distributions whose versions describe this back-end.
    packages: ClassVar[tuple[str, ...]] = ()
    #: False for the baseline itself: its cells get no paired serial baseline.
    paired: ClassVar[bool] = True
    #: True where the workers run on this machine (their count is bounded by its cores).
    local: ClassVar[bool] = True

    def __init__(self, workers: int) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise ValueError("workers must be >= 1")
        if self.max_workers is not None and workers > self.max_workers:
            raise ValueError(f"{self.name} has at most {self.max_workers} worker(s)")
        self.workers = workers

    @classmethod
    def available(cls) -> str | None:
        """None when the back-end can run here, else the reason it cannot."""
        return None

    @classmethod
    def unsupported(cls, workers: int) -> str | None:
        """Why ``workers`` cannot be run by this back-end here, or None."""
        if cls.max_workers is not None and workers > cls.max_workers:
            return f"{cls.name} has at most {cls.max_workers} worker(s)"
        return None

    @classmethod
    def metadata(cls) -> dict[str, Any]:
        """Versions and settings that describe this back-end."""
        return {"packages": package_versions(*cls.packages)}

    # -- life cycle -------------------------------------------------------
    def start(self) -> None:
        raise NotImplementedError

    def shutdown(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        """Stop at once, dropping unfinished work (after a timeout or a fault)."""
        self.shutdown()

    def wait_ready(self) -> None:
        """Return once every worker has answered one call."""
        seen: set[tuple[str, int, int]] = set()
        delay_s = 0.005
        deadline = time.monotonic() + READY_TIMEOUT_S
        while len(seen) < self.workers:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(seen)} of {self.workers} workers answered")
            futures = [self.submit(worker_identity, delay_s) for _ in range(self.workers)]
            seen.update(self._gather(futures, READY_TIMEOUT_S))
            delay_s = min(2 * delay_s, 0.5)

    def __enter__(self) -> Executor:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.abort()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- work -------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Schedule ``fn(*args)``; returns a future."""
        raise NotImplementedError

    def map(
        self,
        fn: Callable[[Any], Any],
        iterable: Iterable[Any],
        chunksize: int = 1,
        timeout: float | None = None,
    ) -> list[Any]:
        """``[fn(x) for x in iterable]`` on the workers, ``chunksize`` items per task.

        Raises the builtin TimeoutError when ``timeout`` seconds pass first, whatever the library raised.
        """
        check_chunksize(chunksize)
        try:
            return self._map(fn, iterable, chunksize, timeout)
        except TimeoutError:
            raise
        except TIMEOUT_ERRORS as exc:
            raise TimeoutError(str(exc) or f"unfinished after {timeout} s") from exc

    def _map(
        self, fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int, timeout: float | None
    ) -> list[Any]:
        """The back-end's map; this default batches items into chunk tasks."""
        futures = [self.submit(apply_chunk, fn, chunk) for chunk in batched(iterable, chunksize)]
        return [result for chunk in self._gather(futures, timeout) for result in chunk]

    def _gather(self, futures: list[Any], timeout: float | None) -> list[Any]:
        """Results of ``futures`` in order; the first failure raises at once."""
        done, pending = concurrent.futures.wait(futures, timeout, return_when=concurrent.futures.FIRST_EXCEPTION)
        for future in futures:
            error = future.exception() if future in done else None
            if error is not None:
                raise error
        if pending:
            raise TimeoutError(f"{len(pending)} of {len(futures)} tasks unfinished after {timeout} s")
        return [future.result() for future in futures]
