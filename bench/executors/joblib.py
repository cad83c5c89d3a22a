"""joblib.Parallel: loky processes by default, with joblib's own batching, streaming and worker reuse."""

from __future__ import annotations

import concurrent.futures
import importlib.util
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar

from bench.executors.base import (
    METHODS,
    READY_TIMEOUT_S,
    Executor,
    Option,
    ignore_interrupts,
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
    call, as joblib does). ``imap`` and ``imap_unordered`` are joblib's own
    ``return_as="generator"`` and ``"generator_unordered"``; a stream the
    consumer leaves reads no more input and lets the chunks in flight finish,
    as the other back-ends do. The window is
    joblib's ``pre_dispatch`` (window x chunk size items): joblib then sends a
    new chunk from the thread that receives each finished one, whether or not
    the consumer has taken its results, so the window bounds the chunks in
    flight but not how far the input is read ahead of a slow consumer
    (``window_bounds_input``; a gate on the input would stop that thread, and
    with it the results the consumer waits for). Under the ``native`` chunk
    spec joblib batches as it does when given nothing (``batch_size="auto"``:
    batches grow or shrink towards 0.2-2 s each), and every call records what
    it dispatched (``last_chunks``). With one worker joblib runs every call in
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
        if importlib.util.find_spec("joblib") is None:
            return "joblib is not installed (pip install -e '.[joblib]')"
        return None

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

    def limits(self) -> AbstractContextManager[None]:
        from bench import threads

        # work in this process gets the threads around each call, as serial and thread-pool do
        return threads.limited(self.threads) if self.sequential else nullcontext()

    def _bounded(self, timeout: float | None) -> AbstractContextManager[None]:
        """With one worker joblib runs the calls here and takes no timeout: SIGALRM bounds them, as for serial."""
        return alarm(timeout) if self.workers == 1 and timeout is not None else nullcontext()

    def start(self) -> None:
        from bench import scratch

        #: What the latest map call dispatched where joblib chose the chunk size: chunks, items and the
        #: size its batching had reached; None otherwise.
        self.last_chunks: dict[str, int] | None = None
        self.scratch = scratch.make("joblib-")
        #: The workers' initializer: the terminal's signals are the driver's, then the inner threads. One
        #: object for every call, since loky reuses its workers only for equal arguments.
        self.initializer = self.worker_initializer(ignore_interrupts)

    def _parallel(
        self,
        chunksize: int | None,
        timeout: float | None,
        return_as: str = "list",
        pre_dispatch: str | int | None = None,
    ) -> Any:
        from joblib import Parallel, parallel_config

        backend = self.settings["backend"]
        # joblib's own limit of the inner threads (cores // n_jobs) is a hidden default: the suite's rule
        # replaces it, except under --threads default, which keeps what joblib does
        inner = {"inner_max_num_threads": self.threads} if self.threads and backend != "threading" else {}
        # worker processes (not threads, which run in this process) get the initializer
        setup = {"initializer": self.initializer} if backend != "threading" else {}
        if self.workers == 1:
            timeout = None  # joblib's sequential back-end has no timeout (see _bounded)
        with parallel_config(backend=backend, n_jobs=self.workers, **inner):
            parallel = Parallel(
                n_jobs=self.workers,
                backend=backend,
                batch_size="auto" if chunksize is None else chunksize,
                pre_dispatch=pre_dispatch or "2 * n_jobs",
                return_as=return_as,
                timeout=timeout,
                temp_folder=self.scratch,
                **setup,
            )
        return parallel

    def _note(self, parallel: Any, chunksize: int | None) -> None:
        if chunksize is not None:
            self.last_chunks = None
            return
        backend = getattr(parallel, "_backend", None)
        self.last_chunks = {
            "chunks": int(parallel.n_dispatched_batches),
            "items": int(parallel.n_dispatched_tasks),
            "last": int(getattr(backend, "_effective_batch_size", 0) or 0),
        }

    def _call(self, parallel: Any, fn: Callable[..., Any], arguments: Iterable[tuple[Any, ...]]) -> Any:
        from joblib import delayed, parallel_config

        with parallel_config(backend=self.settings["backend"], n_jobs=self.workers):
            return parallel(delayed(fn)(*args) for args in arguments)

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        """One call, run at once (joblib has no futures): for probes such as ``thread_pools``."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(self._call(self._parallel(1, READY_TIMEOUT_S), fn, [args])[0])
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def wait_ready(self) -> None:
        """Every worker answers once: calls that each hold their worker a while, until all have."""
        seen: set[tuple[str, int, int]] = set()
        delay_s = 0.005
        deadline = time.monotonic() + READY_TIMEOUT_S
        while len(seen) < self.workers:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(seen)} of {self.workers} workers answered")
            parallel = self._parallel(1, READY_TIMEOUT_S)
            seen.update(self._call(parallel, worker_identity, [(delay_s,)] * self.workers))
            delay_s = min(2 * delay_s, 0.5)
        self.nodes = sorted(node for node, _, _ in seen)

    def _map(
        self, fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None, timeout: float | None
    ) -> list[Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        parallel = self._parallel(chunksize, timeout)
        with self._bounded(timeout):
            results: list[Any] = self._call(parallel, fn, ((item,) for item in iterable))
        self._note(parallel, chunksize)
        if deadline is not None and time.monotonic() > deadline:  # joblib's timeout bounds each chunk
            raise TimeoutError(f"unfinished after {timeout} s")
        return results

    def _stream(
        self,
        fn: Callable[[Any], Any],
        iterable: Iterable[Any],
        chunksize: int | None,
        deadline: float | None,
        ordered: bool,
    ) -> Iterator[Any]:
        return_as = "generator" if ordered else "generator_unordered"
        ahead = "2 * n_jobs" if chunksize is None else self.window * chunksize
        parallel = self._parallel(chunksize, remaining_s(deadline), return_as, ahead)
        stop = threading.Event()

        def calls() -> Iterator[tuple[Any]]:
            for item in iterable:
                if stop.is_set():
                    return
                yield (item,)

        results = self._call(parallel, fn, calls())
        try:
            while True:
                with self._bounded(remaining_s(deadline)):
                    result = next(results, _END)
                if result is _END:
                    return
                yield result
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
                self._note(parallel, chunksize)

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
