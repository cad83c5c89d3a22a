"""The summary of a sweep: one table per case with each cell's median time, paired speedup and
efficiency, the marks of what the data cannot support and the notes that explain them, and the one
line per finished cell that logs and CI get (``run``, ``slurm submit --wait``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.cli.common import print_note
from bench.data import stats
from bench.data.format import (
    METHOD_NOTE,
    efficiency_text,
    method_label,
    rounds_text,
    speedup_text,
    threads_column,
    time_text,
    too_spread,
)
from bench.data.schema import CellRecord, chunk_notes

__all__ = ["MARKS", "cell_line", "marks", "print_summary", "summary_notes", "summary_rows", "summary_table"]


def cell_line(record: CellRecord, said: set[str] | None = None) -> str:
    """One plain line for a finished cell (logs, CI). With ``said`` (the reasons given so far, kept up to
    date), a reason already given reads ``as above``."""
    if not record.ok:
        reason = record.error or ""
        if said is not None:
            reason = "as above" if reason in said else reason
            said.add(record.error or "")
        return f"{record.status:<8} {record.label()}: {reason}"
    cell = record.stats
    assert cell is not None
    time = cell.time
    text = f"ok       {record.label()}: median {time_text(time)} ({rounds_text(time.n)})"
    if cell.speedup is not None:
        text += f", speedup {speedup_text(cell.speedup)}"
    return text + "".join(f" [{mark}]" for mark in marks(record, cell))


#: Markers of the status column, and what each means (printed under the table when used).
MARKS = {
    "!": "efficiency interval wholly above 100%: suspicious; with 1 worker a pool should not beat "
    "the serial loop it stands in for (look for a disturbed baseline), with more it is superlinear",
    "~": f"fewer than {stats.min_samples()} rounds: the interval is [min, max] and covers less than 95%",
    ">": "repeats auto or race: the precision asked for was not reached within the most rounds",
    "u": "no paired baseline, so no speedup",
    "b": "busy: other processes took more than a tenth of the cores while the cell ran; its numbers are unreliable",
    "t": "workers x inner threads exceed the cores: the libraries' threads oversubscribe the CPU",
    "i": "interrupted: the cell holds the rounds it had; --resume completes it",
    "e": "eliminated by the race: significantly slower than the best cell of its case, so measured no further "
    "(its interval is as wide as its few rounds leave it)",
    "x": "the race's time budget ended its rounds before its interval reached the precision asked for",
    "s": "the interval's half-width exceeds the median: its runs are too short or too disturbed to time; "
    "give each run more work (--size) or more rounds",
}


def marks(record: CellRecord, cell: stats.CellStats) -> list[str]:
    marks = []
    if cell.suspicious:
        marks.append("!")
    if not cell.estimate.at_level:
        marks.append("~")
    if record.precision_reached is False and record.stopped != "budget":
        marks.append(">")
    if record.executor != "serial" and cell.speedup is None:
        marks.append("u")
    if record.busy:
        marks.append("b")
    if record.threads_oversubscribed:
        marks.append("t")
    if record.interrupted:
        marks.append("i")
    if record.stopped == "eliminated":
        marks.append("e")
    if record.stopped == "budget":
        marks.append("x")
    if too_spread(cell.time):
        marks.append("s")
    return marks


#: Per cell: the record, its statistics (None unless ok) and its status marks.
Rows = list[tuple[CellRecord, stats.CellStats | None, list[str]]]


def summary_rows(records: Sequence[CellRecord]) -> Rows:
    """Per cell: the record, its statistics (None unless ok) and its status marks."""
    rows = []
    for record in records:
        cell = record.stats
        rows.append((record, cell, marks(record, cell) if cell else []))
    return rows


TITLE = "Median time; speedup over the paired serial baseline, with 95% intervals"


def summary_table(records: Sequence[CellRecord], rows: Rows | None = None, title: str = TITLE) -> Table:
    """Median time, paired speedup and efficiency of each cell, each with its 95% interval; fits 80 columns
    (with a workload column only when the records hold several cases).

    ``rows`` are the records' ``summary_rows``, when already at hand.
    """
    rows = summary_rows(records) if rows is None else rows
    several_cases = len({record.case for record in records}) > 1
    several_methods = len({record.method for record in records}) > 1
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,  # one space between columns: a row fits in 80 columns
        show_edge=False,
        padding=(0, 0),
        pad_edge=False,
    )
    table.add_column("executor", no_wrap=True)
    table.add_column("chunk", justify="right")
    if several_methods:
        table.add_column("method")
    if several_cases:
        table.add_column("workload")
    table.add_column("thr", justify="right")
    # an executor's name and a median stay whole; an interval's bounds go on a second line where the room
    # is short, each whole
    table.add_column("median", justify="right", no_wrap=True)
    table.add_column("speedup", justify="right")
    table.add_column("efficiency", justify="right")
    table.add_column("status")
    for record, cell, marks in rows:
        cells = [
            f"{record.executor_label()}{'*' if record.oversubscribed else ''}",
            record.chunk_label(short=True) or "-",
        ]
        if several_methods:
            cells.append(method_label(record.method))
        if several_cases:
            cells.append(record.case_label())
        cells.append(threads_column(record.threads_per_worker, record.threads))
        if cell is None:
            cells += ["", "", "", record.status]
        else:
            speedup = "baseline" if record.executor == "serial" else speedup_text(cell.speedup)
            cells += [
                time_text(cell.time),
                speedup,
                efficiency_text(cell.efficiency),
                ("ok " + "".join(marks)) if marks else "ok",
            ]
        table.add_row(*map(escape, cells))
    return table


def summary_notes(records: Sequence[CellRecord], rows: Rows | None = None) -> list[str]:
    """What the table's marks mean, and why each cell that is not ok (or unpaired) is so."""
    rows = summary_rows(records) if rows is None else rows
    used = {mark for _, _, marks in rows for mark in marks}
    notes = [f"{mark} {text}" for mark, text in MARKS.items() if mark in used]
    notes += chunk_notes(record.chunksize_spec for record in records if record.ok)
    notes.append(_threads_note(records))
    blocks = max((len(record.block_sizes) for record in records if record.ok and record.times_s), default=1)
    if blocks > 1:
        notes.append(
            f"intervals: each cell's rounds in up to {blocks} blocks, each on a fresh instance at another moment of "
            "the run, and its intervals hold across them"
        )
    if any(record.method == "imap_unordered" for record in records) and len({r.method for r in records}) > 1:
        notes.append(METHOD_NOTE)
    return notes + _reasons(records)


