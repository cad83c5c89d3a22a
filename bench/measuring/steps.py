"""Which run of a workload's code is going on, in a file that outlives a process that dies in it.

A task that crashes the process it runs in (a segfault in a C extension, the
out-of-memory killer, ``os._exit`` in a library) leaves no exception to
catch: where that process is the one that measures (the estimate probe, the
serial baseline, the traced serial run, the cells of back-ends that run
tasks in the driver), or an MPI launch that ends with one of its ranks, the
sweep is gone with it. So before each run the sweep writes what runs (the
cell or case, the step, whether its tasks run in the measuring process) to
a small file, and empties it after. Whoever outlives the process reads it:

- ``python bench/run.py`` measures in a child process (``bench.cli.supervise``);
  the parent gives it the file (:data:`STEP_VARIABLE`) and, when the child
  dies inside a step, starts it again with the crash (:data:`CRASHES_VARIABLE`):
  the crashed cells are recorded as ``error`` with ``crashed`` and the sweep
  goes on with the rest;
- under an MPI launch, rank 0 keeps the file beside its journal
  (``<journal>.running``), which ``--resume`` reads after the launch ended.

A death in a step whose tasks ran in the measuring process costs the cells
of its case not yet finished (the same tasks run in the serial baseline of
every cell of the case); a death while workers ran the tasks costs that cell.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CRASHES_VARIABLE",
    "RUNNING_SUFFIX",
    "STEP_VARIABLE",
    "Step",
    "begin",
    "crashed",
    "crashed_cells",
    "ended",
    "idle",
    "plain",
    "leftover",
    "read",
    "running",
    "start",
]

#: Set by the supervising parent: the file its child writes its steps to.
STEP_VARIABLE = "BENCH_STEP_FILE"
#: Set by the supervising parent: the steps (with ``how``) in which earlier children died, as JSON.
CRASHES_VARIABLE = "BENCH_CRASHED"
#: Under an MPI launch, rank 0's file beside its journal: ``<journal>.running``.
RUNNING_SUFFIX = ".running"


def plain(value: Any) -> Any:
    """``value`` as JSON gives it back (tuples become lists): keys compare in one form."""
    return json.loads(json.dumps(value))


@dataclass(frozen=True)
class Step:
    """One run of a workload's code: its case, its cell (None for the case's own runs in the driver),
    the step, and whether its tasks run in the measuring process; ``how`` the process ended in it."""

    case: list[Any]
    label: str
    phase: str
    driver: bool
    cell: list[Any] | None = None
    journal: str | None = None
    how: str | None = None
    #: The death ended an MPI launch (found by ``--resume``), which each such cell would end again.
    launch: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Step:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def where(self) -> str:
        """``in the serial baseline of fibprimes[1000]``, ``in run 3 of multiprocessing x2 ...``."""
        article = "" if self.phase.startswith("run ") else "the "
        return f"in {article}{self.phase} of {self.label}"

    def record(self) -> dict[str, Any]:
        """The cell record's ``crashed``: the step, what ran it, how the process ended."""
        where = "driver" if self.driver else "launch" if self.launch else "workers"
        return {"step": self.phase, "of": self.label, "in": where, "how": self.how}

    def error(self) -> str:
        """The crashed cells' ``error``."""
        whose = "the measuring process" if self.driver else "the MPI launch" if self.launch else "its run"
        return f"a task crashed {whose} {self.where()} ({self.how})"

    def costs(self, cells: Iterable[Any]) -> list[Any]:
        """Of ``cells`` (planned cells), those this death fails: the case's where its tasks ran in the measuring
        process; the case's on the same back-end where they ended an MPI launch (each would end the launch it
        is resumed in); else the one cell."""
        if self.driver:
            return [cell for cell in cells if plain(cell.case) == self.case]
        if self.launch and self.cell:
            return [cell for cell in cells if plain(cell.case) == self.case and cell.executor == self.cell[0]]
        return [cell for cell in cells if plain(cell.key) == self.cell]


class _Writer:
    """The step file, rewritten in place (two system calls a run, outside any timed part). Beside a journal
    (``launch``), each state also holds the line the process's watcher says should the launch end in it."""

    def __init__(self, path: Path, launch: bool = False) -> None:
        self.path, self.launch = path, launch
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.journal: str | None = None

    def write(self, data: dict[str, Any]) -> None:
        if self.launch:
            data = {**data, "said": _launch_ended(self.journal, data.get("label") and Step.from_json(data))}
        body = json.dumps(data).encode()
        os.pwrite(self.fd, body, 0)
        os.ftruncate(self.fd, len(body))

    def close(self, remove: bool) -> None:
        os.close(self.fd)
        if remove:
            self.path.unlink(missing_ok=True)


