"""Ray: a local Ray started by the instance, or an existing Ray cluster (``address``)."""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import multiprocessing
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from bench.executors.base import (
    UNIX_SOCKET_PATH,
    Executor,
    Option,
    ignore_interrupts,
    not_installed,
    remaining_s,
)

__all__ = ["Ray", "RemoteTraceback"]

#: The token of the local Rays this process starts (one: Ray reads it once per process).
_TOKEN = secrets.token_hex(32)
#: What Ray appends to its temporary folder for the sockets of a session
#: (``/session_2026-12-06_02-00-48_176617_2002/sockets/plasma_store``).
SOCKET_SUFFIX = 64


def _address(text: str) -> str:
    if not text.strip():
        raise ValueError("the address is empty")
    return text.strip()


class Ray(Executor):
    """``ray.util.multiprocessing.Pool``: one Ray actor per worker (``num_cpus=1`` each), given chunks.

    Ray's Pool rather than a remote task per chunk: measured here (2 workers,
    7 paired rounds), its ``map`` took 0.54x the time of remote tasks for
    ``noop`` one item per task, 0.46x with 16 items per task and 0.46x for
    1 MiB payloads, since an actor is not scheduled anew for every call. Its
    ``map`` hands the chunks to the actors in turn, each actor working through
    its own queue (no worker takes over another's chunks, unlike
    multiprocessing.Pool's shared queue); the streaming methods keep the
    suite's window of chunks in flight, each given to the next actor.

    Without ``address`` the instance starts a Ray of its own with ``num_cpus`` =
    workers: no dashboard, no usage report, its temporary folder a private one
    removed at teardown, and a token that every connection to it must carry
    (Ray's token authentication; Ray's servers listen on every interface of the
    node whatever address it is given, so the token keeps others out). With
    ``address`` (``ray start --head`` prints it) it joins that cluster, whose
    CPUs must number at least the workers (and its own settings apply, such as
    the niceness of its workers, 15 unless it was started with
    ``RAY_worker_niceness=0``; a local one runs them at 0, as every other
    back-end's workers run). Ray is one per process: a second
    instance cannot start while one runs. Actors are not restarted: a worker
    that dies fails its cell, as a broken process pool does.
    """

    name = "ray"
    description = "Ray's multiprocessing Pool of actors (a local Ray, or a cluster's address)"
    packages: ClassVar[tuple[str, ...]] = ("ray",)
    own_chunking = frozenset({"map"})  # Ray's Pool.map has Pool.map's rule; imap's default is one item
    map_overlaps_input = False  # Ray's Pool.map makes a list of its input first
    options = {
        "address": Option(
            "address of a running Ray cluster (ray start --head prints it), e.g. 10.0.0.5:6379 "
            "(default: a local Ray of the instance's own)",
            None,
            _address,
        ),
    }

    @classmethod
    def available(cls) -> str | None:
        return not_installed("ray", "ray")

    @classmethod
    def runs_here(cls, options: Mapping[str, Any]) -> bool:
        return cls.resolve_options(options)["address"] is None  # a cluster's workers run on its nodes

    @classmethod
    def native_chunksize(cls, n_items: int | None, workers: int, method: str) -> int | None:
        if method == "map" and n_items:  # Ray's Pool.map: multiprocessing's rule, four chunks per worker
            from bench.data.chunks import auto_chunksize

            return auto_chunksize(n_items, workers)
        return 1

    # -- life cycle -------------------------------------------------------
    def _folder(self) -> str:
        """The local Ray's temporary folder, new: in the suite's, unless the paths of Ray's sockets would not
        fit there; then one in /tmp that the suite's folder lists as its own (removed with it)."""
        from bench.host import scratch

        inside = scratch.folder() / "ray"
        if len(str(inside)) + SOCKET_SUFFIX < UNIX_SOCKET_PATH:
            shutil.rmtree(inside, ignore_errors=True)  # one Ray per process: what an earlier one left
            inside.mkdir()
            return str(inside)
        # named after this process, as the suite's own folders are: what a killed run left is known for
        outside = Path(tempfile.mkdtemp(prefix=f"bench-ray-{os.getpid()}-", dir="/tmp"))
        scratch.own([outside])
        return str(outside)

    def start(self) -> None:
        self.folder: str | None = None
        self.pool: Any = None
        #: Whether this instance started (or joined) the Ray it stops: never another's.
        self.owns_ray = False
        #: The calls handed to the pool whose results may still come: each has a thread that waits for them.
        self.calls: list[Any] = []
        address = self.settings["address"]
        self._environ(local=address is None)
        import ray
        from ray.util.multiprocessing import Pool

        from bench.host import inner_threads

        if ray.is_initialized():
            raise RuntimeError("one Ray instance per process: another one is running in this process")
        # the inner threads through the variables, set before a worker loads its libraries
        runtime_env = {"env_vars": self.worker_environ()}
        with _ray_left_to_the_suite():
            if address is None:
                self.folder = self._folder()
                with _own_session():
                    ray.init(
                        num_cpus=self.workers,
                        include_dashboard=False,
                        _temp_dir=self.folder,
                        log_to_driver=False,
                        configure_logging=False,
                        runtime_env=runtime_env,
                    )
            else:
                _check_reachable(address)
                ray.init(address=address, log_to_driver=False, configure_logging=False, runtime_env=runtime_env)
        self.owns_ray = True
        free = float(ray.available_resources().get("CPU", 0))
        if free < self.workers:  # Ray's Pool would wait for them without end
            raise RuntimeError(f"the Ray cluster has {free:g} free CPUs, fewer than the {self.workers} workers")
        self.pool = Pool(
            self.workers,
            initializer=functools.partial(inner_threads.initialize, ignore_interrupts, self.threads),
            ray_remote_args={"num_cpus": 1, "max_restarts": 0},
        )

    def _environ(self, local: bool) -> None:
        """Ray's settings, through its variables, before it is imported."""
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # no report of this run to Ray's servers
        # no Ray of Ray's own making (in /tmp/ray) when a call comes after the instance has stopped
        os.environ["RAY_ENABLE_AUTO_CONNECT"] = "0"
        # Ray runs its workers at niceness 15, a hidden default that gives them less CPU than the driver and
        # any other process: the workers of a local Ray run as every other back-end's do
        os.environ.setdefault("RAY_worker_niceness", "0")
        self.token = local and not _user_token()
        if self.token:
            # Ray (2.59 and later) protects a local cluster with a token, which it would save as
            # ~/.ray/auth_token: this process's own, in its environment while the instance runs
            os.environ["RAY_AUTH_TOKEN"] = _TOKEN

    def _stop(self, pool_stop: str) -> None:
        import ray

        if not getattr(self, "owns_ray", False):
            self._forget_token()
            return
        try:
            if getattr(self, "pool", None) is not None:
                try:
                    getattr(self.pool, pool_stop)()
                except Exception:  # a Ray already gone: its actors went with it
                    pass
                # each call's thread ends once its actor answered or was killed; after ray.shutdown it would
                # fail (a Ray whose raylet a batch system killed answers no more: the wait is bounded)
                deadline = time.monotonic() + STOP_TIMEOUT_S
                for call in getattr(self, "calls", []):
                    thread = getattr(call, "_result_thread", None)
                    if thread is not None:
                        thread.join(remaining_s(deadline))
            ray.shutdown()
        finally:
            self.owns_ray = False
            self._forget_token()
            if getattr(self, "folder", None):
                shutil.rmtree(str(self.folder), ignore_errors=True)

    def _forget_token(self) -> None:
        """The processes the driver starts later (and a later instance that joins a cluster) do not get it."""
        if getattr(self, "token", False) and os.environ.get("RAY_AUTH_TOKEN") == _TOKEN:
            del os.environ["RAY_AUTH_TOKEN"]

    def shutdown(self) -> None:
        self._stop("close")

    def abort(self) -> None:
        self._stop("terminate")

    # -- work -------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def failed(error: BaseException) -> None:
            future.set_exception(_raised(error))

        call = functools.partial(_call, fn)
        self._track(self.pool.apply_async(call, args, callback=future.set_result, error_callback=failed))
        return future

    def _track(self, call: Any) -> Any:
        self.calls = [*(earlier for earlier in self.calls if not earlier.ready()), call]
        return call

    def _cancel(self, futures: list[Any]) -> None:
        pass  # chunks handed to Ray's Pool cannot be taken back: _settle waits for them

    def _settle(self, cancelled: list[Any], deadline: float | None) -> None:
        """Wait (until ``deadline`` at most) for every chunk a closed stream left, so that none runs into the
        next measurement."""
        concurrent.futures.wait(cancelled, remaining_s(deadline))

    def _map(
        self, fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None, timeout: float | None
    ) -> list[Any]:
        call = self._track(self.pool.map_async(functools.partial(_call, fn), list(iterable), chunksize))
        try:
            results: list[Any] = call.get(timeout)
        except multiprocessing.TimeoutError:
            raise TimeoutError(f"unfinished after {timeout} s") from None
        except Exception as exc:
            error = _raised(exc)
            raise error from error.__cause__
        return results


