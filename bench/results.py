"""Results journals: record schema, writer, loader, DataFrame export.

A journal is JSON Lines: a ``run`` record, then one ``cell`` record per
measured cell, each appended and flushed as soon as it exists, so a killed run
keeps everything it finished. Journals are never overwritten or truncated.

Schema history (the ``schema`` field of every record):

1. A ``run`` record (``run_id``, ``started``, ``argv``, ``env``, ``matrix``),
   ``cell`` records (fields in ``CELL_FIELDS``), and ``resume`` records
   (``started``, ``argv``, ``env``) appended when ``--resume`` continues a run.
   Added since, without changing a meaning (older journals lack them):
   ``baseline_s`` (paired serial samples, one per round, aligned with
   ``times_s``; null for serial cells), ``baseline_error``, ``warmup``
   (``short`` or ``full``), ``warmup_items``, ``rounds``, ``precision`` and
   ``precision_reached`` (``repeats auto``); the matrix gained ``precision``,
   ``max_repeats``, ``warmup`` and ``oversubscribe``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.stats import CellStats

__all__ = [
    "SCHEMA",
    "Journal",
    "JournalError",
    "cells",
    "load",
    "new_run_id",
    "record_stats",
    "to_dataframe",
    "utc_now",
]

SCHEMA = 1
SUPPORTED_SCHEMAS = (1,)
KINDS = ("run", "cell", "resume")
CELL_FIELDS = (
    "executor",
    "workers",
    "workload",
    "size",
    "chunksize",
    "chunksize_spec",
    "params",
    "method",
    "startup_s",
    "warmup",
    "warmup_items",
    "warmup_s",
    "times_s",
    "baseline_s",
    "baseline_error",
    "rounds",
    "precision",
    "precision_reached",
    "teardown_s",
    "status",
    "error",
    "answer",
    "verified",
    "items",
    "instance",
    "oversubscribed",
    "finished",
)
STATUSES = ("ok", "error", "timeout", "skipped")


class JournalError(ValueError):
    """A journal that cannot be read or written as asked."""


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    """Sortable by start time, unique across ranks and hosts."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
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

    @classmethod
    def reopen(cls, path: str | os.PathLike[str]) -> Journal:
        """Append to an existing journal (``--resume``), never truncating it."""
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

    def write(self, record: dict[str, Any]) -> None:
        self._stream.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._stream.flush()
        os.fsync(self._stream.fileno())

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def load(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of one journal, in file order.

    A line that is not valid JSON (a write cut short by a kill) is skipped with
    a warning; a record of an unknown schema is refused with JournalError.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise JournalError(f"cannot read {path}: {exc.strerror or exc}") from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            warnings.warn(f"{path}:{number}: skipped a torn or invalid line", stacklevel=2)
            continue
        if not isinstance(record, dict):
            raise JournalError(f"{path}:{number}: not a journal record")
        schema = record.get("schema")
        if schema not in SUPPORTED_SCHEMAS:
            known = ", ".join(map(str, SUPPORTED_SCHEMAS))
            raise JournalError(
                f"{path}:{number}: schema {schema!r} is not supported (this version reads schema {known})"
            )
        if record.get("kind") not in KINDS:
            raise JournalError(f"{path}:{number}: unknown record kind {record.get('kind')!r}")
        records.append(record)
    if not records or records[0]["kind"] != "run":
        raise JournalError(f"{path}: not a journal (no run record first)")
    return records


def cells(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [record for record in records if record["kind"] == "cell"]


def record_stats(record: dict[str, Any]) -> CellStats | None:
    """Median time, paired speedup and efficiency of an ok cell record (None for the others)."""
    from bench.stats import cell_stats

    if record["status"] != "ok" or not record.get("times_s"):
        return None
    return cell_stats(record["times_s"], record.get("baseline_s"), record["workers"])


def to_dataframe(sources: Iterable[str | os.PathLike[str] | dict[str, Any]]) -> Any:
    """One row per cell, with the run's host and CPU, from journals or records.

    ``times_s`` and ``baseline_s`` stay lists per row. Added from them:
    ``median_s`` (with ``median_low_s``/``median_high_s``), the paired
    ``speedup`` and ``efficiency`` each with ``_low``/``_high`` bounds,
    ``confidence`` (what the speedup's interval covers, else the median's:
    0.95 or more once there are enough rounds), ``n_times`` and
    ``suspicious`` (the whole efficiency interval above 100%).
    Needs pandas (``pip install -e '.[report]'``).
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("to_dataframe needs pandas: pip install -e '.[report]'") from None

    rows = []
    env: dict[str, Any] = {}
    for source in sources:
        for record in load(source) if not isinstance(source, dict) else [source]:
            if record["kind"] == "run":
                env = record.get("env", {})
            elif record["kind"] == "cell":
                rows.append(
                    {
                        **{key: record.get(key) for key in ("run_id", *CELL_FIELDS)},
                        **_stat_columns(record_stats(record)),
                        "n_times": len(record.get("times_s") or []),
                        "hostname": env.get("hostname"),
                        "cpu": env.get("cpu"),
                    }
                )
    return pd.DataFrame(rows)


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
