"""What a person sees: progress, per-cell lines, the summary table."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench import stats
from bench.plan import NO_CHUNKS
from bench.results import record_stats

__all__ = [
    "ProgressReporter",
    "cell_line",
    "efficiency_text",
    "progress_wanted",
    "speedup_text",
    "summary_rows",
    "summary_table",
]


def progress_wanted(console: Console, quiet: bool) -> bool:
    """A live bar only for a person at a terminal: not quiet, not piped, not CI."""
    return not quiet and console.is_terminal and not os.environ.get("CI")


BAR_WIDTH = 12


class ProgressReporter:
    """A rich progress bar naming the current cell and phase."""

    def __init__(self, console: Console, total_runs: int) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=BAR_WIDTH),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task("starting", total=total_runs)
        self._console = console

    @contextmanager
    def shown(self) -> Iterator[ProgressReporter]:
        with self._progress:
            yield self

    def run_started(self, label: str, phase: str) -> None:
        # The bar, counts and time stay whole in a narrow terminal; the label gives way.
        room = self._console.width - BAR_WIDTH - 24 - len(phase)
        if len(label) > room:
            label = label[: max(room - 1, 0)] + "\u2026"
        self._progress.update(self._task, description=f"{label}  {phase}")

    def run_finished(self) -> None:
        self._progress.advance(self._task)

    def expect(self, runs: int) -> None:
        total = self._progress.tasks[0].total or 0
        self._progress.update(self._task, total=max(total + runs, 0))


def speedup_text(estimate: stats.Estimate | None) -> str:
    """E.g. ``1.92x [1.88, 1.95]``."""
    if estimate is None:
        return ""
    return f"{estimate.value:.2f}x [{estimate.low:.2f}, {estimate.high:.2f}]"


def efficiency_text(estimate: stats.Estimate | None) -> str:
    """E.g. ``96% [94, 98]``."""
    if estimate is None:
        return ""
    return f"{estimate.value:.0%} [{estimate.low * 100:.0f}, {estimate.high * 100:.0f}]"


def time_text(estimate: stats.Estimate) -> str:
    """The median time in seconds and the half-width of its interval, e.g. ``0.512 +-3%``."""
    return f"{estimate.value:.3g}\u00b1{estimate.relative_half_width:.0%}"


def _label(record: dict[str, Any]) -> str:
    chunk = "" if record["chunksize_spec"] == NO_CHUNKS else f" chunk={record['chunksize']}"
    return f"{record['executor']} x{record['workers']} {record['workload']}[{record['size']}]{chunk}"


def cell_line(record: dict[str, Any]) -> str:
    """One plain line for a finished cell (logs, CI)."""
    if record["status"] != "ok":
        return f"{record['status']:<8} {_label(record)}: {record['error']}"
    cell = record_stats(record)
    assert cell is not None
    time = cell.time
    text = (
        f"ok       {_label(record)}: median {time.value:.4f} s (\u00b1{time.relative_half_width:.1%}, {time.n} rounds)"
    )
    if cell.speedup is not None:
        text += f", speedup {speedup_text(cell.speedup)}"
    return text + "".join(f" [{mark}]" for mark in _marks(record, cell))


#: Markers of the status column, and what each means (printed under the table when used).
MARKS = {
    "!": "efficiency interval wholly above 100%: suspicious; with 1 worker a pool should not beat "
    "the serial loop it stands in for (look for a disturbed baseline), with more it is superlinear",
    "~": f"fewer than {stats.min_samples()} rounds: the interval is [min, max] and covers less than 95%",
    ">": "repeats auto: the precision asked for was not reached within the most rounds",
    "u": "no paired baseline, so no speedup",
}


def _marks(record: dict[str, Any], cell: stats.CellStats) -> list[str]:
    marks = []
    if cell.suspicious:
        marks.append("!")
    if not cell.estimate.at_level:
        marks.append("~")
    if record.get("precision_reached") is False:
        marks.append(">")
    if record.get("executor") != "serial" and cell.speedup is None:
        marks.append("u")
    return marks


def summary_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per cell: median time, paired speedup and efficiency, each with its 95% interval."""
    rows = []
    for record in records:
        row = {key: record[key] for key in ("executor", "workers", "workload", "size", "params", "status")}
        row["chunksize"] = record["chunksize"] if record["chunksize_spec"] != NO_CHUNKS else None
        row["auto"] = record["chunksize_spec"] == "auto"
        row["oversubscribed"] = record.get("oversubscribed", False)
        row["stats"] = record_stats(record)
        row["marks"] = _marks(record, row["stats"]) if row["stats"] else []
        row["error"] = record["error"] or record.get("baseline_error")
        rows.append(row)
    return rows


def summary_table(records: list[dict[str, Any]]) -> Table:
    rows = summary_rows(records)
    cases = {(row["workload"], row["size"], str(row["params"])) for row in rows}
    table = Table(
        title="Median time; speedup over the paired serial baseline, with 95% intervals",
        box=box.SIMPLE_HEAD,  # one space between columns: a row fits in 80 columns
        show_edge=False,
        padding=(0, 0),
        pad_edge=False,
    )
    table.add_column("executor")
    table.add_column("chunk", justify="right")
    if len(cases) > 1:
        table.add_column("workload")
    table.add_column("median s", justify="right")
    table.add_column("speedup", justify="right")
    table.add_column("efficiency", justify="right")
    table.add_column("status")
    for row in rows:
        chunk = "-" if row["chunksize"] is None else f"{row['chunksize']}{' auto' if row['auto'] else ''}"
        cells = [f"{row['executor']} x{row['workers']}{'*' if row['oversubscribed'] else ''}", chunk]
        if len(cases) > 1:
            params = "".join(f" {key}={value}" for key, value in row["params"].items())
            cells.append(f"{row['workload']}[{row['size']}]{params}")
        cell = row["stats"]
        if cell is None:
            cells += ["", "", ""]
        else:
            speedup = "baseline" if row["executor"] == "serial" else speedup_text(cell.speedup)
            cells += [time_text(cell.time), speedup, efficiency_text(cell.efficiency)]
        cells.append(" ".join([row["status"], *row["marks"]]))
        table.add_row(*map(escape, cells))
    used = {mark for row in rows for mark in row["marks"]}
    notes = [f"{mark} {text}" for mark, text in MARKS.items() if mark in used]
    notes += sorted(
        {f"{row['status']}: {row['executor']} x{row['workers']}: {row['error']}" for row in rows if row["error"]}
    )
    if notes:
        table.caption = escape("\n".join(notes))
        table.caption_justify = "left"
    return table
