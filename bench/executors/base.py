"""The executor protocol: one small class per back-end over this base."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import itertools
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from bench.data.schema import METHODS
from bench.host.mpi_launch import node_name
from bench.host.provenance import package_versions

__all__ = [
    "ABANDONED",
    "METHODS",
    "TIMEOUT_ERRORS",
    "WINDOW_PER_WORKER",
    "Executor",
    "Option",
    "OptionError",
    "WorkerDied",
    "apply_chunk",
    "batched",
    "blocking_interrupts",
    "deadline_after",
    "ended_workers",
    "ignore_interrupts",
    "mp_context",
    "node_name",
    "package_versions",
    "process_end",
    "worker_identity",
]

READY_TIMEOUT_S = 120.0
#: The signals that stop a command as Ctrl-C does, what was started stopped and what finished kept:
#: SIGINT, SIGTERM (kill, scancel, a batch system at walltime) and SIGHUP (the terminal was closed).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: The longest path a Unix socket may have (Linux's sun_path, less its final NUL).
UNIX_SOCKET_PATH = 107
#: Chunks a streaming method keeps in flight per worker: one running and one queued, so that no
#: worker idles while the driver hands out the next chunk, and the input is read only that far ahead.
WINDOW_PER_WORKER = 2
#: What libraries raise when a wait runs out. Before Python 3.11 neither
#: concurrent.futures' nor asyncio's TimeoutError is the builtin one; multiprocessing's (which joblib and
#: Ray's Pool raise) never is.
TIMEOUT_ERRORS = (TimeoutError, concurrent.futures.TimeoutError, asyncio.TimeoutError, multiprocessing.TimeoutError)
#: Work that aborted instances left running (threads, MPI workers cannot be stopped), one line each:
#: such work can keep the process from ending, so the command line ends it without waiting.
ABANDONED: list[str] = []


def batched(iterable: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def apply_chunk(fn: Callable[[Any], Any], chunk: list[Any]) -> list[Any]:
    """Run ``fn`` over one chunk of items on a worker."""
    return [fn(item) for item in chunk]


def worker_identity(delay_s: float) -> tuple[str, int, int]:
    """Who ran this call (node, process, thread); the delay keeps one worker from answering for all."""
    time.sleep(delay_s)
    return node_name(), os.getpid(), threading.get_ident()


class OptionError(ValueError):
    """An executor option that does not exist or whose value cannot be used."""


def _text(value: str) -> str:
    return value


@dataclass(frozen=True)
class Option:
    """A setting of a back-end, resolved in one place (see ``Executor.resolve_options``).

    ``parse`` turns text (from the command line or the environment) into the
    value; ``config`` is the dask configuration key that supplies it where a
    user's configuration (``jobqueue.yaml``) already sets it.
    """

    help: str
    default: Any = None
    parse: Callable[[str], Any] = _text
    config: str | None = None


def start_method() -> str:
    """The start method of process back-ends (see ``mp_context``)."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def mp_context() -> multiprocessing.context.BaseContext:
    """The start method for process back-ends: forkserver where it exists.

    Forking a process that already runs threads (the progress display, Dask's
    event loop, an MPI library) can deadlock its children; forkserver starts
    workers from a clean single-threaded server and is still cheap.
    """
    from multiprocessing import util

    from bench.host import scratch

    # multiprocessing's folder (with the forkserver's socket) inside the suite's, where the socket's path
    # stays within what a Unix socket takes: a deep TMPDIR keeps multiprocessing's own place
    if len(str(scratch.folder())) + len("/pymp-XXXXXXXX/listener-XXXXXXXX") < UNIX_SOCKET_PATH:
        with scratch.in_folder():
            util.get_temp_dir()
    else:  # listed, so that it goes with the suite's folder where this process cannot remove it (killed)
        scratch.own([Path(util.get_temp_dir())])
    if start_method() != "forkserver":
        return multiprocessing.get_context(start_method())

    from multiprocessing import forkserver

    # The server, and every worker it forks, start with the terminal's signals blocked: a Ctrl-C is for
    # the driver, and one that came while the server or a worker was still starting would end it with a
    # traceback; a resource tracker that died of a closed terminal's hang-up would leave its semaphores
    # in /dev/shm. The driver stops the rest.
    with blocking_interrupts():
        forkserver.ensure_running()
    return multiprocessing.get_context("forkserver")