class RemoteTraceback(Exception):
    """The worker's traceback of an exception a task raised, set as the exception's cause in the driver."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in an actor; an exception keeps the worker's traceback (its attributes travel, frames do not)."""
    try:
        return fn(*args)
    except Exception as exc:
        exc.worker_traceback = traceback.format_exc()  # type: ignore[attr-defined]
        raise


def _raised(error: BaseException) -> BaseException:
    """What the task raised, rather than Ray's wrapper of it, with the worker's traceback as its cause."""
    error = getattr(error, "underlying", error)
    told = getattr(error, "worker_traceback", None)
    if isinstance(told, str):
        error.__cause__ = RemoteTraceback(told)
    return error


@contextmanager
def _own_session() -> Iterator[None]:
    """Processes started inside (a local Ray's daemons, and through its raylet its workers) in a session of
    their own: a terminal's Ctrl-C or a batch system's signal to the run's process group is for the driver,
    which then stops them (Ray blocks only SIGINT in them, and a raylet that took a SIGTERM would leave the
    driver waiting for workers that never come). They still end with the driver (Ray's fate sharing)."""
    original = subprocess.Popen.__init__

    def in_new_session(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("start_new_session", True)
        original(self, *args, **kwargs)

    subprocess.Popen.__init__ = in_new_session  # type: ignore[method-assign]
    try:
        yield
    finally:
        subprocess.Popen.__init__ = original  # type: ignore[method-assign]


#: Seconds a stopping instance waits for the threads of its last calls.
STOP_TIMEOUT_S = 10.0
#: Seconds to wait for a cluster's head to accept a connection before its address is taken as wrong.
CONNECT_TIMEOUT_S = 10.0


def _check_reachable(address: str) -> None:
    """ConnectionError at once where nothing listens at ``host:port`` (Ray itself would retry for minutes)."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # ray://, auto: Ray's own forms, left to Ray
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ConnectionError(f"no Ray cluster answers at {address}: {exc.strerror or exc}") from None


def _user_token() -> bool:
    """Whether the user gave Ray a token of their own (Ray's own places for one)."""
    return bool(
        os.environ.get("RAY_AUTH_TOKEN")
        or os.environ.get("RAY_AUTH_TOKEN_PATH")
        or os.path.exists(os.path.expanduser("~/.ray/auth_token"))
    )


@contextmanager
def _ray_left_to_the_suite() -> Iterator[None]:
    """While Ray starts, what it would take over stays the suite's; these patch Ray's internals, which have
    no public switch for them, and are undone as the block ends:

    - ``ray.init`` installs a SIGTERM handler of its own that ends the driver at once, whatever it was
      doing: the suite's handler (which stops the sweep and keeps the journal) stays;
    - a Ray imported before ``RAY_ENABLE_AUTO_CONNECT`` was set would start a cluster of its own on the
      first Ray call after this instance stopped: auto-connect is off;
    - its start-up notes (token authentication is on, and so on) are for people who run Ray themselves:
      its logger says only errors.
    """
    from ray._private import auto_init_hook
    from ray._private import utils as ray_utils

    auto_init_hook.enable_auto_connect = False
    setter = ray_utils.set_sigterm_handler
    ray_utils.set_sigterm_handler = lambda handler: None
    logger = logging.getLogger("ray")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
        ray_utils.set_sigterm_handler = setter
