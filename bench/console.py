"""What a person sees: progress, per-cell lines, the summary table."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench import stats
from bench.plan import NO_CHUNKS, Cell

__all__ = ["ProgressReporter", "progress_wanted", "summary_rows", "summary_table"]


def progress_wanted(console: Console, quiet: bool) -> bool:
    """A live bar only for a person at a terminal: not quiet, not piped, not CI."""
    return not quiet and console.is_terminal and not os.environ.get("CI")


class ProgressReporter:
    """A rich progress bar naming the current cell and phase."""

    def __init__(self, console: Console, total_runs: int) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task("starting", total=total_runs)

    @contextmanager
    def shown(self) -> Iterator[ProgressReporter]:
        with self._progress:
            yield self

    def run_started(self, cell: Cell, phase: str) -> None:
        self._progress.update(self._task, description=f"{cell.label()}  {phase}")

    def run_finished(self, cell: Cell) -> None:
        self._progress.advance(self._task)


def cell_line(record: dict[str, Any]) -> str:
    """One plain line for a finished cell (logs, CI)."""
    label = (
        f"{record['executor']} x{record['workers']} {record['workload']}[{record['size']}] chunk={record['chunksize']}"
    )
    if record["status"] == "ok":
        return f"ok       {label}: median {stats.median(record['times_s']):.4f} s of {len(record['times_s'])}"
    return f"{record['status']:<8} {label}: {record['error']}"


def _baselines(records: list[dict[str, Any]]) -> dict[tuple[Any, ...], list[float]]:
    return {
        _case(record): record["times_s"]
        for record in records
        if record["executor"] == "serial" and record["status"] == "ok" and record["times_s"]
    }


def _case(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["workload"], record["size"], tuple(sorted(record.get("params", {}).items())))


def summary_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per cell: median time, speedup over serial, parallel efficiency."""
    baselines = _baselines(records)
    rows = []
    for record in records:
        row = {key: record[key] for key in ("executor", "workers", "workload", "size", "params", "status")}
        row["chunksize"] = record["chunksize"] if record["chunksize_spec"] != NO_CHUNKS else None
        row["auto"] = record["chunksize_spec"] == "auto"
        row["oversubscribed"] = record.get("oversubscribed", False)
        row["median_s"] = row["speedup"] = row["efficiency"] = None
        if record["status"] == "ok" and record["times_s"]:
            row["median_s"] = stats.median(record["times_s"])
            baseline = baselines.get(_case(record))
            if baseline:
                row["speedup"] = stats.speedup(baseline, record["times_s"])
                row["efficiency"] = stats.efficiency(row["speedup"], record["workers"])
        row["error"] = record["error"]
        rows.append(row)
    return rows


def summary_table(records: list[dict[str, Any]]) -> Table:
    rows = summary_rows(records)
    cases = {(row["workload"], row["size"], str(row["params"])) for row in rows}
    table = Table(title="Summary (median of the timed runs; speedup over serial)")
    for column in ("executor", "workers", "chunksize"):
        table.add_column(column, justify="right" if column != "executor" else "left")
    if len(cases) > 1:
        table.add_column("workload")
    for column in ("median s", "speedup", "efficiency"):
        table.add_column(column, justify="right")
    table.add_column("status")
    for row in rows:
        chunk = "-" if row["chunksize"] is None else f"{row['chunksize']}{' (auto)' if row['auto'] else ''}"
        workers = f"{row['workers']}{'*' if row['oversubscribed'] else ''}"
        cells = [row["executor"], workers, chunk]
        if len(cases) > 1:
            params = "".join(f" {key}={value}" for key, value in row["params"].items())
            cells.append(f"{row['workload']}[{row['size']}]{params}")
        cells += [_fmt(row["median_s"], ".4f"), _fmt(row["speedup"], ".2f", "x"), _fmt(row["efficiency"], ".0%")]
        cells.append(row["status"])
        table.add_row(*cells)
    reasons = sorted(
        {f"{row['status']}: {row['executor']} x{row['workers']}: {row['error']}" for row in rows if row["error"]}
    )
    if reasons:
        table.caption = "\n".join(reasons)
        table.caption_justify = "left"
    return table


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "" if value is None else f"{value:{spec}}{suffix}"
