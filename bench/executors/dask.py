"""Dask back-ends: a client over a cluster; variants differ in ``make_cluster``."""

from __future__ import annotations

import functools
import logging
import os
import re
import shlex
import shutil
import signal
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from bench.executors.base import (
    READY_TIMEOUT_S,
    TIMEOUT_ERRORS,
    Executor,
    Option,
    WorkerDied,
    apply_chunk,
    batched,
    blocking_interrupts,
    node_name,
    not_installed,
    process_end,
)
from bench.host import slurm

# The arguments of a chunk travel inside its task, as the suite means them to (a probe measures exactly that
# transfer): distributed's advice to scatter large arguments first is not the user's to act on here.
warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)

__all__ = ["DaskLocal", "DaskSlurm", "NANNY_ENVIRON"]

#: Dask's configuration of the variables its nannies set before they start a worker process.
NANNY_ENVIRON = "distributed.nanny.pre-spawn-environ"
#: Dask's configuration of how many workers may die running a task before the task fails.
ALLOWED_FAILURES = "distributed.scheduler.allowed-failures"
#: What a nanny logs when its worker process ends (distributed.nanny).
NANNY_DEATH = re.compile(r"Worker process (\d+) (?:exited with status (-?\d+)|was killed by signal (\d+))")


#: How long a worker's end may take to reach the log after Dask reported it to the client.
DEATH_LOG_WAIT_S = 1.0