_writer: _Writer | None = None


def start() -> None:
    """Write this process's steps where the supervising parent said (nothing where none did). Its children
    do not inherit the variables: they are the parent's word to this process only."""
    global _writer
    path = os.environ.pop(STEP_VARIABLE, None)
    if path and _writer is None:
        _writer = _Writer(Path(path))


def journal(path: Path, beside: bool) -> None:
    """The sweep's journal, now that it exists; with ``beside`` (rank 0 of an MPI launch, which no parent
    outlives), steps go to ``<journal>.running``, removed by :func:`ended`."""
    global _writer
    if beside and _writer is None:
        from bench.host import scratch

        _writer = _Writer(path.with_name(path.name + RUNNING_SUFFIX), launch=True)
        scratch.last_word(_writer.path)
    if _writer is not None:
        _writer.journal = str(path)
        _writer.write({"journal": _writer.journal})


def ended() -> None:
    """The sweep ended as it should (finished, failed or interrupted): the file beside a journal goes."""
    global _writer
    if _writer is not None and _writer.launch:
        _writer.close(remove=True)
        _writer = None


def begin(cell: Any, phase: str, driver: bool, whole_case: bool = False) -> None:
    """``cell``'s ``phase`` runs from now until :func:`idle` (``whole_case``: a run of its case, such as the
    serial baseline; ``driver``: its tasks run in this process)."""
    if _writer is None:
        return
    step = Step(
        case=plain(cell.case),
        label=cell.case_label() if whole_case else cell.label(),
        phase=phase,
        driver=driver,
        cell=None if whole_case else plain(cell.key),
        journal=_writer.journal,
    )
    _writer.write(step.to_json())


@contextmanager
def running(cell: Any, phase: str, driver: bool, whole_case: bool = False) -> Iterator[None]:
    """Inside, ``cell``'s ``phase`` runs (see :func:`begin`)."""
    begin(cell, phase, driver, whole_case)
    try:
        yield
    finally:
        idle()


def _launch_ended(journal: str | None, step: Step | None) -> str:
    """The line said when an MPI launch ends abruptly in ``step`` (None: between runs)."""
    go_on = f"run the same launch with --resume {journal}"
    if step is None:
        return f"bench: the MPI launch ended between runs; {go_on} to measure the rest"
    return (
        f"bench: the MPI launch ended {step.where()} (a process of it died: see MPI's message); {journal} "
        f"names it: {go_on} to record it as failed and measure the rest"
    )


def idle() -> None:
    """No workload code runs now."""
    if _writer is not None:
        _writer.write({"journal": _writer.journal})


def read(path: Path) -> tuple[str | None, Step | None]:
    """The journal and the step a step file names (None, None where it is missing or empty)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return None, None
    step = Step.from_json(data) if "phase" in data else None
    return data.get("journal"), step


def crashed() -> list[Step]:
    """The steps in which this process's predecessors died, from the supervising parent."""
    raw = os.environ.pop(CRASHES_VARIABLE, None)
    return [Step.from_json(data) for data in json.loads(raw)] if raw else []


def leftover(journal_path: Path) -> Step | None:
    """The step an MPI launch died in, from the file it left beside ``journal_path`` (removed once read);
    None where it left none or died outside a step."""
    path = journal_path.with_name(journal_path.name + RUNNING_SUFFIX)
    _, step = read(path)
    path.unlink(missing_ok=True)
    if step is None:
        return None
    how = "the MPI launch ended: a process of it died, as MPI's own message said"
    return Step.from_json({**step.to_json(), "how": how, "launch": True})


def crashed_cells(crashes: Sequence[Step], cells: Iterable[Any]) -> list[tuple[Any, Step]]:
    """Each planned cell of ``cells`` that a crash fails, with the crash (the first that names it)."""
    found: dict[Any, tuple[Any, Step]] = {}
    cells = list(cells)
    for crash in crashes:
        for cell in crash.costs(cells):
            found.setdefault(cell.key, (cell, crash))
    return list(found.values())
