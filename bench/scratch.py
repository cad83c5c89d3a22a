"""Temporary files: one folder per process of the suite, removed with it, and what earlier runs left.

Everything the suite writes to the temporary folder goes into
``<tmp>/bench-<pid>-XXXXXXXX``: Dask's scratch space, multiprocessing's
folder (with the forkserver's socket), and a list of the files that a helper
the suite started wrote elsewhere and may not remove itself (MPICH's process
manager leaves ``hydra_hwloc_xmlfile_*`` in /tmp when a Ctrl-C stops it).
The folder goes when the process ends. A process that was killed (``kill -9``,
the out-of-memory killer) cannot remove it: the next sweep or resume removes
every such folder whose process is gone, with the files it lists, and
nothing else.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["PREFIX", "folder", "in_folder", "make", "own", "remove_stale"]

PREFIX = "bench-"
#: Files outside the folder that a process may list as its own: only those are ever removed with it.
OWNABLE = re.compile(r"hydra_hwloc_xmlfile_\w+")
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
        multiprocessing.util.Finalize(None, _remove, args=(_folder,), exitpriority=-101)
    return _folder


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
    wanted = [path for path in paths if OWNABLE.fullmatch(path.name)]
    if wanted:
        with open(folder() / OWNED, "a", encoding="utf-8") as listing:
            listing.writelines(f"{path}\n" for path in wanted)


def _remove(path: Path) -> None:
    try:
        listed = (path / OWNED).read_text(encoding="utf-8").splitlines()
    except OSError:
        listed = []
    for line in listed:
        owned = Path(line)
        if OWNABLE.fullmatch(owned.name):
            try:
                owned.unlink()
            except OSError:
                pass
    shutil.rmtree(path, ignore_errors=True)


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (one of another user's still counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
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
            _remove(path)
            removed.append(path)
    return removed
