"""Workloads: what the suite measures.

    import workloads
    w = workloads.get("fibprimes")
    answer = w.reduce([w.task(x) for x in w.items(2000)])
    w.verify(answer, 2000)

Third-party workloads register a :class:`~workloads.base.Workload` subclass
through the entry-point group ``bench.workloads``. A user's own workload can
also be named where a registry name goes, as ``package.module:Class`` or
``path/to/file.py:Class``; :func:`from_function` makes one from a plain function.
"""

from __future__ import annotations

import importlib
import os
import pickle
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.data.format import one_line
from bench.host.registry import WORKLOADS, UnknownName
from workloads.base import METHODS, Param, Workload

__all__ = [
    "METHODS",
    "Param",
    "UnknownName",
    "Workload",
    "WorkloadError",
    "from_function",
    "get",
    "names",
    "registered",
]

_instances: dict[str, Workload] = {}


class WorkloadError(ValueError):
    """A user's workload (``module:Class``) that cannot be loaded or is not a workload."""


def names() -> list[str]:
    """Registered workload names."""
    return WORKLOADS.names()


def is_spec(name: str) -> bool:
    """Whether ``name`` names a user's workload (``module:Class`` or ``file.py:Class``)."""
    return ":" in name


def registered(name: str) -> Workload | None:
    """The registered workload of that name; None for a user's (``module:Class``, ``file.py:Class``: a name
    read from a journal never imports code) or one this installation does not know."""
    if is_spec(name) or name not in names():
        return None
    return get(name)


def get(name: str) -> Workload:
    """The workload registered as ``name``, or the user's ``module:Class`` / ``file.py:Class``.

    KeyError lists the known names; WorkloadError says why a user's workload cannot be used.
    """
    if name not in _instances:
        if not is_spec(name):
            _instances[name] = WORKLOADS.get(name)()
        else:
            cls = load_spec(name)
            try:
                _instances[name] = cls()
            except Exception as exc:  # the user's class: its error in one line
                raise WorkloadError(f"workload {name!r}: {cls.__name__}() raised {one_line(exc)}") from None
    return _instances[name]


#: Folders of users' workload files, on the import path of the workers the sweep starts.
user_paths: list[str] = []
#: Where a user's workload was found when its run began (``pin``): its file, or for ``module:Class`` the
#: folder it was imported from, so that a resumed run finds it from any folder.
_pinned: dict[str, Path] = {}


def source(spec: str) -> dict[str, str] | None:
    """Where the user's workload ``spec`` comes from: ``path`` (its module's file, absolute), ``folder``
    (where it was imported from) and ``sha256`` (of the file); None for a registered workload."""
    if not is_spec(spec):
        return None
    get(spec)
    target = spec.rpartition(":")[0]
    by_path = target.endswith(".py") or os.sep in target
    module = sys.modules.get(Path(target).stem if by_path else target)
    found = getattr(module, "__file__", None)
    if not found:
        return None
    path = Path(found).resolve()
    folder = path.parent if by_path else _pinned.get(spec, Path.cwd())
    return {"path": str(path), "folder": str(folder), "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    import hashlib

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def pin(spec: str, recorded: dict[str, str]) -> str | None:
    """Find the user's workload ``spec`` where ``source`` recorded it (a resumed run, from any folder);
    returns a warning when its file changed since, or is gone."""
    target = spec.rpartition(":")[0]
    path = Path(recorded.get("path", ""))
    by_path = target.endswith(".py") or os.sep in target
    _pinned[spec] = path if by_path else Path(recorded.get("folder", ""))
    _instances.pop(spec, None)
    if not path.is_file():
        return f"workload {spec}: {path} is gone"
    if recorded.get("sha256") and _sha256(path) != recorded["sha256"]:
        return f"workload {spec}: {path} changed since the run began; the cells still to measure run the new code"
    return None


def _importable(folder: Path) -> None:
    """Put ``folder`` on the import path of this process and of every worker it starts
    (process pools, MPI spawns, Dask and Slurm workers import tasks by module name).

    It goes last, so that a file there cannot shadow a module of the suite or the
    standard library in the workers; ``load_spec`` refuses a file whose name is taken.
    """
    entry = str(folder)
    if entry not in sys.path:
        sys.path.append(entry)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if entry not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([*paths, entry])
    if entry not in user_paths:
        user_paths.append(entry)


def load_spec(spec: str) -> type[Workload]:
    """The Workload subclass named by ``package.module:Class`` or ``path/to/file.py:Class``."""
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise WorkloadError(f"workload {spec!r}: expected module:Class or path/to/file.py:Class")
    pinned = _pinned.get(spec)
    if target.endswith(".py") or os.sep in target:
        path = pinned or Path(target).resolve()
        if not path.is_file():
            raise WorkloadError(f"workload {spec!r}: no file {target}")
        _importable(path.parent)
        module_name = path.stem
    else:
        _importable(pinned or Path.cwd())  # as `python -m` would find it (a resumed run: where it did)
        module_name = target
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # the user's module: any error in it is theirs to see, in one line
        raise WorkloadError(f"workload {spec!r}: importing {module_name} failed: {one_line(exc)}") from None
    found = getattr(module, "__file__", None)
    if target.endswith(".py") and (found is None or Path(found).resolve() != path):
        raise WorkloadError(f"workload {spec!r}: the module name {module_name} is taken by {found}; rename the file")
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Workload)):
        kind = type(cls).__name__
        what = "nothing" if cls is None else f"{'an' if kind[0] in 'aeiouAEIOU' else 'a'} {kind}"
        raise WorkloadError(f"workload {spec!r}: {module_name}.{attr} is {what}, not a workloads.Workload subclass")
    if not isinstance(getattr(cls, "default_size", None), int):
        raise WorkloadError(f"workload {spec!r}: {attr} sets no integer default_size")
    task = getattr(cls, "task", None)
    if task is Workload.task or not callable(task):
        raise WorkloadError(f"workload {spec!r}: {attr} has no task")
    try:
        same = pickle.loads(pickle.dumps(task)) is task
    except Exception:
        same = False
    if not same:
        raise WorkloadError(
            f"workload {spec!r}: {attr}.task cannot travel to a worker; define it at the top level of its module"
        )
    return cls


def from_function(
    task: Callable[[Any], Any],
    *,
    items: Callable[[int], Iterable[Any]],
    verify: Callable[[Any, int], bool],
    reduce: Callable[[Iterable[Any]], Any] = list,
    default_size: int = 100,
    description: str = "",
) -> type[Workload]:
    """A Workload class around a plain function, for ``--workloads file.py:Name``.

    ``task`` must be defined at the top level of its module (workers import it);
    ``items(size)`` gives its inputs, ``reduce(results)`` the answer (a list by
    default; under ``imap_unordered`` results come in completion order), and
    ``verify(answer, size)`` checks it.
    """

    class FunctionWorkload(Workload):
        __doc__ = description or task.__doc__
        name = task.__name__

        def items(self, size: int, **params: Any) -> Iterable[Any]:
            return items(size)

        def reduce(self, results: Iterable[Any]) -> Any:
            return reduce(results)

        def verify(self, answer: Any, size: int, **params: Any) -> bool:
            return bool(verify(answer, size))

    FunctionWorkload.task = staticmethod(task)  # type: ignore[assignment]
    FunctionWorkload.default_size = default_size
    FunctionWorkload.description = description or (task.__doc__ or "").strip().split("\n")[0]
    return FunctionWorkload
