"""Back-ends from the standard library: serial, threads, processes."""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
import multiprocessing.pool
import multiprocessing.process
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, cast

from bench.executors.base import (
    REAP_WAIT_S,
    STOP_SIGNALS,
    Executor,
    WorkerDied,
    apply_chunk,
    batched,
    deadline_after,
    ended_workers,
    ignore_interrupts,
    mp_context,
    process_end,
    remaining_s,
    start_method,
)

__all__ = ["MultiprocessingPool", "NativeChunksPool", "ProcessPool", "Serial", "ThreadPool"]


class Serial(Executor):
    """The baseline: a plain loop in the calling process."""

    name = "serial"
    description = "plain loop in the calling process (the baseline)"
    chunked = False
    max_workers = 1
    paired = False
    in_process = True

    @classmethod
    def unsupported(cls, workers: int) -> str | None:
        if workers > 1:
            return "serial is the one-worker baseline (a plain loop in the calling process)"
        return None

    @property
    def window(self) -> int:
        return 1  # one item at a time, computed only when the consumer asks for it

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
        self, fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None, timeout: float | None
    ) -> list[Any]:
        if timeout is None:
            return list(map(fn, iterable))
        with alarm(timeout):
            return list(map(fn, iterable))

    def _stream(
        self,
        fn: Callable[[Any], Any],
        iterable: Iterable[Any],
        chunksize: int | None,
        deadline: float | None,
        ordered: bool,
    ) -> Iterator[Any]:
        """One item at a time, only when the consumer asks for it: nothing is computed ahead."""
        for item in iterable:
            if deadline is None:
                yield fn(item)
                continue
            with alarm(deadline - time.monotonic()):
                result = fn(item)
            yield result


@contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in the block once ``seconds`` have passed, even inside a call that never returns
    (SIGALRM; in the main thread of a POSIX process). Elsewhere the block runs to its end, and a TimeoutError
    follows it when it took too long."""
    if seconds <= 0:
        raise TimeoutError("unfinished after the timeout")
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        start = time.monotonic()
        yield
        if time.monotonic() - start > seconds:
            raise TimeoutError(f"unfinished after {seconds:.3g} s")
        return

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"unfinished after {seconds:.3g} s (stopped by SIGALRM)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _ProcessWorkers(Executor):
    """Back-ends whose workers are local processes made by ``mp_context``."""

    @classmethod
    def metadata(cls) -> dict[str, Any]:
        return {**super().metadata(), "start_method": start_method()}


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
    #: The threads share one process, and so its native libraries' thread pools: each library gets the
    #: threads of one worker, which it then serves to every thread that calls it.
    in_process = True

    def make_pool(self) -> concurrent.futures.Executor:
        return concurrent.futures.ThreadPoolExecutor(max_workers=self.workers)

    def abandoned(self) -> str | None:
        # After the abort, idle threads end at once; the ones still alive run a task that cannot be stopped.
        threads = list(getattr(self.pool, "_threads", ()))
        deadline = time.monotonic() + 0.2
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        alive = sum(thread.is_alive() for thread in threads)
        return (
            f"{alive} thread(s) of {self.name} x{self.workers} left running (threads cannot be stopped)"
            if alive
            else None
        )


class NativeChunksPool(_FuturesPool):
    """A concurrent.futures-style pool whose own ``map`` chunks and times out."""

    def _map(
        self, fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None, timeout: float | None
    ) -> list[Any]:
        return list(self.pool.map(fn, iterable, chunksize=chunksize or 1, timeout=timeout))


class ProcessPool(_ProcessWorkers, NativeChunksPool):
    """concurrent.futures.ProcessPoolExecutor with its own chunking."""

    name = "process-pool"
    description = "concurrent.futures.ProcessPoolExecutor"

    def make_pool(self) -> concurrent.futures.Executor:
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=mp_context(), initializer=self.worker_initializer(ignore_interrupts)
        )

    def death(self, exc: Exception) -> WorkerDied | None:
        """The pool says only that a worker died (BrokenProcessPool); it ends the others with SIGTERM."""
        if not isinstance(exc, BrokenProcessPool):
            return None
        workers = getattr(self.pool, "_processes", None) or {}  # the pool's own, by pid, until it shuts down
        for pid, code in ended_workers(list(workers.values())):
            if code != -signal.SIGTERM:
                return WorkerDied(
                    f"worker process {pid} {process_end(code)} with work outstanding: the pool is broken "
                    "(BrokenProcessPool)"
                )
        return None

    def abort(self) -> None:
        # Kill the workers; the pool then marks every unfinished future broken and winds down at once.
        kill = getattr(self.pool, "kill_workers", None)  # public from Python 3.14
        if kill is not None:
            kill()
            self.pool.shutdown(wait=True, cancel_futures=True)
            return
        # Before 3.14 only private attributes reach the workers; without them a hung task could
        # not be stopped, so their absence is an error rather than a silent hang.
        if not (hasattr(self.pool, "_processes") and hasattr(self.pool, "_pending_work_items")):
            raise RuntimeError(
                "ProcessPoolExecutor of this Python has neither kill_workers() nor _processes: cannot stop its workers"
            )
        # A timed-out map() has already cancelled its queued futures, and
        # Python 3.11's clean-up raises on a cancelled one: give it fresh ones.
        for item in list((self.pool._pending_work_items or {}).values()):
            if item.future.cancelled():
                item.future = concurrent.futures.Future()
        for process in list((self.pool._processes or {}).values()):  # None once the pool has shut down
            process.kill()
        self.pool.shutdown(wait=True)


#: How often a call on ``multiprocessing.Pool`` looks for a worker that died (a result wakes it at once).
DEATH_POLL_S = 0.1
#: How long a worker's death by a stop signal waits for the driver's own, sent to it too.
STOP_GRACE_S = 1.0


class _WatchedPool(multiprocessing.pool.Pool):
    """``multiprocessing.Pool`` that keeps every worker process it starts.

    The pool replaces a worker that died and loses the task the worker held:
    a call waiting for that task would wait for ever. The executor looks at
    the workers while it waits (``MultiprocessingPool.ended``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: Every worker the pool started, in order, replacements included.
        self.started: list[multiprocessing.process.BaseProcess] = []
        super().__init__(*args, **kwargs)

    def Process(self, ctx: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]  # noqa: N802
        """Pool's own is a static method; its workers are all made here (in its worker handler too)."""
        process = ctx.Process(*args, **kwargs)
        self.started.append(process)
        return process


class MultiprocessingPool(_ProcessWorkers):
    """multiprocessing.Pool with its own chunking."""

    name = "multiprocessing"
    description = "multiprocessing.Pool"
    map_overlaps_input = False  # Pool.map makes a list of its input before it sends a chunk
    own_chunking = frozenset({"map"})  # Pool.map's rule; Pool.imap's default is one item per task
    pool: _WatchedPool

    @classmethod
    def native_chunksize(cls, n_items: int | None, workers: int, method: str) -> int | None:
        if method == "map" and n_items:  # Pool.map's own rule: about four chunks per worker
            from bench.data.chunks import auto_chunksize

            return auto_chunksize(n_items, workers)
        return 1

    def start(self) -> None:
        #: The open streams' stop signals: the pool's one feeder thread may be waiting in a stream's
        #: gate, and closing or terminating the pool waits for that thread.
        self._streams: set[threading.Event] = set()
        self.pool = _WatchedPool(
            self.workers, initializer=self.worker_initializer(ignore_interrupts), context=mp_context()
        )
        #: The workers whose end was reported (or came between calls, with no task lost).
        self._ended: set[int] = set()

    def _forget_idle_deaths(self) -> None:
        """Workers the pool reaped between calls held no task: not the next call's to report. Read from their
        exit codes alone, without a system call: the call is timed."""
        for worker in self.pool.started:
            if getattr(getattr(worker, "_popen", None), "returncode", None) is not None:
                self._ended.add(worker.pid or 0)

    def ended(self) -> WorkerDied | None:
        """A worker that died and was not yet reported, with how; None while all live."""
        for pid, code in ended_workers(worker for worker in list(self.pool.started) if worker.pid not in self._ended):
            self._ended.add(pid)
            if -code in STOP_SIGNALS:
                # a batch system's SIGTERM (or a terminal's signal) to every process of the job: the driver's
                # own comes now, and stops the sweep as an interrupt rather than a crash
                time.sleep(STOP_GRACE_S)
            return WorkerDied(f"worker process {pid} {process_end(code)} with work outstanding (its task is lost)")
        return None

    def _watching(self, wait: Callable[[float | None], Any], deadline: float | None) -> Any:
        """``wait(timeout)`` until it gives a result, in short steps that look for a worker that died;
        multiprocessing.TimeoutError at ``deadline``."""
        while True:
            left = remaining_s(deadline)
            try:
                return wait(DEATH_POLL_S if left is None else min(left, DEATH_POLL_S))
            except multiprocessing.TimeoutError:
                died = self.ended()
                if died is not None:
                    raise died from None
                if left is not None and left <= DEATH_POLL_S:
                    raise

    def _gather(self, futures: list[Any], timeout: float | None) -> list[Any]:
        """As the base's, looking for a worker that died meanwhile (its task would never finish: an instance
        whose workers and forkserver a signal to the whole job ended would never be ready)."""

        def wait(step: float | None) -> None:
            done, pending = concurrent.futures.wait(futures, step, return_when=concurrent.futures.FIRST_EXCEPTION)
            if pending and all(future.exception() is None for future in done):
                raise multiprocessing.TimeoutError

        try:
            self._watching(wait, deadline_after(timeout))
        except multiprocessing.TimeoutError:  # the deadline: what is pending is said below
            pass
        done, pending = concurrent.futures.wait(futures, 0, return_when=concurrent.futures.FIRST_EXCEPTION)
        return self._results(futures, done, pending, timeout)

    def _stop_streams(self) -> None:
        for closed in list(self._streams):
            closed.set()

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.pool.apply_async(fn, args, callback=future.set_result, error_callback=future.set_exception)
        return future

    def _map(
        self, fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None, timeout: float | None
    ) -> list[Any]:
        self._forget_idle_deaths()
        result = self.pool.map_async(fn, iterable, chunksize)
        try:
            return cast(list[Any], self._watching(result.get, deadline_after(timeout)))
        except multiprocessing.TimeoutError:
            raise TimeoutError(f"unfinished after {timeout} s") from None

    def _stream(
        self,
        fn: Callable[[Any], Any],
        iterable: Iterable[Any],
        chunksize: int | None,
        deadline: float | None,
        ordered: bool,
    ) -> Iterator[Any]:
        """Pool.imap / imap_unordered, bounded: the pool's feeder thread reads the whole input at once,
        so chunks reach it through a gate that opens once per chunk taken (``window`` ahead)."""
        gate, closed = threading.Semaphore(self.window), threading.Event()
        self._streams.add(closed)

        def gated() -> Iterator[list[Any]]:
            for chunk in batched(iterable, chunksize or 1):
                while not gate.acquire(timeout=0.05):
                    if closed.is_set():  # the consumer left: the pool's feeder must not wait forever
                        return
                if closed.is_set():
                    return
                yield chunk

        self._forget_idle_deaths()
        imap = self.pool.imap if ordered else self.pool.imap_unordered
        results = imap(functools.partial(apply_chunk, fn), gated(), 1)
        lost = False  # a worker died holding a chunk, which never comes
        try:
            while True:
                try:
                    chunk = self._watching(results.next, deadline)
                except StopIteration:
                    return
                except multiprocessing.TimeoutError:
                    raise TimeoutError("no chunk finished within the timeout") from None
                except WorkerDied:
                    lost = True
                    raise
                gate.release()
                yield from chunk
        finally:
            # Chunks handed to a Pool cannot be taken back: feed no more, wake the feeder at once,
            # and wait (until the deadline) for those in flight, so that they cannot run into the
            # next measurement.
            closed.set()
            gate.release()
            self._streams.discard(closed)
            try:
                while not lost:
                    self._watching(results.next, deadline)
            except Exception:  # the end, the deadline, a failed chunk or a lost one: the stream is over
                pass

    def shutdown(self) -> None:
        if self._ended:  # a task lost with its worker stays in the pool's books: close() would wait for it
            self.abort()
            return
        self._stop_streams()
        self.pool.close()
        self.pool.join()

    def abort(self) -> None:
        self._stop_streams()
        _kill_workers_and_free_their_locks(self.pool)
        self.pool.terminate()
        self.pool.join()


def _kill_workers_and_free_their_locks(pool: multiprocessing.pool.Pool) -> None:
    """Make ``pool.terminate()`` end even where a worker died (a batch system's SIGTERM to every process of
    the job, the out-of-memory killer): a worker waits for its next task holding the task queue's read
    lock, and sends a result holding the result queue's write lock; ``terminate`` takes both, so a worker
    that died holding either would make it wait for ever. The workers, which may be dying at this moment,
    are all killed, once none is replaced; then no live process holds the locks, and they are released.

    This reaches into ``multiprocessing.pool.Pool``'s attributes (``_pool``, ``_worker_handler``,
    ``_change_notifier``, ``_taskqueue``, ``_inqueue``, ``_outqueue``), the same from Python 3.8 to 3.13.
    """
    handler = pool._worker_handler  # type: ignore[attr-defined]
    handler._state = multiprocessing.pool.TERMINATE  # no replacement starts
    pool._change_notifier.put(None)  # type: ignore[attr-defined]
    handler.join(REAP_WAIT_S)
    # The handler tells the task handler to end as it ends; one that died (the forkserver it starts workers
    # through was killed with them) never did, and terminate() would wait for the task handler for ever.
    # A second word, where it did, is never read.
    pool._taskqueue.put(None)  # type: ignore[attr-defined]
    workers = list(pool._pool)  # type: ignore[attr-defined]
    for worker in workers:
        worker.kill()
    for worker in workers:
        worker.join(REAP_WAIT_S)
    for lock in (pool._inqueue._rlock, pool._outqueue._wlock):  # type: ignore[attr-defined]
        lock.acquire(False)  # held by a dead worker, or now by this process
        lock.release()
