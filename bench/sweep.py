"""Run a planned matrix group by group, journaling each cell as it is done."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bench.executors
from bench.measure import CellResult, Reporter, Verifier, measure_group
from bench.plan import Group
from bench.results import SCHEMA, Journal, utc_now

__all__ = ["cell_record", "failed", "run_groups", "total_runs"]


def cell_record(run_id: str, result: CellResult) -> dict[str, Any]:
    """The journal record (schema 1) of one measured or skipped cell."""
    cell = result.cell
    return {
        "schema": SCHEMA,
        "kind": "cell",
        "run_id": run_id,
        "executor": cell.executor,
        "workers": cell.workers,
        "workload": cell.workload,
        "size": cell.size,
        "chunksize": cell.chunksize,
        "chunksize_spec": cell.chunksize_spec,
        "params": cell.param_dict,
        "method": "map",
        "startup_s": result.startup_s,
        "warmup_s": result.warmup_s,
        "times_s": result.times_s,
        "teardown_s": result.teardown_s,
        "status": result.status,
        "error": result.error,
        "answer": result.answer,
        "verified": result.verified,
        "items": cell.items,
        "instance": result.instance,
        "oversubscribed": cell.oversubscribed,
        "finished": utc_now(),
    }


def total_runs(groups: list[Group], repeats: int) -> int:
    """Timed plus warm-up runs the groups will make (for the progress bar)."""
    return sum(1 + repeats for group in groups for cell in group.cells if not cell.skip_reason)


def failed(records: list[dict[str, Any]]) -> bool:
    return any(record["status"] in ("error", "timeout") for record in records)


def run_groups(
    groups: list[Group],
    journal: Journal,
    run_id: str,
    *,
    repeats: int,
    cell_timeout: float | None,
    reporter: Reporter,
    on_record: Callable[[dict[str, Any]], None] = lambda record: None,
) -> list[dict[str, Any]]:
    """Measure every group; returns the cell records written to ``journal``."""
    verifier = Verifier()
    records = []
    for instance, group in enumerate(groups, start=1):
        runnable = [cell for cell in group.cells if not cell.skip_reason]
        measured = {}
        if runnable:
            backend = bench.executors.get(group.executor)
            results = measure_group(
                backend,
                group.workers,
                runnable,
                repeats=repeats,
                cell_timeout=cell_timeout,
                verifier=verifier,
                reporter=reporter,
                instance=instance,
            )
            measured = {result.cell: result for result in results}
        for cell in group.cells:
            result = measured.get(cell) or CellResult(cell, status="skipped", error=cell.skip_reason)
            record = cell_record(run_id, result)
            journal.write(record)
            records.append(record)
            on_record(record)
    return records
