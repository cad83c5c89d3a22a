"""What a person sees: progress, per-cell lines, the summary table and its notes.

Notes wrap at word boundaries in a terminal. A pipe or log keeps each note
on one line, whole: a line that holds a command to copy (a skip reason such
as "run: mpiexec -n 3 ...") stays a line a script can take.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bench import stats
from bench.metadata import available_cores
from bench.plan import Cell
from bench.records import AUTO, CellRecord, chunk_notes
from bench.results import record_stats
from bench.runner import Progress as SweepProgress
from bench.stats import efficiency_text, ratio_text, speedup_text

if TYPE_CHECKING:
    from bench.comparison import Comparison

__all__ = [
    "ConsoleProgress",
    "cell_line",
    "efficiency_text",
    "make_console",
    "print_comparison",
    "print_summary",
    "ratio_text",
    "speedup_text",
    "summary_notes",
    "summary_rows",
    "summary_table",
]


def make_console(quiet: bool = False, **options: Any) -> Console:
    """The console of the command line; piped output is never wider than a log line needs."""
    console = Console(quiet=quiet, highlight=False, **options)
    if not console.is_terminal and "width" not in options:
        console.width = max(console.width, 120)  # logs and pipes: no wrapped table cells
    return console


BAR_WIDTH = 12
#: Terminals narrower than this show no bar: the counter and the time left say as much, and the label
#: keeps the room.
BAR_FROM_WIDTH = 100
#: Room the columns after the label take, beside the counter: the time left (up to 9:59:59), "left"
#: and the spaces between columns.
FIXED_COLUMNS = 7 + 4 + 3


def print_note(console: Console, text: str) -> None:
    """A note under a table or at the end of a run: wrapped at word boundaries in a terminal, one whole
    line in a pipe or log."""
    if console.is_terminal:
        console.print(text, markup=False, overflow="fold")  # a word wider than the terminal is folded
    else:
        console.print(text, markup=False, soft_wrap=True)


def fit_label(label: str, room: int) -> str:
    """A cell's label in ``room`` characters: its chunk size, method and threads (``chunk=16 imap``) stay,
    and the case before them gives way (``process-pool x2 fibprimes[1000] ord… chunk=16``)."""
    if len(label) <= room:
        return label
    cut = label.find(" chunk=")
    tail = label[cut:] if cut >= 0 else ""
    if room - len(tail) < 12:  # too narrow to keep both: the start, as much as fits
        return label[: max(room - 1, 0)] + "…"
    return label[: room - len(tail) - 1] + "…" + tail


class ConsoleProgress(SweepProgress):
    """What the command line shows while it sweeps.

    For a person at a terminal (not quiet, not CI): a rich progress bar
    naming the current cell and phase. Otherwise one plain line per finished
    cell. Either way, first a note when some cells oversubscribe the CPU.
    """

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self._console = console
        self.live = not quiet and console.is_terminal and not os.environ.get("CI")
        self._bar = console.width >= BAR_FROM_WIDTH
        self._progress = Progress(
            TextColumn("{task.description}"),
            *([BarColumn(bar_width=BAR_WIDTH)] if self._bar else []),
            MofNCompleteColumn(),
            TimeRemainingColumn(compact=True),
            TextColumn("left"),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task("starting", total=None)

    @contextmanager
    def shown(self) -> Iterator[ConsoleProgress]:
        """Show the bar (when live) while the sweep runs."""
        if not self.live:
            yield self
            return
        with self._progress:
            yield self

    def sweep_started(self, cells: Sequence[Cell], runs: int) -> None:
        over = sorted({cell.workers for cell in cells if cell.oversubscribed})
        if over:
            print_note(
                self._console,
                f"note: {', '.join(map(str, over))} workers exceed the {available_cores()} cores "
                "available here; those cells oversubscribe the CPU (marked * below)",
            )
        self._progress.update(self._task, total=runs)

    def run_started(self, label: str, phase: str) -> None:
        # The bar, counts and time stay whole in a narrow terminal; the label's case gives way.
        total = int(self._progress.tasks[0].total or 0)
        counter = 2 * len(str(total)) + 1
        room = self._console.width - FIXED_COLUMNS - counter - (BAR_WIDTH + 1 if self._bar else 0) - len(phase) - 2
        self._progress.update(self._task, description=f"{escape(fit_label(label, room))}  {phase}")

    def run_finished(self) -> None:
        self._progress.advance(self._task)

    def expect(self, runs: int) -> None:
        total = self._progress.tasks[0].total or 0
        self._progress.update(self._task, total=max(total + runs, 0))

    def cell_finished(self, record: CellRecord) -> None:
        if not self.live:
            self._console.print(cell_line(record), soft_wrap=True, markup=False)


def spread_text(estimate: stats.Estimate, decimals: int = 0) -> str:
    """The half-width of a time's interval: ``\u00b13%``; in units where it exceeds the time itself
    (``\u00b11.6 ms``: a percentage in the hundreds says nothing a person can use); nothing for one round."""
    if estimate.n == 1:
        return ""
    if too_spread(estimate):
        return f"\u00b1{stats.duration_text((estimate.high - estimate.low) / 2)}"
    return f"\u00b1{estimate.relative_half_width:.{decimals}%}"


def too_spread(estimate: stats.Estimate) -> bool:
    """The interval of a time is wider than the time: its runs are too short (or too disturbed) to time."""
    return estimate.n > 1 and estimate.relative_half_width > 1


def time_text(estimate: stats.Estimate) -> str:
    """The median time and the half-width of its interval, e.g. ``512 ms \u00b13%``; in one unit where the
    interval is wider than the time (``0.24\u00b11.69 ms``); of one round, the time alone."""
    if too_spread(estimate):
        return stats.duration_spread(estimate)
    spread = spread_text(estimate)
    return f"{stats.duration_text(estimate.value)} {spread}" if spread else stats.duration_text(estimate.value)


def cell_line(record: CellRecord) -> str:
    """One plain line for a finished cell (logs, CI)."""
    if not record.ok:
        return f"{record.status:<8} {record.label()}: {record.error}"
    cell = record_stats(record)
    assert cell is not None
    time = cell.time
    spread = ", ".join(filter(None, [spread_text(time, decimals=1), rounds_text(time.n)]))
    text = f"ok       {record.label()}: median {stats.duration_text(time.value)} ({spread})"
    if cell.speedup is not None:
        text += f", speedup {speedup_text(cell.speedup)}"
    return text + "".join(f" [{mark}]" for mark in _marks(record, cell))


def rounds_text(count: int) -> str:
    return f"{count} round{'' if count == 1 else 's'}"


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
    "s": "spread wider than the median (shown in units): its runs are too short or too disturbed to time; "
    "give each run more work (--size) or more rounds",
}


def _marks(record: CellRecord, cell: stats.CellStats) -> list[str]:
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
    if threads_oversubscribed(record):
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


def threads_oversubscribed(record: CellRecord) -> bool:
    """Workers x inner threads exceed the cores (those the serial baseline had, one thread each)."""
    cores, threads = record.baseline_threads, record.threads_per_worker
    return bool(cores and threads and record.workers * threads > cores)


def threads_text(record: CellRecord) -> str:
    """The threads of each worker's libraries: ``1``; ``2 d`` where the libraries chose (``default``);
    ``-`` where nothing says (no native pool loaded, or a record from before they were set)."""
    count = "-" if record.threads_per_worker is None else str(record.threads_per_worker)
    return f"{count} d" if record.threads == "default" else count


#: Short names of the map methods in the summary table (it must fit 80 columns).
METHOD_LABELS = {"imap_unordered": "imap-u"}

#: Per cell: the record, its statistics (None unless ok) and its status marks.
Rows = list[tuple[CellRecord, stats.CellStats | None, list[str]]]


def summary_rows(records: Sequence[CellRecord]) -> Rows:
    """Per cell: the record, its statistics (None unless ok) and its status marks."""
    rows = []
    for record in records:
        cell = record_stats(record)
        rows.append((record, cell, _marks(record, cell) if cell else []))
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
    table.add_column("median", justify="right")
    table.add_column("speedup", justify="right")
    table.add_column("efficiency", justify="right")
    table.add_column("status")
    for record, cell, marks in rows:
        cells = [
            f"{record.executor_label()}{'*' if record.oversubscribed else ''}",
            record.chunk_label(short=True) or "-",
        ]
        if several_methods:
            cells.append(METHOD_LABELS.get(record.method, record.method))
        if several_cases:
            cells.append(record.case_label())
        cells.append(threads_text(record))
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
    if any(record.method == "imap_unordered" for record in records) and len({r.method for r in records}) > 1:
        notes.append(f"{METHOD_LABELS['imap_unordered']} = imap_unordered")
    reasons = {
        f"{record.status}: {record.executor_label()}: {record.error or record.baseline_error}"
        for record in records
        if record.error or record.baseline_error
    }
    return notes + sorted(reasons)


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


def print_comparison(console: Console, comparison: Comparison, verdict_lines: Sequence[str] = ()) -> None:
    """The header, one table per case (fits 80 columns), the notes, the counts and ``verdict_lines``;
    every line that is not a table is printed whole (paths and labels in it stay copyable)."""
    from bench.comparison import header, notes, rows, summary

    for line in header(comparison):
        print_note(console, line)
    cases: dict[str, list[dict[str, str]]] = {}
    for row in rows(comparison):
        cases.setdefault(row["case"], []).append(row)
    several_methods = len({change.a.method for change in comparison.changes}) > 1
    for case, case_rows in cases.items():
        table = Table(title=case, box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 0), pad_edge=False)
        table.add_column("executor", no_wrap=True)
        table.add_column("chunk", justify="right")
        if several_methods:
            table.add_column("method")
        for name in ("A", "B", "B/A", "p"):
            table.add_column(name, justify="right")
        table.add_column("verdict")
        for row in case_rows:
            cells = [row["executor"], row["chunk"]]
            if several_methods:
                cells.append(METHOD_LABELS.get(row["method"], row["method"]))
            cells += [row["a"], row["b"], row["ratio"], row["p"]]
            verdict = escape(row["verdict"])
            if row["verdict"].endswith("slower"):
                verdict = f"[bold red]{verdict}[/]"
            elif row["verdict"].endswith("faster"):
                verdict = f"[bold green]{verdict}[/]"
            table.add_row(*map(escape, cells), verdict)
        console.print(table)
    for line in [*notes(comparison), summary(comparison), *verdict_lines]:
        print_note(console, line)


def _cost(seconds: float) -> str:
    """A fitted cost: a duration, or 0 below 10 ns (a fit at its bound)."""
    return "0" if seconds < 1e-8 else stats.duration_text(seconds)


def _per_mib(seconds: float) -> str:
    return _cost(seconds * 2**20)


#: How a calibration table names each parameter, and shows its values.
COSTS = {
    "run_s": ("a run, fixed", _cost),
    "chunk_s": ("a chunk, driver", _cost),
    "item_s": ("an item, driver", _cost),
    "byte_s": ("a MiB, driver", _per_mib),
    "worker_s": ("a chunk, worker", _cost),
    "contention": ("contention", lambda v: f"{v:.2f}"),
}


def print_calibration(console: Console, record: Any) -> None:
    """A calibration's parameters: per back-end, each cost with its 95% interval (fits 80 columns)."""
    from bench.model import PARAMS, ExecutorModel

    table = Table(
        title=f"Calibration {record.env_id} ({record.cores} cores)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )
    table.add_column("executor", no_wrap=True)
    table.add_column("cost of", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("95% interval", justify="right", no_wrap=True)
    for executor, data in record.executors.items():
        fitted = ExecutorModel.from_json(executor, data)
        rows: list[tuple[str, str, str]] = []
        for name in PARAMS:
            label, text = COSTS[name]
            value, low, high = fitted.param(name)
            rows.append((label, text(value), f"[{text(low)}, {text(high)}]"))
        startup = fitted.startup or {}
        if startup:
            line = f"{_cost(startup['base_s'])} + {_cost(startup['per_worker_s'])}/worker"
            lows, highs = startup.get("low"), startup.get("high")
            interval = "one start a count"
            if lows is not None and highs is not None:
                interval = f"[{_cost(lows[0])}, {_cost(highs[0])}] + [{_cost(lows[1])}, {_cost(highs[1])}]"
            rows.append(("start-up", line, interval))
        for number, (label, shown, interval) in enumerate(rows):
            first = number == 0
            table.add_row(
                escape(executor) if first else "", label, shown, interval, end_section=number == len(rows) - 1
            )
    console.print(table)
    print_note(
        console,
        "The driver hands chunks over one after the other (its costs bound how many a second any number of "
        "workers get); a worker's cost per chunk is paid in parallel; contention: how much slower computation "
        "runs per other busy worker (1: the GIL).",
    )


def print_model_check(
    console: Console, checked: Sequence[Any], skipped: dict[str, int], source: str, worst: int
) -> None:
    """Each predicted cell (measured median, predicted with its interval, error), the worst few with what
    their traces say, and the cells not predicted; fits 80 columns."""
    from bench.calibrate import Checked

    print_note(console, f"parameters from {source}")
    by_case: dict[Any, list[Checked]] = {}
    for item in checked:
        by_case.setdefault(item.cell.case, []).append(item)
    for items in by_case.values():
        table = Table(title=items[0].cell.case_label(), box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
        table.add_column("executor", no_wrap=True)
        table.add_column("chunk", justify="right", no_wrap=True)
        table.add_column("measured", justify="right", no_wrap=True)
        table.add_column("predicted [95%]", justify="right", no_wrap=True)
        table.add_column("error", justify="right", no_wrap=True)
        for item in items:
            cell, predicted = item.cell, item.predicted
            executor = cell.executor_label() + (f" {cell.method}" if cell.method != "map" else "")
            if cell.threads not in (None, AUTO):
                executor += f" t={cell.threads}"
            shown = stats.duration_interval(predicted.estimate())
            error = f"{item.error:+.0%}"
            if abs(item.error) > 0.25:
                error = f"[bold red]{error}[/]"
            elif abs(item.error) <= 0.10:
                error = f"[green]{error}[/]"
            table.add_row(
                escape(executor),
                escape(cell.chunk_label(short=True)),
                stats.duration_text(item.measured.value),
                shown,
                error,
            )
        console.print(table)
    ranked = sorted(checked, key=lambda item: -abs(item.error))[:worst]
    if ranked:
        print_note(console, f"worst predicted ({len(ranked)}):")
        for item in ranked:
            print_note(console, f"  {item.error:+.0%} {item.cell.label()}: {item.reason()}")
    outside = sum(not item.agrees for item in checked)
    if checked:
        print_note(console, f"{outside} of {len(checked)} predictions' intervals miss the measured median's")
    for reason, count in skipped.items():
        print_note(console, f"not predicted: {count} cell(s): {reason}")


def print_advice(console: Console, advice: Any) -> None:
    """An advice: the recommendation with its measured and predicted speedups, the runner-ups and how each
    left the race, the forecast for larger machines and the ceiling (fits 80 columns)."""
    from bench.advise import config_text, prediction_text

    record = advice.record
    raced = sum(bool(c["entered"]) for c in record.candidates)
    case = record.workload + f"[{record.size}]"
    print_note(
        console,
        f"{case}: {len(record.candidates)} configurations predicted, {raced} raced in "
        f"{stats.duration_text(record.spent_s or 0.0)} of the {stats.duration_text(record.budget_s or 0.0)} budget",
    )
    best = record.recommendation
    if best is None:
        print_note(console, "no configuration ran: see the journal's cells for why")
        return
    measured = best["speedup"]
    threads = best.get("threads_per_worker")
    console.print(
        f"[bold]use {escape(config_text(best))}[/]" + (f", {threads} thread(s) per worker" if threads else ""),
        overflow="fold",
    )
    print_note(
        console,
        f"  measured {prediction_text(measured)} over serial in {best['rounds']} paired rounds; "
        f"the model predicted {prediction_text(best['predicted'])}",
    )
    if advice.record.runner_ups:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
        table.add_column("runner-up", no_wrap=True)
        table.add_column("measured [95%]", justify="right", no_wrap=True)
        table.add_column("race", overflow="fold")
        for row in record.runner_ups:
            speedup = prediction_text(row["speedup"]) if row["speedup"] else "-"
            table.add_row(escape(config_text(row)), speedup, escape(row["outcome"]))
        console.print(table)
        print_note(
            console,
            "race: rN after N paired rounds; p: the one-sided p-value that it is slower than the leader then "
            "(eliminated) or than the recommendation (slower) "
            "(Welch's test on log speedups); not told apart: as fast as the recommendation as far as its rounds tell. "
            "The report of the journal gives each one's predicted speedup too",
        )
    if record.forecast:
        print_note(console, "forecast by the cost model (best predicted executor and chunk size):")
        for row in record.forecast:
            print_note(
                console,
                f"  {row['workers']} workers ({row['scale']}x these cores): {row['executor']}, chunk "
                f"{row['chunksize']}: {prediction_text(row['predicted'])}",
            )
    if record.ceiling:
        print_note(
            console,
            f"ceiling: the largest item takes 1/{record.ceiling:.0f} of the serial run, so no back-end runs this "
            f"case more than {record.ceiling:.0f}x faster",
        )
    made = f" (made now in {stats.duration_text(advice.calibrated_s)})" if advice.calibrated_s is not None else ""
    print_note(console, f"model parameters from {advice.calibration}{made}")
