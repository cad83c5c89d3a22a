"""Back-ends from the standard library: serial, threads, processes."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import multiprocessing.pool
import time
from collections.abc import Callable, Iterable
from typing import Any

from bench.executors.base import Executor, ignore_interrupts, mp_context

__all__ = ["MultiprocessingPool", "NativeChunksPool", "ProcessPool", "Serial", "ThreadPool"]


class Serial(Executor):
    """The baseline: a plain loop in the calling process."""

    name = "serial"
    description = "plain loop in the calling process (the baseline)"
    chunked = False
    max_workers = 1
    paired = False

    @classmethod
    def unsupported(cls, workers: int) -> str | None:
        if workers > 1:
            return "serial is the one-worker baseline (a plain loop in the calling process)"
        return None

    def start(self) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def _map(
        self, fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int, timeout: float | None
    ) -> list[Any]:
        if timeout is None:
            return list(map(fn, iterable))
        deadline = time.perf_counter() + timeout
        results = []
        for item in iterable:
            results.append(fn(item))
            if time.perf_counter() > deadline:
                raise TimeoutError(f"unfinished after {timeout} s")
        return results


class _ProcessWorkers(Executor):
    """Back-ends whose workers are local processes made by ``mp_context``."""

    @classmethod
    def metadata(cls) -> dict[str, Any]:
        return {**super().metadata(), "start_method": mp_context().get_start_method()}


class _FuturesPool(Executor):
    """A concurrent.futures executor; variants differ only in ``make_pool``."""

    pool: concurrent.futures.Executor

    def make_pool(self) -> concurrent.futures.Executor:
        raise NotImplementedError

    def start(self) -> None:
        self.pool = self.make_pool()

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        return self.pool.submit(fn, *args)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)

    def abort(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


class ThreadPool(_FuturesPool):
    """concurrent.futures.ThreadPoolExecutor; chunks are batched by the adapter.

    Threads cannot be killed: after a timeout, queued chunks are cancelled and
    the chunks already running finish in the background.
    """

    name = "thread-pool"
    description = "concurrent.futures.ThreadPoolExecutor (shares the GIL)"

    def make_pool(self) -> concurrent.futures.Executor:
        return concurrent.futures.ThreadPoolExecutor(max_workers=self.workers)


class NativeChunksPool(_FuturesPool):
    """A concurrent.futures-style pool whose own ``map`` chunks and times out."""

    def _map(
        self, fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int, timeout: float | None
    ) -> list[Any]:
        return list(self.pool.map(fn, iterable, chunksize=chunksize, timeout=timeout))


class ProcessPool(_ProcessWorkers, NativeChunksPool):
    """concurrent.futures.ProcessPoolExecutor with its own chunking."""

    name = "process-pool"
    description = "concurrent.futures.ProcessPoolExecutor"

    def make_pool(self) -> concurrent.futures.Executor:
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=mp_context(), initializer=ignore_interrupts
        )

    def abort(self) -> None:
        # The public API cannot stop running tasks: kill the workers; the pool
        # then marks every unfinished future broken and winds down at once.
        # A timed-out map() has already cancelled its queued futures, and
        # Python 3.11's clean-up raises on a cancelled one: give it fresh ones.
        for item in list(getattr(self.pool, "_pending_work_items", {}).values()):
            if item.future.cancelled():
                item.future = concurrent.futures.Future()
        for process in list((getattr(self.pool, "_processes", None) or {}).values()):
            process.kill()
        self.pool.shutdown(wait=True)


class MultiprocessingPool(_ProcessWorkers):
    """multiprocessing.Pool with its own chunking."""

    name = "multiprocessing"
    description = "multiprocessing.Pool"
    pool: multiprocessing.pool.Pool

    def start(self) -> None:
        self.pool = mp_context().Pool(self.workers, initializer=ignore_interrupts)

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.pool.apply_async(fn, args, callback=future.set_result, error_callback=future.set_exception)
        return future

    def _map(
        self, fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int, timeout: float | None
    ) -> list[Any]:
        try:
            return self.pool.map_async(fn, iterable, chunksize).get(timeout)
        except multiprocessing.TimeoutError:
            raise TimeoutError(f"unfinished after {timeout} s") from None

    def shutdown(self) -> None:
        self.pool.close()
        self.pool.join()

    def abort(self) -> None:
        self.pool.terminate()
        self.pool.join()
