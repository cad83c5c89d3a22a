"""joblib.Parallel: loky processes by default, with joblib's own batching, streaming and worker reuse."""

from __future__ import annotations

import concurrent.futures
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar

from bench.executors.base import (
    METHODS,
    READY_TIMEOUT_S,
    TIMEOUT_ERRORS,
    Executor,
    Option,
    apply_chunk,
    batched,
    ignore_interrupts,
    mp_context,
    not_installed,
    remaining_s,
    worker_identity,
)
from bench.executors.local import alarm

__all__ = ["Joblib"]

_END = object()

#: joblib's back-ends that the executor takes (``--executor-option backend=...``).
BACKENDS = ("loky", "multiprocessing", "threading")


def _backend(text: str) -> str:
    if text not in BACKENDS:
        raise ValueError(f"{text!r} is not one of {', '.join(BACKENDS)}")
    return text


class Joblib(Executor):
    """``joblib.Parallel(n_jobs=workers, backend="loky", batch_size=chunksize)``.

    The loky workers are joblib's reusable executor, kept from one call to the
    next as joblib keeps them (the ``multiprocessing`` back-end makes a pool per
    call, as joblib does, with the suite's start method). A chunk is one joblib
    task (``batch_size=1``): given a ``batch_size``, joblib would cut its first
    and last batches smaller. joblib's timeout bounds each chunk, so a call of
    many chunks that runs past the whole call's timeout fails once it is done.
    ``imap`` and ``imap_unordered`` are joblib's own
    ``return_as="generator"`` and ``"generator_unordered"``; a stream the
    consumer leaves reads no more input and lets the chunks in flight finish,
    as the other back-ends do. The window is
    joblib's ``pre_dispatch`` (in chunks): joblib then sends a
    new chunk from the thread that receives each finished one, whether or not
    the consumer has taken its results, so the window bounds the chunks in
    flight but not how far the input is read ahead of a slow consumer
    (``window_bounds_input``; a gate on the input would stop that thread, and
    with it the results the consumer waits for). Under the ``native`` chunk
    spec joblib batches as it does when given nothing (``batch_size="auto"``:
    batches grow or shrink towards 0.2-2 s each), and every call records what
    it dispatched (``last_chunks``: its batches and their items). With one worker joblib runs every call in
    this process, one after the other (its rule for ``n_jobs=1``): ``joblib x1``
    measures joblib's cost over a plain loop. Its scratch folder for memory-mapped
    arguments is one of the instance's, removed with it.
    """

    name = "joblib"
    description = "joblib.Parallel (loky processes, joblib's batching)"
    packages: ClassVar[tuple[str, ...]] = ("joblib",)
    own_chunking = frozenset(METHODS)  # batch_size="auto" for every method
    window_bounds_input = False
    options = {
        "backend": Option("joblib back-end: loky, multiprocessing or threading", "loky", _backend),
    }

    @classmethod
    def available(cls) -> str | None:
        return not_installed("joblib", "joblib")

    @classmethod
    def native_chunksize(cls, n_items: int | None, workers: int, method: str) -> int | None:
        return None  # batch_size="auto": joblib sizes each batch from how long the last ones took

    @classmethod
    def metadata(cls) -> dict[str, Any]:
        return {**super().metadata(), "start_method": "loky"}

    @property
    def sequential(self) -> bool:
        """Whether joblib runs the work in this process: one worker (joblib's own rule for ``n_jobs=1``), or
        threads."""
        return self.workers == 1 or self.settings["backend"] == "threading"

    @property
    def tasks_in_driver(self) -> bool:
        return self.sequential

    def limits(self) -> AbstractContextManager[None]:
        from bench.host import inner_threads

        # work in this process gets the threads around each call, as serial and thread-pool do
        return inner_threads.limited(self.threads) if self.sequential else nullcontext()

    def _bounded(self, timeout: float | None) -> AbstractContextManager[None]:
        """With one worker joblib runs the calls here and takes no timeout: SIGALRM bounds them, as for serial."""
        return alarm(timeout) if self.workers == 1 and timeout is not None else nullcontext()

    def start(self) -> None:
        from bench.host import scratch

        #: What the latest call dispatched where joblib chose the chunk size (``chunks``, ``items``); None
        #: otherwise.
        self.last_chunks: dict[str, int] | None = None
        #: Whether a call ran out of time (threads of the threading back-end cannot be stopped).
        self.timed_out = False
        self.scratch = scratch.make("joblib-")
        #: The workers' initializer: the terminal's signals are the driver's, then the inner threads (which
        #: replace joblib's own limit, cores // n_jobs, except under --threads default). One object for every
        #: call, since loky reuses its workers only for equal arguments.
        self.initializer = self.worker_initializer(ignore_interrupts)

    def _parallel(self, adaptive: bool, timeout: float | None, return_as: str = "list", ahead: str | int = "") -> Any:
        """A ``Parallel`` call: of chunk tasks, one per batch (the suite's chunk size), or with ``adaptive`` of
        items that joblib batches itself (``batch_size="auto"``)."""
        from joblib import Parallel

        backend: Any = self.settings["backend"]
        # worker processes (not threads, which run in this process) get the initializer
        setup = {"initializer": self.initializer} if backend != "threading" else {}
        if backend == "multiprocessing":  # joblib's default context forks this threaded driver
            backend = mp_context()
        if self.workers == 1:
            timeout = None  # joblib's sequential back-end has no timeout (see _bounded)
        return Parallel(
            n_jobs=self.workers,
            backend=backend,
            batch_size="auto" if adaptive else 1,
            pre_dispatch=ahead or "2 * n_jobs",
            return_as=return_as,
            timeout=timeout,
            temp_folder=self.scratch,
            **setup,
        )

    def _note(self, parallel: Any, adaptive: bool) -> None:
        self.last_chunks = (
            {"chunks": int(parallel.n_dispatched_batches), "items": int(parallel.n_dispatched_tasks)}
            if adaptive
            else None
        )

    @staticmethod
    def _tasks(fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None) -> Iterator[Any]:
        """joblib's tasks: a chunk each (joblib would otherwise cut its first and last batches smaller than
        ``batch_size``), or the items themselves where joblib batches them."""
        from joblib import delayed

        if chunksize is None:
            return (delayed(fn)(item) for item in iterable)
        return (delayed(apply_chunk)(fn, chunk) for chunk in batched(iterable, chunksize))

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        """One call, run at once (joblib has no futures): for probes such as ``thread_pools``."""
        from joblib import delayed

        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(self._parallel(False, READY_TIMEOUT_S)([delayed(fn)(*args)])[0])
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def _identities(self, delay_s: float) -> list[tuple[str, int, int]]:
        """One call of ``worker_identity`` per worker, in one ``Parallel`` call (joblib has no futures)."""
        from joblib import delayed

        found: list[tuple[str, int, int]] = self._parallel(False, READY_TIMEOUT_S)(
            delayed(worker_identity)(delay_s) for _ in range(self.workers)
        )
        return found

    def _map(
        self, fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None, timeout: float | None
    ) -> list[Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        parallel = self._parallel(chunksize is None, timeout)
        try:
            with self._bounded(timeout):
                results: list[Any] = parallel(self._tasks(fn, iterable, chunksize))
        except TIMEOUT_ERRORS:
            self.timed_out = True
            raise
        self._note(parallel, chunksize is None)
        # joblib's timeout bounds each chunk: a call of many chunks can run past the whole call's
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"unfinished after {timeout} s")
        return results if chunksize is None else [result for chunk in results for result in chunk]

    def _stream(
        self,
        fn: Callable[[Any], Any],
        iterable: Iterable[Any],
        chunksize: int | None,
        deadline: float | None,
        ordered: bool,
    ) -> Iterator[Any]:
        return_as = "generator" if ordered else "generator_unordered"
        adaptive = chunksize is None
        # the window, in joblib's tasks (chunks); where joblib batches the items, its own default
        parallel = self._parallel(adaptive, remaining_s(deadline), return_as, "" if adaptive else self.window)
        stop = threading.Event()

        def items() -> Iterator[Any]:
            for item in iterable:
                if stop.is_set():
                    return
                yield item

        results = parallel(self._tasks(fn, items(), chunksize))
        try:
            while True:
                try:
                    with self._bounded(remaining_s(deadline)):
                        result: Any = next(results, _END)
                except TIMEOUT_ERRORS:
                    self.timed_out = True
                    raise
                if result is _END:
                    return
                yield from [result] if adaptive else result
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError("unfinished within the timeout")
        finally:
            # The consumer left: joblib reads no more input and the chunks in flight finish (until the
            # deadline at most). Closing joblib's generator with chunks in flight would kill the workers.
            stop.set()
            try:
                while deadline is None or time.monotonic() < deadline:
                    with self._bounded(remaining_s(deadline)):
                        if next(results, _END) is _END:
                            break
            except Exception:  # a failed chunk or the deadline: the stream is over either way
                pass
            finally:
                results.close()
                self._note(parallel, adaptive)

    def abandoned(self) -> str | None:
        if self.settings["backend"] == "threading" and self.workers > 1 and getattr(self, "timed_out", False):
            return f"the threads of {self.name} x{self.workers} may still run a task (threads cannot be stopped)"
        return None

    def _executor(self) -> Any:
        """loky's reusable executor, where one runs (joblib's loky back-end keeps it between calls)."""
        from joblib.externals.loky import reusable_executor

        return getattr(reusable_executor, "_executor", None)

    def shutdown(self) -> None:
        try:
            executor = self._executor()
            if executor is not None and self.settings["backend"] == "loky":
                executor.shutdown(wait=True)
        finally:
            shutil.rmtree(getattr(self, "scratch", ""), ignore_errors=True)

    def abort(self) -> None:
        try:
            executor = self._executor()
            if executor is not None and self.settings["backend"] == "loky":
                executor.shutdown(wait=True, kill_workers=True)
        finally:
            shutil.rmtree(getattr(self, "scratch", ""), ignore_errors=True)