class _Deaths(logging.Handler):
    """The ends of worker processes that the nannies of this process log, newest last."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: list[tuple[int, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = NANNY_DEATH.search(record.getMessage())
        if found:
            pid, status, signum = found.groups()
            self.seen.append((int(pid), int(status) if status is not None else -int(signum)))


class _DaskBase(Executor):
    """Dask has no chunked map: the base class batches items into chunk tasks."""

    map_overlaps_input = False  # client.map takes the chunks as one list
    packages: ClassVar[tuple[str, ...]] = ("dask", "distributed")
    cluster: Any
    client: Any

    @classmethod
    def available(cls) -> str | None:
        return not_installed("distributed", "dask")

    def make_cluster(self) -> Any:
        raise NotImplementedError

    def nanny_environ(self) -> dict[str, Any]:
        """What Dask's nannies set before they start a worker process: Dask's own settings (one
        BLAS and OpenMP thread per worker), with the inner threads of this instance in their place."""
        import dask

        configured = dask.config.get(NANNY_ENVIRON, default=None) or {}
        return {**configured, **self.worker_environ()}

    def start(self) -> None:
        import dask
        from distributed import Client

        from bench.host import scratch
        from bench.host.inner_threads import kept_environ

        # The scheduler's (and local workers') scratch space in a folder of this instance, removed
        # with it: Dask's default, <tmp>/dask-scratch-space, outlives every run.
        self.scratch = scratch.make("dask-")
        environ = self.nanny_environ()
        # A nanny in this process also sets its variables here, for good ("poisoning the process running
        # the Nanny", says Dask): the driver, and what it starts later, keep their own.
        # A task whose worker died fails at once (KilledWorker) rather than on up to three fresh workers in
        # turn: it would crash them too, and a benchmark's run is spoilt by the first death.
        settings = {"temporary-directory": self.scratch, NANNY_ENVIRON: environ, ALLOWED_FAILURES: 0}
        #: What the nannies of a local cluster, in this process, say of their workers' deaths.
        self._deaths = _Deaths() if self.local else None
        if self._deaths is not None:
            logging.getLogger("distributed.nanny").addHandler(self._deaths)
        with dask.config.set(settings), kept_environ(environ):
            self.cluster = self.make_cluster()
        self.client = Client(self.cluster)

    def death(self, exc: Exception) -> WorkerDied | None:
        """Dask's KilledWorker names the task and the worker's address; the nanny, in this process for a
        local cluster, logs how the worker process ended."""
        from distributed import KilledWorker

        deaths = self._deaths
        if deaths is None or not isinstance(exc, KilledWorker):  # remote nannies log in their jobs
            return None
        deadline = time.monotonic() + DEATH_LOG_WAIT_S
        while not deaths.seen and time.monotonic() < deadline:
            time.sleep(0.01)
        if not deaths.seen:
            return None
        pid, code = deaths.seen[-1]
        return WorkerDied(f"worker process {pid} {process_end(code)} with work outstanding (KilledWorker)")

    #: Seconds to wait for every worker to connect.
    ready_timeout_s: float = READY_TIMEOUT_S

    def wait_ready(self) -> None:
        from bench.host import inner_threads

        self.client.wait_for_workers(self.workers, timeout=self.ready_timeout_s)
        self.nodes = sorted(self.client.run(node_name).values())  # every worker answers once
        if self.threads is not None:  # for the libraries a worker loaded before the variables could reach them
            self.client.run(inner_threads.apply, self.threads)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        # pure=False: every call is new work, never a cached result.
        return self.client.submit(fn, *args, pure=False)

    def _map(
        self, fn: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None, timeout: float | None
    ) -> list[Any]:
        # client.map submits every chunk in one message: measured here with 2 workers and
        # one-item tasks, about 460-480 tasks/s against 360-410 for a loop of client.submit.
        futures = self.client.map(
            functools.partial(apply_chunk, fn), list(batched(iterable, chunksize or 1)), pure=False
        )
        return [result for chunk in self._gather(futures, timeout) for result in chunk]

    def _first_done(self, futures: list[Any], timeout: float | None) -> Any:
        from distributed import wait

        done = wait(futures, timeout=timeout, return_when="FIRST_COMPLETED").done
        return next(future for future in futures if future in done)

    def _cancel(self, futures: list[Any]) -> None:
        self.client.cancel(futures)

    def _settle(self, cancelled: list[Any], deadline: float | None) -> None:
        pass  # a cancelled Dask future is released at once; a task already running finishes unobserved

    def _gather(self, futures: list[Any], timeout: float | None) -> list[Any]:
        from distributed import wait

        try:
            wait(futures, timeout=timeout)
        except TIMEOUT_ERRORS:
            self.client.cancel(futures)
            raise
        results: list[Any] = self.client.gather(futures)
        return results

    def shutdown(self) -> None:
        client, cluster = getattr(self, "client", None), getattr(self, "cluster", None)
        deaths = getattr(self, "_deaths", None)
        if deaths is not None:
            logging.getLogger("distributed.nanny").removeHandler(deaths)
        try:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
        finally:
            scratch = getattr(self, "scratch", None)
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)

    def abort(self) -> None:
        """Tear the cluster down without its farewell noise (closed connections, cancelled tasks)."""
        loggers = [logging.getLogger(name) for name in ("distributed", "asyncio", "tornado")]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.setLevel(logging.CRITICAL + 1)
        try:
            self.shutdown()
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


class DaskLocal(_DaskBase):
    """distributed.LocalCluster: one single-threaded worker process per worker."""

    name = "dask-local"
    description = "Dask distributed.LocalCluster (processes, 1 thread each, loopback)"

    def make_cluster(self) -> Any:
        from distributed import LocalCluster

        # The worker processes (and the threads that start them) inherit SIGINT blocked: Ctrl-C is for
        # the driver.
        with blocking_interrupts():
            return LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                # The scheduler serves health routes even without a dashboard:
                # keep them on loopback, on a free port rather than 8787.
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                # Failures reach the driver through the futures; what the cluster logs on its
                # own (a heartbeat that finds the scheduler gone at teardown) is noise.
                silence_logs=logging.CRITICAL,
                local_directory=self.scratch,
            )


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"{text!r} is not a positive number of seconds")
    return value


def _lines(text: str) -> list[str]:
    """Shell text run before the worker, as one line (``module load python; source env/bin/activate``)."""
    return [text] if text.strip() else []


#: Each worker job keeps its scratch space in a folder of its own on its node, removed when the job
#: ends (Dask's default, <tmp>/dask-scratch-space, outlives every job). The worker runs in the
#: background of the job's shell (``bench_worker``), so that the shell's traps run at once when scancel
#: sends SIGTERM: the worker had it too and normally closes within a second; one that does not (a
#: nanny caught restarting a worker that died the moment before) is killed after ``STOP_GRACE_S``, all
#: but multiprocessing's resource tracker, which then removes the semaphores they left in /dev/shm.
#: Then the scratch folder goes, all within Slurm's KillWait (30 s by default, 5 s on the local Slurm).
STOP_GRACE_S = 2
SCRATCH_PROLOGUE = rf"""
BENCH_SCRATCH="$(mktemp -d "${{TMPDIR:-/tmp}}/bench-dask-XXXXXX")" || exit 1
bench_alive() {{ [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }}
bench_wait() {{ local i; for i in $(seq $(($2 * 10))); do bench_alive "$1" || return 0; sleep 0.1; done; return 1; }}
bench_tree() {{ local child; echo "$1"; for child in $(pgrep -P "$1"); do bench_tree "$child"; done; }}
bench_stop() {{
  local pid trackers=
  if ! bench_wait "$BENCH_WORKER" {STOP_GRACE_S}; then
    kill -STOP "$BENCH_WORKER" 2>/dev/null  # it starts no new process while its own are listed
    for pid in $(bench_tree "$BENCH_WORKER"); do
      case "$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)" in
        *multiprocessing.resource_tracker*) trackers="$trackers $pid" ;;
        *) kill -KILL "$pid" 2>/dev/null ;;
      esac
    done
    for pid in $trackers; do bench_wait "$pid" 1; done
  fi
  exit "$1"
}}
bench_worker() {{ "$@" & BENCH_WORKER=$!; wait "$BENCH_WORKER"; }}
trap 'rm -rf "$BENCH_SCRATCH"' EXIT
trap 'bench_stop 143' TERM
trap 'bench_stop 130' INT
""".strip().splitlines()
#: The job script's command that runs the worker (``python -m distributed.cli.dask_worker ...``).
WORKER_WRAPPER = "bench_worker"


#: Cores each worker job asks for: one single-threaded worker process.
JOB_CORES = 1
#: Where the worker jobs' output goes unless the ``log_directory`` option says otherwise.
LOG_DIRECTORY = "~/.cache/parallel-bench/dask-slurm"
#: The output files of the worker jobs (``<job name>-<job id>.out`` and ``.err``): only these are removed.
LOG_NAME = re.compile(r"bench-dask-\d+-[0-9a-f]{8}-\d+\.(out|err)")
#: Ordinary jobs whose output is kept: the newest.
KEEP_JOBS = 20
#: The output of the jobs of an instance that failed (or was interrupted) goes to this subfolder, and
#: is kept this long.
FAILED_LOGS = "failed"
KEEP_FAILED_S = 7 * 24 * 3600.0


def keep_logs(folder: Path, job_name: str, failed: bool) -> None:
    """File the output of one instance's jobs (``failed/``, where its instance failed), then prune."""
    if failed:
        (folder / FAILED_LOGS).mkdir(exist_ok=True)
        for path in folder.glob(f"{job_name}-*"):
            if LOG_NAME.fullmatch(path.name):
                path.replace(folder / FAILED_LOGS / path.name)
    prune_logs(folder)


