"""Runs under an MPI launcher: rank 0 drives the sweep, the other ranks serve.

``mpiexec -n N python -m mpi4py bench/run.py`` starts N copies of the sweep
script. Every rank parses the same command line; then rank 0 runs the sweep
and writes the one journal while ranks 1..N-1 wait for its commands. To
measure ``mpi-comm`` with k workers, rank 0 tells ranks 1..k to join a
sub-communicator of ranks 0..k and serve an ``MPICommExecutor`` on it, so one
launch measures every k <= N-1. Waiting ranks poll with ``Iprobe`` and sleep
between polls: a blocking receive in MPICH spins at 100% CPU, which would
steal cores from the executors being measured.

Under ``-m mpi4py`` an unhandled exception on any rank calls ``MPI_Abort``,
which ends every rank instead of leaving the others waiting forever; the
suite relies on that (see README, "MPI").
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

__all__ = [
    "INSTALL_HINT",
    "LAUNCH_HINT",
    "describe",
    "launch",
    "launched",
    "rank",
    "serve",
    "start_comm_executor",
    "stop_servers",
    "world_size",
]

INSTALL_HINT = "pip install -e '.[mpi]' (mpi4py with the mpich wheel)"
CONTROL_TAG = 0x6265  # "be"
POLL_S = 0.01
LAUNCH_HINT = "mpiexec -n {n} python -m mpi4py bench/run.py"
_LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")


def launched() -> bool:
    """True when an MPI launcher (mpiexec, srun) started this process.

    A singleton (MPI initialised without a launcher) is not a launch.
    """
    if any(name in os.environ for name in _LAUNCHER_VARIABLES):
        return True
    lib = sys.modules.get("mpi4py.MPI")
    return lib is not None and lib.Is_initialized() and lib.COMM_WORLD.Get_size() > 1


def via_mpi4py_run() -> bool:
    """True under ``python -m mpi4py``, which aborts all ranks on an unhandled error."""
    return "mpi4py.run" in sys.modules


def launch() -> str:
    """How this process was started: ``mpiexec -m mpi4py``, ``mpiexec`` or ``singleton``."""
    if not launched():
        return "singleton"
    return "mpiexec -m mpi4py" if via_mpi4py_run() else "mpiexec"


def describe() -> dict[str, Any]:
    """The MPI library, standard, world size and launch; all None until MPI is initialised."""
    info: dict[str, Any] = {"mpi_library": None, "mpi_version": None, "mpi_world_size": None, "mpi_launch": None}
    lib = sys.modules.get("mpi4py.MPI")
    if lib is not None and lib.Is_initialized():
        info["mpi_library"] = lib.Get_library_version().strip()
        info["mpi_version"] = "{}.{}".format(*lib.Get_version())
        info["mpi_world_size"] = lib.COMM_WORLD.Get_size()
        info["mpi_launch"] = launch()
    return info


def _world() -> Any:
    from mpi4py import MPI

    return MPI.COMM_WORLD


def world_size() -> int:
    """Processes in this MPI launch (1 when not launched by MPI)."""
    return _world().Get_size() if launched() else 1


def rank() -> int:
    return _world().Get_rank() if launched() else 0


def _wait_for_command(comm: Any) -> tuple[str, Any]:
    while not comm.Iprobe(source=0, tag=CONTROL_TAG):
        time.sleep(POLL_S)
    return comm.recv(source=0, tag=CONTROL_TAG)


def _sub_communicator(comm: Any, workers: int) -> Any:
    """Ranks 0..workers of ``comm``; collective over those ranks only."""
    world_group = comm.Get_group()
    group = world_group.Incl(list(range(workers + 1)))
    sub = comm.Create_group(group, tag=CONTROL_TAG)
    group.Free()
    world_group.Free()
    return sub


def serve() -> None:
    """Ranks other than 0: obey rank 0 until it says stop, without spinning."""
    from mpi4py.futures import MPICommExecutor

    comm = _world()
    while True:
        command, workers = _wait_for_command(comm)
        if command == "stop":
            return
        if command == "comm-executor":
            sub = _sub_communicator(comm, workers)
            with MPICommExecutor(sub, root=0) as executor:
                assert executor is None  # non-root ranks serve inside __enter__
            sub.Free()


def start_comm_executor(workers: int) -> tuple[Any, Any, Any]:
    """Rank 0: (context, executor, sub-communicator) over ranks 0..workers."""
    from mpi4py.futures import MPICommExecutor

    comm = _world()
    for worker in range(1, workers + 1):
        comm.send(("comm-executor", workers), dest=worker, tag=CONTROL_TAG)
    sub = _sub_communicator(comm, workers)
    context = MPICommExecutor(sub, root=0)
    return context, context.__enter__(), sub


def stop_servers() -> None:
    """Rank 0: release every serving rank (they then finalize and exit)."""
    comm = _world()
    for worker in range(1, comm.Get_size()):
        comm.send(("stop", None), dest=worker, tag=CONTROL_TAG)
