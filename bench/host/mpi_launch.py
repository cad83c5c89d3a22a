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

import functools
import os
import shlex
import signal
import socket
import sys
import time
from typing import Any, NoReturn

__all__ = [
    "INSTALL_HINT",
    "describe",
    "exit",
    "launch",
    "launch_command",
    "launcher_rank",
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
_LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")
#: Where launchers put a process's rank (MPICH/hydra and PMI-2 under srun, PMIx, Open MPI).
_RANK_VARIABLES = ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK")


def node_name() -> str:
    """The node this process runs on: Slurm's name for it inside a job, else the host name."""
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname()


#: The signals that MPI ranks serving rank 0, and MPI workers, leave to the driver.
DRIVER_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def leave_signals_to_the_driver() -> None:
    """MPI ranks that serve rank 0, and MPI workers: SIGINT and SIGTERM are for the driver.

    A launcher forwards Ctrl-C to every process of the job, and Slurm sends
    SIGTERM to every task at walltime; rank 0 then stops the sweep, keeps the
    journal and releases the others (a process that died of the signal would
    end the whole MPI job first). They are not ``multiprocessing`` workers,
    which their pool stops with SIGTERM.
    """
    for signum in DRIVER_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def launcher_rank() -> int:
    """This process's rank as its launcher set it (0 when not launched), without initialising MPI."""
    for name in _RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


#: Where launchers put the number of processes they started.
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")


def launcher_size() -> int:
    """Processes the launcher started, as it told this one (1 when not launched), without initialising MPI."""
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


def _shown_path(path: str) -> str:
    """``path`` relative to the working folder when it lies below it, else absolute."""
    relative = os.path.relpath(path)
    return os.path.abspath(path) if relative.startswith("..") else relative


#: What runs this program, where its ``__main__`` does not say (a supervised child: ``bench.cli.supervise``).
program: list[str] | None = None


def launch_target() -> list[str] | None:
    """What ``python`` runs as this program (``["-m", "bench"]``, ``["bench/run.py"]``); None in an
    interactive session."""
    if program is not None:
        return program
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    script = getattr(main, "__file__", None)
    if spec is not None and spec.name.endswith(".__main__"):  # python -m package
        return ["-m", spec.name[: -len(".__main__")]]
    if spec is not None and spec.name == "mpi4py.__main__":  # already under -m mpi4py
        return [_shown_path(sys.argv[0])] if sys.argv and sys.argv[0] else None
    if script and script.endswith(".py") and "ipykernel" not in script:
        return [_shown_path(script)]
    return None


def launch_command(processes: int) -> str:
    """The command that runs this program again under ``mpiexec -n processes python -m mpi4py``.

    It keeps the program's own arguments, so a suggestion can be copied as it
    is; for an interactive session it names a script to write.
    """
    target = launch_target()
    if target is None:
        return f"mpiexec -n {processes} python -m mpi4py your_script.py"
    return shlex.join(["mpiexec", "-n", str(processes), "python", "-m", "mpi4py", *target, *sys.argv[1:]])


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


#: Seconds the probe of the MPI library (``library``) may take.
LIBRARY_PROBE_S = 30.0
_LIBRARY_PROBE = (
    "import mpi4py\n"
    "mpi4py.rc.initialize = mpi4py.rc.finalize = False\n"
    "from mpi4py import MPI\n"
    "print(repr((MPI.Get_library_version(), '{}.{}'.format(*MPI.Get_version()))))\n"
)


@functools.lru_cache(maxsize=1)
def library() -> tuple[str | None, str | None]:
    """The MPI library mpi4py is built on and its MPI standard, as ``describe`` gives them once MPI is
    initialised; before that (a run without a launcher, whose mpi-pool may spawn later), asked of a short
    process that does not initialise MPI (the MPI standard lets both be asked first). (None, None) without
    mpi4py, or where the probe fails."""
    import ast
    import importlib.util
    import subprocess

    if importlib.util.find_spec("mpi4py") is None:
        return None, None
    try:
        done = subprocess.run(
            [sys.executable, "-c", _LIBRARY_PROBE], capture_output=True, text=True, timeout=LIBRARY_PROBE_S
        )
        found = ast.literal_eval(done.stdout.strip()) if done.returncode == 0 else (None, None)
    except (OSError, subprocess.SubprocessError, ValueError, SyntaxError):
        return None, None
    if not (isinstance(found, tuple) and len(found) == 2):
        return None, None
    return str(found[0]).strip() or None, str(found[1])


def describe() -> dict[str, Any]:
    """The MPI library, standard, world size and launch; the library and standard of an MPI not yet
    initialised from :func:`library`, the world size and launch None until it is."""
    info: dict[str, Any] = {"mpi_library": None, "mpi_version": None, "mpi_world_size": None, "mpi_launch": None}
    lib = sys.modules.get("mpi4py.MPI")
    if lib is not None and lib.Is_initialized():
        info["mpi_library"] = lib.Get_library_version().strip()
        info["mpi_version"] = "{}.{}".format(*lib.Get_version())
        info["mpi_world_size"] = lib.COMM_WORLD.Get_size()
        info["mpi_launch"] = launch()
    else:
        info["mpi_library"], info["mpi_version"] = library()
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
    command: tuple[str, Any] = comm.recv(source=0, tag=CONTROL_TAG)
    return command


def _sub_communicator(comm: Any, workers: int) -> Any:
    """Ranks 0..workers of ``comm``; collective over those ranks only."""
    world_group = comm.Get_group()
    group = world_group.Incl(list(range(workers + 1)))
    sub = comm.Create_group(group, tag=CONTROL_TAG)
    group.Free()
    world_group.Free()
    return sub


def serve() -> None:
    """Ranks other than 0: obey rank 0 until it says stop, without spinning.

    A launcher forwards Ctrl-C to every rank, and Slurm sends SIGTERM to every
    task; the serving ranks leave both to rank 0, which stops the sweep and
    then releases them.
    """
    from mpi4py.futures import MPICommExecutor

    from bench.host import inner_threads

    serve_the_driver()
    comm = _world()
    while True:
        command, arguments = _wait_for_command(comm)
        if command == "stop":
            return
        if command == "comm-executor":
            workers, threads = arguments
            sub = _sub_communicator(comm, workers)
            sub.gather(node_name(), root=0)
            own_launch_files()  # a communicator's first collective may map a segment of its own
            # the inner threads of this executor only: the next one may ask for others
            with inner_threads.limited(threads), MPICommExecutor(sub, root=0) as executor:
                assert executor is None  # non-root ranks serve inside __enter__
            sub.Free()


def serve_the_driver() -> None:
    """How a rank that serves rank 0, or a worker that mpi-pool spawned, starts: signals are the
    driver's (``leave_signals_to_the_driver``), and the files MPI made for it are listed as its own."""
    leave_signals_to_the_driver()
    own_launch_files()


def own_launch_files() -> None:
    """List, as this process's own (``bench.host.scratch``), the files MPI made for it that an aborted launch
    leaves behind: the shared-memory segments it has mapped, and the topology file that the process
    manager which launched it wrote in /tmp when the ranks started MPI (since the launcher started)."""
    from pathlib import Path

    from bench.host import scratch

    found: list[Path] = []
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            found += [Path(path) for path in {line.split()[-1] for line in maps} if path.startswith("/dev/shm/mpich_")]
    except OSError:
        pass
    found += _launcher_files()
    if found:
        scratch.own(sorted(set(found)))


def _launcher_files() -> list[Any]:
    """The process manager's topology file of the mpiexec that started this rank: written since it started."""
    import tempfile
    from pathlib import Path

    import psutil

    try:
        proxy = psutil.Process().parent()
        launcher = proxy.parent() if proxy is not None else None
        if proxy is None or launcher is None or "hydra_pmi_proxy" not in proxy.name():
            return []
        since, until = launcher.create_time() - 1.0, time.time() + 1.0
    except (OSError, psutil.Error):
        return []
    folders = {Path("/tmp"), Path(tempfile.gettempdir())}
    found = []
    for path in (path for folder in folders for path in folder.glob("hydra_hwloc_xmlfile_*")):
        try:
            if since <= path.stat().st_mtime <= until:
                found.append(path)
        except OSError:
            continue
    return found


def start_comm_executor(workers: int, threads: int | None = None) -> tuple[Any, Any, Any, list[str]]:
    """Rank 0: (context, executor, sub-communicator, node of each rank) over ranks 0..workers, whose
    native libraries use ``threads`` threads each while they serve it (None: as they are)."""
    from mpi4py.futures import MPICommExecutor

    comm = _world()
    for worker in range(1, workers + 1):
        comm.send(("comm-executor", (workers, threads)), dest=worker, tag=CONTROL_TAG)
    sub = _sub_communicator(comm, workers)
    rank_nodes: list[str] = sub.gather(node_name(), root=0)
    own_launch_files()
    context = MPICommExecutor(sub, root=0)
    return context, context.__enter__(), sub, rank_nodes


def active() -> Any | None:
    """The MPI library (``mpi4py.MPI``) where this process has initialized it and not yet finalized it."""
    lib = sys.modules.get("mpi4py.MPI")
    return lib if lib is not None and lib.Is_initialized() and not lib.Is_finalized() else None


def exit(status: int) -> NoReturn:
    """End this process with ``status``, the MPI library finalized as at any ordinary end.

    Under ``-m mpi4py`` any non-zero exit becomes ``MPI_Abort(status)``. An
    aborted launch leaves MPICH's shared-memory segments in /dev/shm and its
    process manager's file in /tmp, and prints an abort notice. A failed cell
    (1), bad usage (2) or an interrupt (130, 143) ends a command whose ranks
    have all been released, and has been reported in one line: this rank
    finalizes MPI first, as the others do when they exit, and the launch ends
    with the status and leaves nothing. An unhandled exception never comes
    here: it aborts the launch, with its traceback.
    """
    lib = active()
    if status and via_mpi4py_run() and lib is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        lib.Finalize()
    sys.exit(status)


def stop_servers() -> None:
    """Rank 0: release every serving rank (they then finalize and exit)."""
    comm = _world()
    for worker in range(1, comm.Get_size()):
        comm.send(("stop", None), dest=worker, tag=CONTROL_TAG)
