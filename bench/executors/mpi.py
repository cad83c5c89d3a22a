"""mpi4py.futures back-ends: MPICommExecutor under mpiexec, MPIPoolExecutor by spawning."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from bench.executors.local import NativeChunksPool
from bench.host import mpi_launch, scratch
from bench.host.mpi_launch import INSTALL_HINT
from bench.host.provenance import PROJECT_ROOT

__all__ = ["MpiComm", "MpiPool"]


class _MpiBase(NativeChunksPool):
    """mpi4py.futures executors chunk natively; their workers cannot be killed (MPICH ends the whole
    job when one dies), so an abort cancels queued chunks and leaves the running ones behind."""

    packages = ("mpi4py", "mpich")

    @classmethod
    def available(cls) -> str | None:
        if importlib.util.find_spec("mpi4py") is None:
            return f"mpi4py is not installed: {INSTALL_HINT}"
        try:
            from mpi4py import MPI  # initialises MPI (as a singleton outside mpiexec)
        except Exception as exc:  # no loadable MPI library
            return f"mpi4py cannot load an MPI library ({exc}): {INSTALL_HINT}"
        del MPI
        return None

    @classmethod
    def metadata(cls) -> dict[str, Any]:
        from mpi4py import MPI  # noqa: F401 - initialises MPI, which describe() reports on

        return {**super().metadata(), **mpi_launch.describe()}

    #: How long an abort waits for running chunks to finish before it leaves them behind.
    ABORT_WAIT_S = 2.0

    def abort(self) -> None:
        # Waiting could wait for a task that never ends: queued chunks are cancelled, and running ones
        # get a short while to finish; after that they are left to the workers (see ``abandoned``).
        self._stopper = threading.Thread(target=self.pool.shutdown, kwargs={"cancel_futures": True}, daemon=True)
        self._stopper.start()
        self._stopper.join(self.ABORT_WAIT_S)

    def abandoned(self) -> str | None:
        stopper = getattr(self, "_stopper", None)
        if stopper is None or not stopper.is_alive():
            return None
        return f"the workers of {self.name} x{self.workers} still run a task (MPI workers cannot be stopped)"


def _process_manager_files() -> set[Path]:
    """The files MPICH's process manager (hydra) keeps in the temporary folder while it runs."""
    folders = {Path("/tmp"), Path(tempfile.gettempdir())}
    return {path for folder in folders for path in folder.glob("hydra_hwloc_xmlfile_*")}


#: What a spawned worker runs: mpi4py's server, once the signals for the driver are ignored
#: (``mpi_launch.leave_signals_to_the_driver``). A launcher forwards Ctrl-C to every process of the job:
#: a worker that took it while still importing the modules of the tasks and of the initializer would end
#: with a traceback and make MPI abort the whole launch. (Left: the milliseconds in which Python starts.)
SERVER = (
    "import runpy, signal; "
    f"[signal.signal(s, signal.SIG_IGN) for s in {tuple(int(s) for s in mpi_launch.DRIVER_SIGNALS)}]; "
    "runpy.run_module('mpi4py.futures.server', run_name='__main__')"
)


class MpiPool(_MpiBase):
    """MPIPoolExecutor with ``max_workers`` = workers, spawned by MPI_Comm_spawn."""

    name = "mpi-pool"
    description = "mpi4py.futures.MPIPoolExecutor (spawns its workers; also as an MPI singleton)"

    def start(self) -> None:
        self._files_before = _process_manager_files()
        super().start()

    def wait_ready(self) -> None:
        super().wait_ready()
        # The first spawn starts MPICH's process manager, whose file stays in /tmp when a Ctrl-C stops it
        # (it ignores TMPDIR): listed as this process's own, it goes with this process's folder.
        scratch.own(sorted(_process_manager_files() - self._files_before))
        mpi_launch.own_launch_files()  # and the segments the spawn brought

    def make_pool(self) -> Any:
        from mpi4py.futures import MPIPoolExecutor

        # A singleton MPICH spawns through the mpiexec installed beside Python.
        bindir = os.path.dirname(sys.executable)
        if bindir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = os.pathsep.join(filter(None, [bindir, os.environ.get("PATH")]))
        import workloads

        # Spawned workers import tasks by module name: the project and the folders of users' workloads.
        path = [str(PROJECT_ROOT), *workloads.user_paths]
        return MPIPoolExecutor(
            max_workers=self.workers,
            main=False,
            python_args=["-c", SERVER],  # mpi4py adds "-m mpi4py.futures.server", which becomes sys.argv
            path=path,
            env=self.worker_environ(),
            initializer=self.worker_initializer(mpi_launch.serve_the_driver),
        )


class MpiComm(_MpiBase):
    """MPICommExecutor over ranks 0..workers of the mpiexec launch."""

    name = "mpi-comm"
    description = "mpi4py.futures.MPICommExecutor on ranks 0..k of an mpiexec launch"
    local = False  # the launch decides where its ranks run, and how many there are

    @classmethod
    def unsupported(cls, workers: int) -> str | None:
        hint = mpi_launch.launch_command(workers + 1)
        if os.environ.get("SLURM_JOB_ID") and mpi_launch.launched():  # a batch job: its tasks are the ranks
            hint = f"give the job {workers + 1} tasks (#SBATCH --ntasks={workers + 1})"
        if not mpi_launch.launched():
            return f"mpi-comm needs an MPI launch; run: {hint}"
        if not mpi_launch.via_mpi4py_run():
            return f"launch through -m mpi4py, so that an error on any rank aborts them all: {hint}"
        size = mpi_launch.world_size()
        if workers > size - 1:
            return f"{workers} workers need {workers + 1} MPI processes, this launch has {size}: {hint}"
        return None

    def make_pool(self) -> Any:
        self._context, executor, self._sub, self.rank_nodes = mpi_launch.start_comm_executor(self.workers, self.threads)
        return executor

    def placement(self) -> dict[str, Any]:
        return {**super().placement(), "rank_nodes": self.rank_nodes}

    def shutdown(self) -> None:
        self._context.__exit__(None, None, None)
        self._sub.Free()

    def abort(self) -> None:
        super().abort()
        if self.abandoned():
            # A rank still runs the task: its executor cannot be closed, and the ranks cannot serve
            # another one in this launch.
            type(self).blocked = f"not run: ranks of this launch still run a task that {self.name} left behind"
            return
        self.shutdown()
