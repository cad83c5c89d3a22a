"""What a person sees while a sweep runs: a progress bar naming the cell and phase at a terminal, one line
per finished cell in a log or pipe."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bench.cli.common import print_note
from bench.cli.summary import MARKS, cell_line, marks
from bench.data.schema import CellRecord
from bench.host.provenance import available_cores
from bench.measuring.plan import Cell
from bench.measuring.runner import Progress as SweepProgress

__all__ = ["ConsoleProgress", "fit_label"]


BAR_WIDTH = 12
#: Terminals narrower than this show no bar: the counter and the time left say as much, and the label
#: keeps the room.
BAR_FROM_WIDTH = 100
#: Room the columns after the label take, beside the counter: the time left (up to 9:59:59), "left"
#: and the spaces between columns.
FIXED_COLUMNS = 7 + 4 + 3
#: Seconds of runs the time left is estimated from: the whole sweep.
SWEEP_PACE_S = 7 * 24 * 3600.0


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
            # the time left from the whole sweep's pace: runs differ a hundredfold (a warm-up, a traced
            # run, a serial baseline), so the last half minute's pace would swing the estimate
            speed_estimate_period=SWEEP_PACE_S,
        )
        self._task = self._progress.add_task("starting", total=None)
        #: The reasons and the marks the plain lines have given, so far.
        self._said: set[str] = set()
        self._marks: set[str] = set()

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
            self._console.print(cell_line(record, self._said), soft_wrap=True, markup=False)
            if record.stats is not None:
                self._marks.update(marks(record, record.stats))

    def explain(self) -> None:
        """What the marks of the plain lines mean, once the sweep is done (for a command that prints no
        summary table, whose notes say it)."""
        for mark, text in MARKS.items():
            if mark in self._marks:
                print_note(self._console, f"[{mark}] {text}")