def _reasons(records: Sequence[CellRecord]) -> list[str]:
    """Why cells are not ok (or unpaired): each reason once, with the cells it stands for
    (``skipped: dask-slurm x1, x2, x4 (12 cells): ...``)."""
    found: dict[tuple[str, str], dict[str, list[int]]] = {}
    for record in records:
        reason = record.error or record.baseline_error
        if reason:
            workers = found.setdefault((record.status, reason), {}).setdefault(record.executor, [])
            workers.append(record.workers)
    lines = []
    for (status, reason), executors in found.items():
        who = "; ".join(
            f"{name} " + ", ".join(f"x{count}" for count in sorted(set(workers))) for name, workers in executors.items()
        )
        cells = sum(map(len, executors.values()))
        lines.append(f"{status}: {who}{f' ({cells} cells)' if cells > 1 else ''}: {reason}")
    return sorted(lines)


def _threads_note(records: Sequence[CellRecord]) -> str:
    baseline = next((record.baseline_threads for record in records if record.baseline_threads), None)
    text = "thr: threads of each worker's BLAS/OpenMP libraries"
    if any(record.threads == "default" for record in records):
        text += " (d: as the libraries chose, unset)"
    if baseline:
        text += f"; the serial baseline had {baseline}"
    return text


def print_summary(console: Console, records: Sequence[CellRecord]) -> None:
    """The table, then its notes, each note one unwrapped line (commands in it stay whole)."""
    if not records:
        return
    rows = summary_rows(records)
    cases: dict[tuple[Any, ...], Rows] = {}
    for row in rows:
        cases.setdefault(row[0].case, []).append(row)
    # one table per case, named in its title (a workload column would not fit 80 columns)
    for index, case_rows in enumerate(cases.values()):
        case_records = [record for record, _, _ in case_rows]
        title = f"{case_records[0].case_label()}" + (f" - {TITLE[0].lower()}{TITLE[1:]}" if index == 0 else "")
        console.print(summary_table(case_records, case_rows, title=title))
    for note in summary_notes(records, rows):
        print_note(console, note)
