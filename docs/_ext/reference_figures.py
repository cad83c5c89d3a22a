"""The figures the documentation quotes, computed from the reference journals of ``results/reference/``
when the site is built: a figure cannot drift from the measurement it names, nor two pages disagree.

Each is a MyST substitution (``{{ quick_answer }}``); ``figures()`` serves the tests too (the README
quotes some of them, and its test checks that it quotes them as they are).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import bench
from bench.analysis.findings import analyse
from bench.data import stats
from bench.data.format import duration_interval

REFERENCE = Path(__file__).resolve().parents[2] / "results" / "reference"
#: The 2-core machine's journals: the default run under ``mpiexec -n 3``, and serial ``fibprimes`` 5000.
QUICK = REFERENCE / "2-core" / "20261206T045438Z-473299.jsonl"
FIB5000 = REFERENCE / "2-core" / "20261206T050353Z-b482fd.jsonl"
#: The 16-core machine's scaling of ``fibprimes`` 1500.
SIXTEEN_CORE_SCALING = REFERENCE / "20261122T192646Z-6835ec.jsonl"


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _minutes(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


@cache
def _load(path: Path) -> bench.Results:
    """A reference journal, read once however many figures it gives."""
    return bench.load(path)


@cache
def _cases(path: Path) -> list[Any]:
    """The report's analysis of a journal, case by case."""
    return analyse(_load(path)).cases


def _answer(path: Path, workload: str, size: int, which: int = 0) -> str:
    """A recommendation of the report for a case (the first: what a reader of that report sees first)."""
    for case in _cases(path):
        first = case.points[0].record if case.points else None
        if first is not None and first.workload == workload and first.size == size and case.recommendations:
            return case.recommendations[which].removesuffix(".")
    raise LookupError(f"no recommendation for {workload}[{size}] in the reference journals")


def _quick() -> dict[str, str]:
    results = _load(QUICK)
    run = results.runs[0]
    ended = max(_when(cell.finished) for cell in results.cells if cell.finished)
    ok = sum(cell.ok for cell in results.cells)
    skipped = sum(cell.status == "skipped" for cell in results.cells)
    failed = len(results.cells) - ok - skipped
    return {
        "quick_journal": f"results/reference/2-core/{QUICK.name}",
        "quick_date": run.started[:10],
        "quick_duration": _minutes((ended - _when(run.started)).total_seconds()),
        "quick_cells": f"{ok} cells measured, {skipped} skipped" + (f", {failed} failed" if failed else ""),
        "quick_answer": _answer(QUICK, "fibprimes", 1000),
        "quick_answer_why": _answer(QUICK, "fibprimes", 1000, which=1),
    }


def _fib5000() -> dict[str, str]:
    cells = [
        cell
        for cell in _load(FIB5000).cells
        if cell.ok and cell.executor == "serial" and cell.workload == "fibprimes" and cell.size == 5000
    ]
    if not cells:
        raise LookupError("no serial fibprimes[5000] cell in the 2-core reference journals")
    times = [t for cell in cells for t in cell.times_s]
    estimate = duration_interval(stats.median_ci(times))  # as the report writes a duration
    return {
        "fib5000_journal": f"results/reference/2-core/{FIB5000.name}",
        "fib5000_serial": f"{estimate} ({len(times)} runs, {cells[0].finished[:10]})",
    }


def _sixteen() -> dict[str, str]:
    started = _load(SIXTEEN_CORE_SCALING).runs[0].started
    return {"ref16_scaling": _answer(SIXTEEN_CORE_SCALING, "fibprimes", 1500) + f" ({started[:10]})."}


@cache
def figures() -> dict[str, str]:
    """Every quoted figure, by its substitution name."""
    return {**_quick(), **_fib5000(), **_sixteen()}


def _substitute(app: Any, config: Any) -> None:
    config.myst_substitutions = {**config.myst_substitutions, **figures()}


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _substitute)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
