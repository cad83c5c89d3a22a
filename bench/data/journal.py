"""Journals (JSON Lines files of records), their loader, and ``Results``.

A journal is a ``run`` record, then one ``cell`` record per measured cell,
each appended and flushed as soon as it exists, so a killed run keeps
everything it finished; ``resume`` records mark where a resumed run went on.
Journals are never overwritten or truncated. The records and the schema
history are in :mod:`bench.data.schema`.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import secrets
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from bench.data.schema import (
    CELL_FIELDS,
    POP_KEYS,
    AdviceRecord,
    CalibrationRecord,
    CellRecord,
    NoiseRecord,
    Record,
    RecordError,
    ResumeRecord,
    RunRecord,
    TraceRecord,
    parse,
)

if TYPE_CHECKING:
    import pandas

    from bench.data.stats import CellStats

__all__ = [
    "Journal",
    "JournalError",
    "JournalWarning",
    "Results",
    "load",
    "new_run_id",
    "read",
    "utc_now",
]


class JournalError(ValueError):
    """A journal that cannot be read or written as asked."""


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id(now: _dt.datetime | None = None) -> str:
    """Sortable by start time (``now``, UTC), unique across ranks and hosts."""
    stamp = (now or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


class Journal:
    """An open journal; every ``write`` is one flushed, fsynced line."""

    def __init__(self, path: Path, stream: IO[str]) -> None:
        self.path = path
        self._stream = stream

    @classmethod
    def create(cls, out_dir: str | os.PathLike[str], run_id: str) -> Journal:
        """A new journal ``out_dir/<run_id>.jsonl``; refuses to replace a file."""
        directory = Path(out_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"{run_id}.jsonl"
            return cls(path, open(path, "x", encoding="utf-8"))  # noqa: SIM115 - closed by close()
        except FileExistsError:
            raise JournalError(f"{directory / (run_id + '.jsonl')} exists; journals are never overwritten") from None
        except OSError as exc:
            raise JournalError(f"cannot write results to {directory}: {exc.strerror or exc}") from None

    @staticmethod
    def check(out_dir: str | os.PathLike[str], what: str = "results") -> None:
        """Raise JournalError unless files (``what``) could be created in ``out_dir``; creates nothing."""
        directory = Path(out_dir)
        existing = directory
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise JournalError(f"cannot write {what} to {directory}: {existing} is not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise JournalError(f"cannot write {what} to {directory}: {existing} is not writable")

    @classmethod
    def reopen(cls, path: str | os.PathLike[str]) -> Journal:
        """Append to an existing journal (a resumed run), never truncating it."""
        path = Path(path)
        try:
            with open(path, "rb") as existing:
                torn = False
                if existing.seek(0, os.SEEK_END) > 0:
                    existing.seek(-1, os.SEEK_END)
                    torn = existing.read(1) != b"\n"
            stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise JournalError(f"cannot append to {path}: {exc.strerror or exc}") from None
        if torn:  # end the torn line so that it stays one skippable line
            stream.write("\n")
        return cls(path, stream)

    def write(self, record: Record) -> None:
        self._stream.write(json.dumps(record.to_json(), separators=(",", ":")) + "\n")
        self._stream.flush()
        os.fsync(self._stream.fileno())

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class JournalWarning(UserWarning):
    """A journal line that was skipped (a write cut short by a kill)."""


def read(path: str | os.PathLike[str]) -> list[Record]:
    """The records of one journal, in file order.

    A line that is not JSON (a write cut short by a kill) is skipped with a
    JournalWarning; anything else that is not a record of a known schema, or a
    file that does not start with a run record, is a JournalError naming the
    file and line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a text file"
        raise JournalError(f"cannot read {path}: {reason}") from None
    records: list[Record] = []
    torn: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, an integer past Python's digit limit, or nested too deep
            torn.append(number)
            continue
        try:
            records.append(parse(data))
        except RecordError as exc:
            raise JournalError(f"{path}:{number}: {exc}") from None
    if not records or not isinstance(records[0], RunRecord):
        raise JournalError(f"{path}: not a journal (no run record first)")
    for number in torn:  # only once the file is known to be a journal
        warnings.warn(f"{path}:{number}: skipped a torn or invalid line", JournalWarning, stacklevel=2)
    return records


R = TypeVar("R", CellRecord, TraceRecord)


def newest(records: Iterable[R]) -> list[R]:
    """The newest record of each cell (a resumed run may record one again), in first-seen order; of trace
    records, the newest of each cell's trace and of each profile."""
    found: dict[tuple[Any, ...], R] = {}
    for record in records:
        role = getattr(record, "role", "cell")
        found[record.run_id, role, record.key] = record
    return list(found.values())


#: What a journal holds besides its run and resume records.
Measured = CellRecord | TraceRecord | CalibrationRecord | AdviceRecord | NoiseRecord