#: What a terminal sends every process of its foreground group: Ctrl-C, and the hang-up when it closes.
TERMINAL_SIGNALS = (signal.SIGINT, signal.SIGHUP)


def ignore_interrupts() -> None:
    """Initializer of worker processes: Ctrl-C (and a closed terminal's hang-up) is for the driver, which
    then stops the workers.

    A terminal's Ctrl-C reaches every process of its foreground group; a
    worker that took it would die mid-task with a traceback of its own.
    """
    for signum in TERMINAL_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


@contextmanager
def blocking_interrupts() -> Iterator[None]:
    """The terminal's signals (SIGINT, SIGHUP) blocked in this thread while threads and processes start
    inside: they inherit them blocked, so that a Ctrl-C meant for the driver never reaches a worker; one
    that came meanwhile reaches the driver when the block ends.

    For libraries that take no worker initializer (see ``ignore_interrupts``).
    Ignoring the signals instead would lose a Ctrl-C that came while a
    cluster starts (seconds on a busy machine).
    """
    from multiprocessing import resource_tracker

    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, TERMINAL_SIGNALS)
    try:
        # multiprocessing's resource tracker, started first and with them blocked too: starting it
        # unblocks SIGINT in this thread
        resource_tracker.ensure_running()
        signal.pthread_sigmask(signal.SIG_BLOCK, TERMINAL_SIGNALS)
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP that arrive inside are delivered when the block ends; a second one at once.

    A back-end stopped half-way through its start (a Dask cluster whose workers
    are still starting) cannot be torn down; a started one can. Outside the main
    thread it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = STOP_SIGNALS
    arrived: list[int] = []

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def defer(signum: int, frame: object) -> None:
        arrived.append(signum)
        if len(arrived) > 1:  # asked twice: the handler in place before takes it now
            restore()
            signal.raise_signal(signum)

    previous = {signum: signal.signal(signum, defer) for signum in signals}
    try:
        yield
    finally:
        if len(arrived) <= 1:
            restore()
        if len(arrived) == 1:
            signal.raise_signal(arrived[0])


