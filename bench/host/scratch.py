"""Temporary files: one folder per process of the suite, removed with it, and what earlier runs left.

Everything the suite writes to the temporary folder goes into
``<tmp>/bench-<pid>-XXXXXXXX``: Dask's scratch space, multiprocessing's
folder (with the forkserver's socket), and a list of the files that MPI
made for this process elsewhere and does not remove when it is stopped
abruptly: the topology file of MPICH's process manager
(``hydra_hwloc_xmlfile_*`` in /tmp, which ignores ``TMPDIR``), and its
shared-memory segments (``/dev/shm/mpich_shm_*``), and a local Ray's folder where the
suite's is too deep for Ray's sockets (``/tmp/bench-ray-<pid>-*``). The folder goes when the
process ends, after MPI has finalized (with the process manager's files:
MPICH removes its segments itself when it finalizes). A process that was killed (``kill -9``, the
out-of-memory killer, an aborted MPI launch) cannot remove it: a small
watcher, started with the folder in a session of its own, removes it with
the files it lists as soon as the process has ended, however it ended.
Where the watcher could not (killed with the job by a batch system), the
next sweep or resume removes every such folder whose process is gone, with
the files it lists, and nothing else.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["PREFIX", "WATCHER", "folder", "in_folder", "last_word", "make", "own", "remove_stale", "watch"]

PREFIX = "bench-"
#: Files outside the folder that a process may list as its own: only those are ever removed with it.
OWNABLE = re.compile(r"hydra_hwloc_xmlfile_\w+|mpich_shm_\w+|bench-ray-\d+-\w+|pymp-\w+")
#: Those that a process that ends normally leaves to their owner, which removes them when it finalizes.
LEFT_TO_MPI = re.compile(r"mpich_shm_\w+")
OWNED = "owned"
_NAME = re.compile(rf"{PREFIX}(\d+)-\w+")
_folder: Path | None = None


def folder() -> Path:
    """This process's temporary folder, made on first use; it is removed when the process ends."""
    global _folder
    if _folder is None or _folder.parent != Path(tempfile.gettempdir()) or not _folder.is_dir():
        import multiprocessing.util

        _folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
        # After multiprocessing's own clean-up (priority -100), which removes its folder inside this one.
        multiprocessing.util.Finalize(None, _at_exit, args=(_folder,), exitpriority=-101)
        _start_watcher(_folder)
    return _folder


#: In the command line of the watcher of a process's folder.
WATCHER = "bench_scratch_watcher"
#: The watcher loads this file alone (no package, no site-packages): it starts in some 20 ms.
_WATCHER_CODE = (
    "import importlib.util, sys; "
    f"spec = importlib.util.spec_from_file_location({WATCHER!r}, sys.argv[1]); "
    "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
    "module.watch(int(sys.argv[2]), sys.argv[3])"
)


def _start_watcher(path: Path) -> None:
    """The watcher of ``path``: a process in a session of its own (a signal to this process's group, or
    MPI ending the launch, leaves it be), which ends when this process has, after removing what it left."""
    try:
        subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _WATCHER_CODE, __file__, str(os.getpid()), str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # its stderr is the process's: where its last word goes
        )
    except OSError:  # no watcher: the next sweep removes what a killed process leaves
        pass


def watch(pid: int, path: str) -> None:
    """The watcher's work: wait for process ``pid`` (its parent) to end, however it ends, then remove its
    folder ``path`` and the files the folder lists, where the process did not."""
    import select
    import signal

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # what stops the process is not for this one
        signal.signal(signum, signal.SIG_IGN)
    try:
        ended = os.pidfd_open(pid)
    except (ProcessLookupError, AttributeError):  # gone already (or no pidfd: Linux before 5.3)
        ended = None
    if ended is not None and os.getppid() == pid:  # still its parent: the pidfd is that process's
        select.select([ended], [], [])
    elif ended is None and os.getppid() == pid:
        while os.getppid() == pid:  # it ends: this process is handed to another parent
            select.select([], [], [], 0.1)
    folder = Path(path)
    if folder.is_dir() and not folder.is_symlink():
        _say_last_word(folder)
        _remove(folder, stale=True)


#: In a process's folder: the path of a JSON file whose ``said`` is the line to show if the process dies
#: with that file still there (the file is removed when the process ends as it should).
LAST_WORD = "last_word"