@dataclass
class Results:
    """The records of one or more journals (or of a sweep kept in memory).

    ``cells`` holds the newest record of every cell, in the order the runs
    measured them; ``runs`` and ``resumes`` describe the runs (environment,
    matrix, command line); ``traces`` the traced runs (``trace_of``).
    """

    runs: list[RunRecord]
    cells: list[CellRecord]
    resumes: list[ResumeRecord] = field(default_factory=list)
    #: The journals these results were read from or written to.
    paths: tuple[Path, ...] = ()
    #: The newest trace record of every traced cell (``role`` ``cell``) and every cost profile (``profile``).
    traces: list[TraceRecord] = field(default_factory=list)
    #: The calibration records (``bench.model.cost``), in journal order.
    calibrations: list[CalibrationRecord] = field(default_factory=list)
    #: The advice records of ``advise`` runs (``bench.model.advise``), in journal order.
    advice: list[AdviceRecord] = field(default_factory=list)
    #: The noise probes (``bench.host.noise``), in journal order.
    noise: list[NoiseRecord] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        runs: list[RunRecord],
        records: Iterable[Measured],
        resumes: list[ResumeRecord],
        paths: tuple[Path, ...],
    ) -> Results:
        """The results of ``records`` (cells, traces, calibrations, advice and noise, in journal order; the newest
        of each cell and trace counts)."""
        records = list(records)
        cells = [record for record in records if isinstance(record, CellRecord)]
        traces = [record for record in records if isinstance(record, TraceRecord)]
        calibrations = [record for record in records if isinstance(record, CalibrationRecord)]
        advice = [record for record in records if isinstance(record, AdviceRecord)]
        noise = [record for record in records if isinstance(record, NoiseRecord)]
        return cls(runs, newest(cells), resumes, paths, newest(traces), calibrations, advice, noise)

    def trace_of(self, cell: CellRecord) -> TraceRecord | None:
        """The trace of ``cell``'s traced run, if it has one."""
        return self._trace_index.get((cell.run_id, "cell", cell.key))

    def profile_of(self, cell: CellRecord) -> TraceRecord | None:
        """The cost profile (traced serial run) its case had beside ``cell``'s executor group, if any."""
        return self._trace_index.get((cell.run_id, "profile", cell.executor, cell.workers, cell.threads, cell.case))

    @functools.cached_property
    def _trace_index(self) -> dict[Any, TraceRecord]:
        """The traces by what finds them, made once (results are not changed once made)."""
        found: dict[Any, TraceRecord] = {}
        for trace in self.traces:
            if trace.role == "cell":
                found[(trace.run_id, "cell", trace.key)] = trace
            else:
                found[(trace.run_id, "profile", trace.executor, trace.workers, trace.threads, trace.case)] = trace
        return found

    @property
    def path(self) -> Path | None:
        """The journal, when there is exactly one (None for a sweep kept in memory)."""
        return self.paths[0] if len(self.paths) == 1 else None

    @property
    def failed(self) -> list[CellRecord]:
        """Cells that raised, timed out or answered wrongly."""
        return [cell for cell in self.cells if cell.failed]

    def run_of(self, cell: CellRecord) -> RunRecord | None:
        """The run record of the run that measured ``cell``."""
        return next((run for run in self.runs if run.run_id == cell.run_id), None)

    def to_dataframe(self) -> pandas.DataFrame:
        """One row per cell, with statistics from the raw samples and the run's host and CPU.

        ``times_s`` and ``baseline_s`` stay lists per row. Added from them:
        ``median_s`` (with ``median_low_s``/``median_high_s``), the paired
        ``speedup`` and ``efficiency``, each with ``_low``/``_high`` bounds,
        ``confidence`` (what the speedup's interval covers, else the
        median's: 0.95 or more once there are enough rounds), ``n_times``,
        ``suspicious`` (the whole efficiency interval above 100%), and the
        POP metrics of the cell's traced run: ``pop_global``,
        ``pop_parallel``, ``pop_load_balance``, ``pop_communication`` and
        ``pop_computation`` (empty where it was not traced).
        Needs pandas (``pip install -e '.[report]'``).
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_dataframe needs pandas: pip install -e '.[report]'") from None

        envs = {run.run_id: run.env for run in self.runs}
        rows = []
        for cell in self.cells:
            env = envs.get(cell.run_id, {})
            rows.append(
                {
                    "run_id": cell.run_id,
                    **{name: getattr(cell, name) for name in CELL_FIELDS},
                    **_stat_columns(cell.stats),
                    **{f"pop_{key}": (cell.pop or {}).get(key) for key in POP_KEYS},
                    "n_times": len(cell.times_s),
                    "hostname": env.get("hostname"),
                    "cpu": env.get("cpu"),
                }
            )
        pop = [f"pop_{key}" for key in POP_KEYS]
        columns = ["run_id", *CELL_FIELDS, *_stat_columns(None), *pop, "n_times", "hostname", "cpu"]
        return pd.DataFrame(rows, columns=columns)


def load(*paths: str | os.PathLike[str]) -> Results:
    """The results of one or more journals; JournalError names a file that cannot be read."""
    if not paths:
        raise JournalError("no journal given")
    runs: list[RunRecord] = []
    resumes: list[ResumeRecord] = []
    measured: list[Measured] = []
    for path in paths:
        for record in read(path):
            if isinstance(record, RunRecord):
                runs.append(record)
            elif isinstance(record, ResumeRecord):
                resumes.append(record)
            else:
                measured.append(record)
    return Results.of(runs, measured, resumes, tuple(Path(path) for path in paths))


def _stat_columns(cell: CellStats | None) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for name, estimate in (
        ("median", cell and cell.time),
        ("speedup", cell and cell.speedup),
        ("efficiency", cell and cell.efficiency),
    ):
        unit = "_s" if name == "median" else ""
        columns[name + unit] = estimate.value if estimate else None
        columns[f"{name}_low{unit}"] = estimate.low if estimate else None
        columns[f"{name}_high{unit}"] = estimate.high if estimate else None
    columns["confidence"] = cell.estimate.confidence if cell else None
    columns["suspicious"] = cell.suspicious if cell else False
    return columns