def not_installed(module: str, extra: str, name: str | None = None) -> str | None:
    """Why a back-end cannot run when ``module`` (the distribution ``name``) is missing, with the command that
    installs the project's ``extra``; None when it is there."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return f"{name or module} is not installed (pip install -e '.[{extra}]')"
    return None


def _from_config(key: str | None) -> Any:
    """A value of dask's configuration (a user's ``~/.config/dask/*.yaml``), or None."""
    if key is None:
        return None
    try:
        import dask.config
    except ImportError:
        return None
    return dask.config.get(key, default=None)


def check_chunksize(chunksize: int | None) -> None:
    if chunksize is not None and (not isinstance(chunksize, int) or chunksize < 1):
        raise ValueError("chunksize must be >= 1 (or None: the library's own rule)")


class WorkerDied(RuntimeError):
    """A worker process ended while it had work: the signal or exit status, and which worker."""


#: How long a pool's own thread may take to reap a worker process that ended.
REAP_WAIT_S = 5.0


def ended_workers(processes: Iterable[multiprocessing.process.BaseProcess]) -> list[tuple[int, int]]:
    """(pid, exit code) of those of a pool's worker ``processes`` that have ended.

    The pool's own thread reaps them; the code is read once it has (a second
    reader of a forkserver's child would find the pipe empty and take 255),
    and a process it has reaped is not asked again (its sentinel may be closed).
    """
    ended, waiting = [], []
    for process in processes:
        code = getattr(getattr(process, "_popen", None), "returncode", None)
        if code is not None:
            ended.append((int(process.pid or 0), int(code)))
        elif process.pid is not None:
            waiting.append(process)
    try:
        ready = set(multiprocessing.connection.wait([process.sentinel for process in waiting], 0)) if waiting else set()
    except (OSError, ValueError):  # a sentinel closed meanwhile: that process was reaped, and is seen next time
        ready = set()
    for process in waiting:
        if process.sentinel not in ready:
            continue
        popen = getattr(process, "_popen", None)
        deadline = time.monotonic() + REAP_WAIT_S
        while getattr(popen, "returncode", None) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        code = getattr(popen, "returncode", None)
        ended.append((int(process.pid or 0), int(code if code is not None else process.exitcode or 0)))
    return ended


def process_end(exitcode: int) -> str:
    """How a process ended, from its exit code as ``multiprocessing`` and ``subprocess`` give it."""
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


def remaining_s(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (``time.monotonic``), never negative; None: no deadline."""
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)


def deadline_after(timeout: float | None) -> float | None:
    """The ``time.monotonic`` moment ``timeout`` seconds from now; None: no deadline."""
    return None if timeout is None else time.monotonic() + timeout


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
    #: Why no new instance can start in this process (set when an abort left workers that cannot be
    #: freed, such as the ranks of an MPI launch); None: instances can start.
    blocked: ClassVar[str | None] = None
    #: The settings the back-end takes, by key (``--executor-option KEY=VALUE``).
    options: ClassVar[dict[str, Option]] = {}
    #: True where the work runs in the calling process (serial, threads): its native libraries'
    #: threads are set around each call (``limits``) rather than once in each worker.
    in_process: ClassVar[bool] = False
    #: True where ``map`` hands out its first chunks while it still reads its input (the driver makes the
    #: items as the workers compute); False where it reads the whole input first (``Pool.map`` makes a
    #: list of it). The cost model plays the one or the other.
    map_overlaps_input: ClassVar[bool] = True
    #: False where the library hands out a new chunk whenever one finishes, whatever the consumer has taken
    #: (joblib): the window then bounds the chunks in flight, not how far the input is read ahead of the consumer.
    window_bounds_input: ClassVar[bool] = True
    #: The map methods whose library chunks by a rule of its own when it is given no chunk size (the
    #: ``native`` chunk spec): they get ``chunksize=None``; the others get one item per task.
    own_chunking: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, workers: int, *, threads: int | None = None, **options: Any) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise ValueError("workers must be >= 1")
        if self.max_workers is not None and workers > self.max_workers:
            raise ValueError(f"{self.name} has at most {self.max_workers} worker(s)")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError("threads must be >= 1 (or None: the libraries' own default)")
        self.workers = workers
        #: Threads each worker's native libraries may use (``bench.host.inner_threads``); None: as they start.
        self.threads = threads
        #: Every option's value as used, whatever supplied it (recorded in the cell's ``options``).
        self.settings = self.resolve_options(options)
        #: Where each worker ran (``node_name``), once the instance is ready.
        self.nodes: list[str] | None = None

    @classmethod
    def env_name(cls, key: str) -> str:
        """The environment variable that sets option ``key``: ``BENCH_DASK_SLURM_WALLTIME``."""
        return f"BENCH_{cls.name}_{key}".upper().replace("-", "_")

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        """OptionError for a key the back-end does not take or a value it cannot parse."""
        cls.resolve_options(options, defaults=False)

    @classmethod
    def resolve_options(cls, options: Mapping[str, Any], *, defaults: bool = True) -> dict[str, Any]:
        """The value of every option: the explicit one, else the ``BENCH_*`` environment,
        else dask's config, else the default.

        Text (from a command line or the environment) goes through the option's ``parse``.
        """
        unknown = sorted(set(options) - set(cls.options))
        if unknown:
            known = ", ".join(cls.options) or "none"
            raise OptionError(f"{cls.name} has no option {unknown[0]!r}; its options: {known}")
        values: dict[str, Any] = {}
        for key, option in cls.options.items():
            if key in options:
                value, origin = options[key], f"option {key}"
            elif cls.env_name(key) in os.environ:
                value, origin = os.environ[cls.env_name(key)], cls.env_name(key)
            elif not defaults:
                continue
            else:
                value, origin = _from_config(option.config), f"dask config {option.config}"
                if value is None:
                    values[key] = option.default
                    continue
            if isinstance(value, str):
                try:
                    value = option.parse(value)
                except ValueError as exc:
                    raise OptionError(f"{cls.name}: {origin}: {exc}") from None
            values[key] = value
        return values

    @classmethod
    def available(cls) -> str | None:
        """None when the back-end can run here, else the reason it cannot."""
        return None

    @classmethod
    def capacity(cls, options: Mapping[str, Any] | None = None) -> int | None:
        """CPUs the workers share when they run elsewhere (a batch system's nodes), against which
        oversubscription is judged; None: the cores of this machine, or a launch's own."""
        return None

    @classmethod
    def runs_here(cls, options: Mapping[str, Any]) -> bool:
        """Whether the workers of an instance with ``options`` run on this machine (their count bounded by its
        cores, oversubscription judged against them)."""
        return cls.local

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

    @classmethod
    def native_chunksize(cls, n_items: int | None, workers: int, method: str) -> int | None:
        """The chunk size the library uses when it is given none (the ``native`` chunk spec) for ``n_items``
        items (None: a stream of unknown length): one item per task, the default of the futures executors,
        mpi4py's and Dask's, unless the back-end says otherwise; None where the library adapts it as it runs."""
        return 1

    def chunks_of(self, chunksize: int | None, method: str) -> int | None:
        """What a map method passes on: the chunk size asked for; with none, None where the library has a
        rule of its own for ``method`` (``own_chunking``), else ``native_chunksize``'s number."""
        if chunksize is not None or method in self.own_chunking:
            return chunksize
        return self.native_chunksize(None, self.workers, method) or 1

    @classmethod
    def worker_cores(cls, workers: int) -> int:
        """The cores each of ``workers`` workers may use (what ``--threads auto`` gives it): the cores
        this process may run on, shared out."""
        from bench.host.provenance import available_cores

        return max(1, available_cores() // workers)

    # -- inner threads ------------------------------------------------------
    def worker_initializer(self, setup: Callable[[], None]) -> Callable[[], None]:
        """The initializer of this back-end's worker processes: ``setup``, then the inner threads."""
        from bench.host import inner_threads

        return functools.partial(inner_threads.initialize, setup, self.threads)

    def worker_environ(self) -> dict[str, str]:
        """Environment variables for worker processes this back-end spawns (the inner threads), set
        before their libraries load."""
        from bench.host import inner_threads

        return inner_threads.environ(self.threads)

    @property
    def tasks_in_driver(self) -> bool:
        """Whether this instance runs its tasks in the calling process (a task that crashes then crashes it)."""
        return self.in_process

    def limits(self) -> AbstractContextManager[None]:
        """The inner threads around a call of ``map`` or a stream, where the work runs in this process;
        workers in processes of their own set them once, when they start."""
        from bench.host import inner_threads

        return inner_threads.limited(self.threads) if self.in_process else nullcontext()

    def thread_pools(self, timeout: float | None = READY_TIMEOUT_S) -> list[dict[str, Any]]:
        """The native thread pools of a worker, as threadpoolctl sees them there (run after the task has
        loaded its libraries)."""
        from bench.host import inner_threads

        with self.limits():
            found: list[dict[str, Any]] = self._gather([self.submit(inner_threads.pools)], timeout)[0]
        return found

    # -- life cycle -------------------------------------------------------
    def start(self) -> None:
        raise NotImplementedError

    def shutdown(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        """Stop at once, dropping unfinished work (after a timeout or a fault)."""
        self.shutdown()

    def abandoned(self) -> str | None:
        """After ``abort``: what still runs because it cannot be stopped (None: nothing)."""
        return None

    def wait_ready(self) -> None:
        """Return once every worker has answered one call; records the node of each in ``nodes``."""
        seen: set[tuple[str, int, int]] = set()
        delay_s = 0.005
        deadline = time.monotonic() + READY_TIMEOUT_S
        while len(seen) < self.workers:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(seen)} of {self.workers} workers answered")
            seen.update(self._identities(delay_s))
            delay_s = min(2 * delay_s, 0.5)
        self.nodes = sorted(node for node, _, _ in seen)

    def _identities(self, delay_s: float) -> list[tuple[str, int, int]]:
        """One call of ``worker_identity`` per worker, all in flight at once (see ``wait_ready``)."""
        futures = [self.submit(worker_identity, delay_s) for _ in range(self.workers)]
        found: list[tuple[str, int, int]] = self._gather(futures, READY_TIMEOUT_S)
        return found

    def processes(self) -> list[int]:
        """Processes of this instance's workers that the driver did not start itself, on this node (their
        CPU time is the run's own, not a busy machine's)."""
        return []

    def placement(self) -> dict[str, Any]:
        """Facts about the running instance for its cells' records: ``nodes``, and for batch
        back-ends ``slurm_jobs`` and ``queue_wait_s``."""
        return {"nodes": self.nodes}

    def __enter__(self) -> Executor:
        try:
            # What starts is whole before an interrupt can stop it (a half-started pool or cluster cannot
            # be torn down); a batch queue may keep jobs waiting for long, and that wait stops at once.
            with deferred_interrupts():
                self.start()
                if self.local:
                    self.wait_ready()
            if not self.local:
                self.wait_ready()
        except BaseException:  # an interrupt during start-up too: release what was started
            try:
                self.abort()
            except Exception:  # a half-started instance; the start-up error is the one to report
                pass
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
        chunksize: int | None = 1,
        timeout: float | None = None,
    ) -> list[Any]:
        """``[fn(x) for x in iterable]`` on the workers, ``chunksize`` items per task (None: as the library
        chunks when it is given no chunk size, see ``native_chunksize``).

        Raises the builtin TimeoutError when ``timeout`` seconds pass first, whatever the library raised.
        """
        check_chunksize(chunksize)
        try:
            return self._map(fn, iterable, self.chunks_of(chunksize, "map"), timeout)
        except TimeoutError:
            raise
        except TIMEOUT_ERRORS as exc:
            raise TimeoutError(str(exc) or f"unfinished after {timeout} s") from exc
        except Exception as exc:
            self._raise_death(exc)
            raise

    def death(self, exc: Exception) -> WorkerDied | None:
        """The worker's death that the library's error ``exc`` stands for, said with which worker and how
        (libraries often say only that one died); None when ``exc`` is not one."""
        return None

    def _raise_death(self, exc: Exception) -> None:
        died = self.death(exc)
        if died is not None:
            raise died from exc

    def _map(
        self, fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None, timeout: float | None
    ) -> list[Any]:
        """The back-end's map; this default batches items into chunk tasks."""
        futures = [self.submit(apply_chunk, fn, chunk) for chunk in batched(iterable, chunksize or 1)]
        return [result for chunk in self._gather(futures, timeout) for result in chunk]

    @property
    def window(self) -> int:
        """Chunks the streaming methods keep in flight (recorded in a cell's ``window``)."""
        return WINDOW_PER_WORKER * self.workers

    def imap(
        self, fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None = 1, timeout: float | None = None
    ) -> Iterator[Any]:
        """``fn(x)`` for each item, lazily and in item order, ``chunksize`` items per task.

        At most ``window`` chunks are in flight and the input is read only that
        far ahead, so it may be an endless generator. Closing the iterator
        cancels the work still outstanding. Raises the builtin TimeoutError
        when the whole stream takes longer than ``timeout`` seconds.
        """
        check_chunksize(chunksize)
        chunks = self.chunks_of(chunksize, "imap")
        return self._timed_stream(self._stream(fn, iterable, chunks, deadline_after(timeout), ordered=True), timeout)

    def imap_unordered(
        self, fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None = 1, timeout: float | None = None
    ) -> Iterator[Any]:
        """As :meth:`imap`, but each chunk's results as soon as that chunk is done."""
        check_chunksize(chunksize)
        chunks = self.chunks_of(chunksize, "imap_unordered")
        return self._timed_stream(self._stream(fn, iterable, chunks, deadline_after(timeout), ordered=False), timeout)

    def method(self, name: str) -> Callable[..., Any]:
        """The map method called ``name`` (one of ``METHODS``)."""
        if name not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {name!r}")
        return getattr(self, name)  # type: ignore[no-any-return]

    def _timed_stream(self, stream: Iterator[Any], timeout: float | None) -> Iterator[Any]:
        """``stream`` with whatever timeout class a library raises turned into the builtin TimeoutError,
        and a worker's death said as ``death`` says it."""
        try:
            yield from stream
        except TimeoutError:
            raise
        except TIMEOUT_ERRORS as exc:
            raise TimeoutError(str(exc) or f"unfinished after {timeout} s") from exc
        except Exception as exc:
            self._raise_death(exc)
            raise

    def _stream(
        self,
        fn: Callable[[Any], Any],
        iterable: Iterable[Any],
        chunksize: int | None,
        deadline: float | None,
        ordered: bool,
    ) -> Iterator[Any]:
        """The streaming methods over ``submit``: a window of chunk tasks, refilled as each is taken."""
        chunks = batched(iterable, chunksize or 1)
        pending: list[Any] = []

        def refill() -> None:
            for chunk in itertools.islice(chunks, self.window - len(pending)):
                pending.append(self.submit(apply_chunk, fn, chunk))

        try:
            refill()
            while pending:
                future = pending[0] if ordered else self._first_done(pending, remaining_s(deadline))
                results = future.result(remaining_s(deadline))
                pending.remove(future)
                refill()  # before handing results out: the workers go on while the consumer works
                yield from results
        finally:
            if pending:
                self._cancel(pending)
                self._settle(pending, deadline)

    def _settle(self, cancelled: list[Any], deadline: float | None) -> None:
        """Wait (until ``deadline`` at most) for the chunks that were running when a stream was closed,
        so that no leftover work runs into the next measurement."""
        running = [future for future in cancelled if not future.cancelled()]
        if running:
            concurrent.futures.wait(running, remaining_s(deadline))

    def _first_done(self, futures: list[Any], timeout: float | None) -> Any:
        """The first of ``futures`` (in submission order) that is done; TimeoutError when none is in time."""
        done, _ = concurrent.futures.wait(futures, timeout, return_when=concurrent.futures.FIRST_COMPLETED)
        if not done:
            raise TimeoutError(f"no task finished within {timeout} s")
        return next(future for future in futures if future in done)

    def _cancel(self, futures: list[Any]) -> None:
        """Drop work nobody will collect (queued tasks; running ones finish on their own)."""
        for future in futures:
            future.cancel()

    def _gather(self, futures: list[Any], timeout: float | None) -> list[Any]:
        """Results of ``futures`` in order; the first failure raises at once."""
        done, pending = concurrent.futures.wait(futures, timeout, return_when=concurrent.futures.FIRST_EXCEPTION)
        return self._results(futures, done, pending, timeout)

    @staticmethod
    def _results(futures: list[Any], done: set[Any], pending: set[Any], timeout: float | None) -> list[Any]:
        """``_gather``'s answer once it has waited: the first failure, else TimeoutError, else the results."""
        for future in futures:
            error = future.exception() if future in done else None
            if error is not None:
                raise error
        if pending:
            raise TimeoutError(f"{len(pending)} of {len(futures)} tasks unfinished after {timeout} s")
        return [future.result() for future in futures]