def prune_logs(folder: Path, now: float | None = None) -> list[Path]:
    """Remove the worker jobs' output beyond the newest ``KEEP_JOBS`` jobs, and that of failed jobs older
    than ``KEEP_FAILED_S``; nothing else in ``folder`` (which may be a user's)."""
    now = time.time() if now is None else now

    def ours(where: Path) -> list[tuple[float, Path]]:
        found = []
        for path in where.glob("bench-dask-*"):
            try:
                if LOG_NAME.fullmatch(path.name) and path.is_file():
                    found.append((path.stat().st_mtime, path))
            except OSError:
                continue
        return sorted(found, reverse=True)

    jobs: dict[str, list[Path]] = {}
    for _, path in ours(folder):
        jobs.setdefault(path.name.rsplit(".", 1)[0], []).append(path)
    old = [path for paths in list(jobs.values())[KEEP_JOBS:] for path in paths]
    old += [path for changed, path in ours(folder / FAILED_LOGS) if now - changed > KEEP_FAILED_S]
    removed = []
    for path in old:
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            continue
    return removed


class DaskSlurm(_DaskBase):
    """dask_jobqueue.SLURMCluster: one batch job per worker, one single-threaded worker process each.

    ``startup_s`` runs from submission until every worker is connected; it
    includes the queue wait, which is recorded on its own (``queue_wait_s``,
    from ``scontrol``'s submit and start times), with the job ids and nodes
    (``slurm_jobs``). Jobs are cancelled at teardown, after errors and on
    interrupts. The scheduler listens on loopback unless ``interface`` names
    the network the compute nodes reach the driver on.
    """

    name = "dask-slurm"
    description = "Dask dask_jobqueue.SLURMCluster (one Slurm job per worker)"
    packages = ("dask", "distributed", "dask-jobqueue")
    local = False
    options = {
        "partition": Option("Slurm partition (jobqueue's queue)", config="jobqueue.slurm.queue"),
        "account": Option("Slurm account to charge", config="jobqueue.slurm.account"),
        "walltime": Option("time limit of each worker job, HH:MM:SS", "00:30:00", config="jobqueue.slurm.walltime"),
        "memory": Option("memory of each worker job (also the worker's limit)", "1GiB", config="jobqueue.slurm.memory"),
        "job_directives": Option(
            "more #SBATCH options, e.g. '--qos=debug --constraint=cpu'",
            [],
            shlex.split,
            config="jobqueue.slurm.job-extra-directives",
        ),
        "prologue": Option(
            "shell commands run before each worker, e.g. 'module load python; source env/bin/activate'",
            [],
            _lines,
            config="jobqueue.slurm.job-script-prologue",
        ),
        "interface": Option(
            "network interface of the scheduler and workers, e.g. ib0 (default: loopback, one machine only)",
            config="jobqueue.slurm.interface",
        ),
        "python": Option("Python that runs the workers (default: this one)", config="jobqueue.slurm.python"),
        "log_directory": Option(
            "folder of the worker jobs' output (default: ~/.cache/parallel-bench/dask-slurm)",
            config="jobqueue.slurm.log-directory",
        ),
        "ready_timeout": Option("seconds to wait until every worker job runs and connects", 600.0, _seconds),
    }

    @classmethod
    def available(cls) -> str | None:
        return super().available() or not_installed("dask_jobqueue", "slurm", "dask-jobqueue") or slurm.unreachable()

    @classmethod
    def capacity(cls, options: Mapping[str, Any] | None = None) -> int | None:
        partition = cls.resolve_options(options or {})["partition"]
        try:
            return sum(slurm.node_cpus(partition).values())
        except slurm.SlurmError:
            return None

    @classmethod
    def worker_cores(cls, workers: int) -> int:
        return JOB_CORES  # each worker is a batch job of its own, with the cores it asks for

    def thread_prologue(self) -> list[str]:
        """Shell lines of a worker job that give its worker the inner threads: the variables for the
        nanny's own process, and Dask's configuration for what the nanny sets in the worker's."""
        import dask.config

        if self.threads is None:
            return []
        inherited = dask.config.serialize({"distributed": {"nanny": {"pre-spawn-environ": self.nanny_environ()}}})
        exports = {**self.worker_environ(), "DASK_INTERNAL_INHERIT_CONFIG": inherited}
        return [f"export {name}={shlex.quote(value)}" for name, value in exports.items()]

    def make_cluster(self) -> Any:
        # Importing dask_jobqueue replaces the SIGINT handler with sys.exit() (exit status 0,
        # nothing cleaned up): keep the one in place, which stops the sweep and cancels the jobs.
        previous = signal.getsignal(signal.SIGINT)
        from dask_jobqueue.slurm import SLURMCluster

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, previous)
        settings = self.settings
        self.ready_timeout_s = settings["ready_timeout"]
        self.job_name = f"bench-dask-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        interface = settings["interface"]
        if interface:
            network: dict[str, Any] = {
                "interface": interface,
                "scheduler_options": {"interface": interface, "dashboard_address": ":0"},
            }
        else:
            network = {
                "scheduler_options": {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"},
                "worker_extra_args": ["--host", "127.0.0.1"],
            }
        log_directory = settings["log_directory"] or os.path.expanduser(LOG_DIRECTORY)
        os.makedirs(log_directory, exist_ok=True)
        self.log_directory = Path(log_directory)
        prologue = [*settings["prologue"], *SCRATCH_PROLOGUE, *self.thread_prologue()]
        # The workers start in batch jobs, which a terminal's Ctrl-C does not reach.
        return SLURMCluster(
            cores=JOB_CORES,
            processes=1,
            memory=settings["memory"],
            queue=settings["partition"],
            account=settings["account"],
            walltime=settings["walltime"],
            job_extra_directives=list(settings["job_directives"]),
            job_script_prologue=prologue,
            local_directory='"$BENCH_SCRATCH"',
            # dask_jobqueue does not quote it
            python=f"{WORKER_WRAPPER} {shlex.quote(settings['python'] or sys.executable)}",
            log_directory=log_directory,
            job_name=self.job_name,
            **network,
        )

    def start(self) -> None:
        super().start()
        self.cluster.scale(jobs=self.workers)

    def job_ids(self) -> list[str]:
        cluster = getattr(self, "cluster", None)
        workers = getattr(cluster, "workers", {}) if cluster is not None else {}
        return sorted(str(job.job_id) for job in list(workers.values()) if getattr(job, "job_id", None))

    def processes(self) -> list[int]:
        from bench.host.cpuload import job_processes

        return job_processes(set(self.job_ids()))

    def placement(self) -> dict[str, Any]:
        jobs = []
        for job_id in self.job_ids():
            try:
                facts = slurm.job_facts(job_id)
            except slurm.SlurmError:
                facts = {"job_id": job_id}
            facts.pop("state", None)
            jobs.append(facts)
        waits = [job["queue_wait_s"] for job in jobs if job.get("queue_wait_s") is not None]
        return {**super().placement(), "slurm_jobs": jobs, "queue_wait_s": max(waits) if waits else None}

    def shutdown(self) -> None:
        try:
            super().shutdown()  # closing the cluster cancels the jobs it knows
        finally:
            name = getattr(self, "job_name", None)
            if name is not None:  # every job of this instance has its name, one submitted as an interrupt came too
                slurm.cancel_named(name)
            folder = getattr(self, "log_directory", None)
            if name is not None and folder is not None:
                keep_logs(folder, name, failed=getattr(self, "_failed", False))

    def abort(self) -> None:
        self._failed = True  # its jobs' output is kept a while, for the reason
        super().abort()
