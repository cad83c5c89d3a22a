"""Results journals: record schema, writer, loader, DataFrame export.

A journal is JSON Lines: a ``run`` record, then one ``cell`` record per
measured cell, each appended and flushed as soon as it exists, so a killed run
keeps everything it finished. Journals are never overwritten or truncated.

Schema history (the ``schema`` field of every record):

1. A ``run`` record (``run_id``, ``started``, ``argv``, ``env``, ``matrix``),
   ``cell`` records (fields in ``CELL_FIELDS``), and ``resume`` records
   (``started``, ``argv``, ``env``) appended when ``--resume`` continues a run.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

__all__ = [
    "SCHEMA",
    "Journal",
    "JournalError",
    "cells",
    "load",
    "new_run_id",
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
    "warmup_s",
    "times_s",
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


def to_dataframe(sources: Iterable[str | os.PathLike[str] | dict[str, Any]]) -> Any:
    """One row per cell, with the run's host and CPU, from journals or records.

    ``times_s`` stays a list per row; ``median_s`` and ``n_times`` are added.
    Needs pandas (``pip install -e '.[report]'``).
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("to_dataframe needs pandas: pip install -e '.[report]'") from None
    from bench.stats import median

    rows = []
    env: dict[str, Any] = {}
    for source in sources:
        for record in load(source) if not isinstance(source, dict) else [source]:
            if record["kind"] == "run":
                env = record.get("env", {})
            elif record["kind"] == "cell":
                times = record.get("times_s") or []
                rows.append(
                    {
                        **{key: record.get(key) for key in ("run_id", *CELL_FIELDS)},
                        "median_s": median(times) if times else None,
                        "n_times": len(times),
                        "hostname": env.get("hostname"),
                        "cpu": env.get("cpu"),
                    }
                )
    return pd.DataFrame(rows)