def last_word(path: Path) -> None:
    """Where this process keeps the line its watcher says should it die abruptly (``bench.measuring.steps``)."""
    (folder() / LAST_WORD).write_text(str(path), encoding="utf-8")


def _say_last_word(folder: Path) -> None:
    import json

    try:
        said = json.loads(Path((folder / LAST_WORD).read_text(encoding="utf-8")).read_text(encoding="utf-8"))["said"]
        sys.stderr.write(f"{said}\n")
        sys.stderr.flush()
    except (OSError, ValueError, KeyError, TypeError):
        pass


def make(prefix: str) -> str:
    """A new folder in this process's temporary folder (removed with it, if not before)."""
    return tempfile.mkdtemp(prefix=prefix, dir=folder())


@contextmanager
def in_folder() -> Iterator[Path]:
    """Temporary files that a library makes inside the block go into this process's folder."""
    previous = tempfile.tempdir
    tempfile.tempdir = str(folder())
    try:
        yield Path(tempfile.tempdir)
    finally:
        tempfile.tempdir = previous


def own(paths: list[Path]) -> None:
    """List files that a helper of this process wrote outside its folder, to be removed with it."""
    listing = folder() / OWNED
    try:
        listed = set(listing.read_text(encoding="utf-8").splitlines())
    except OSError:
        listed = set()
    wanted = [path for path in paths if OWNABLE.fullmatch(path.name) and str(path) not in listed]
    if wanted:
        with open(listing, "a", encoding="utf-8") as stream:
            stream.writelines(f"{path}\n" for path in wanted)


#: Set where this process is about to end the MPI launch with MPI_Abort (``bench.cli``).
aborting = False


def _mpi_aborts() -> bool:
    """Whether MPI will abort this process once Python has finished: under ``-m mpi4py`` an unhandled
    exception (the one Python has just shown) ends the launch with MPI_Abort, after every clean-up here.
    (``bench.host.mpi_launch.active`` asks the same; this module, which ``bench.host.mpi_launch`` lists its files
    through, cannot import it.)"""
    lib = sys.modules.get("mpi4py.MPI")
    running = lib is not None and lib.Is_initialized() and not lib.Is_finalized()
    return bool(running and (aborting or getattr(sys, "last_value", None) is not None))


def _at_exit(path: Path) -> None:
    if _mpi_aborts():  # what the abort leaves (MPI's segments) goes with the folder, at the next sweep
        return
    _finalize_mpi()
    _remove(path)


def _finalize_mpi() -> None:
    """End MPI here, before the folder goes (mpi4py would, after this): MPI removes its segments as it
    finalizes, so they stay listed until it has; a process killed meanwhile (its launch torn down as it
    ends) leaves them to the next sweep."""
    lib = sys.modules.get("mpi4py.MPI")
    if lib is not None and lib.Is_initialized() and not lib.Is_finalized():
        lib.Finalize()


def _remove(path: Path, stale: bool = False) -> None:
    try:
        listed = (path / OWNED).read_text(encoding="utf-8").splitlines()
    except OSError:
        listed = []
    for line in listed:
        owned = Path(line)
        if OWNABLE.fullmatch(owned.name) and (stale or not LEFT_TO_MPI.fullmatch(owned.name)):
            try:
                if owned.is_dir() and not owned.is_symlink():  # a local Ray's folder, multiprocessing's
                    shutil.rmtree(owned, ignore_errors=True)
                else:
                    owned.unlink()
            except OSError:
                pass
    shutil.rmtree(path, ignore_errors=True)


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie has; one of another user's still counts as running)."""
    import psutil

    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def remove_stale() -> list[Path]:
    """Remove the temporary folders (and the files they list) of processes of the suite that ended
    without removing them; returns them."""
    removed = []
    try:
        candidates = list(Path(tempfile.gettempdir()).iterdir())
    except OSError:
        return []
    for path in candidates:
        match = _NAME.fullmatch(path.name)
        if match is None or not path.is_dir() or path.is_symlink() or path == _folder:
            continue
        try:
            if path.stat().st_uid != os.getuid():  # another user's run: theirs to remove
                continue
        except OSError:
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and _gone(pid):
            _remove(path, stale=True)
            removed.append(path)
    return removed
