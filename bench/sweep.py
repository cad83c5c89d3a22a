"""Run a planned matrix group by group, journaling each cell as it is done."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import bench.executors
from bench.measure import CellResult, Reporter, Rounds, Verifier, measure_group
from bench.plan import Group, Matrix
from bench.results import SCHEMA, Journal, utc_now

__all__ = ["cell_record", "failed", "rounds_of", "run_groups", "total_runs"]


def rounds_of(matrix: Matrix) -> Rounds:
    """The measurement protocol a matrix asks for."""
    return Rounds(
        repeats=matrix.repeats,
        precision=matrix.precision,
        max_repeats=matrix.max_repeats,
        warmup=matrix.warmup,
        cell_timeout=matrix.cell_timeout,
    )


def cell_record(run_id: str, result: CellResult, rounds: Rounds) -> dict[str, Any]:
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
        "warmup": result.warmup,
        "warmup_items": result.warmup_items,
        "warmup_s": result.warmup_s,
        "times_s": result.times_s,
        "baseline_s": result.baseline_s,
        "baseline_error": result.baseline_error,
        "rounds": len(result.times_s),
        "precision": rounds.precision if rounds.adaptive else None,
        "precision_reached": result.precision_reached,
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


def total_runs(groups: list[Group], rounds: Rounds) -> int:
    """Warm-up and timed runs, paired baselines included, if no cell stops early (for the progress bar)."""
    total = 0
    for group in groups:
        runnable = [cell for cell in group.cells if not cell.skip_reason]
        if not runnable:
            continue
        baselines = len({cell.case for cell in runnable}) if bench.executors.get(group.executor).paired else 0
        total += (1 + rounds.most) * (len(runnable) + baselines)
    return total


def failed(records: list[dict[str, Any]]) -> bool:
    return any(record["status"] in ("error", "timeout") for record in records)


def run_groups(
    groups: list[Group],
    journal: Journal | None,
    run_id: str,
    rounds: Rounds,
    *,
    reporter: Reporter,
    first_instance: int = 1,
    on_record: Callable[[dict[str, Any]], None] = lambda record: None,
) -> list[dict[str, Any]]:
    """Measure every group; returns the cell records, also written to ``journal`` when there is one.

    Executor instances are numbered from ``first_instance`` on, restarts included.
    """
    verifier = Verifier()
    instances = itertools.count(first_instance)
    records = []
    for group in groups:
        runnable = [cell for cell in group.cells if not cell.skip_reason]
        measured = {}
        if runnable:
            backend = bench.executors.get(group.executor)
            results = measure_group(
                backend,
                group.workers,
                runnable,
                rounds,
                verifier=verifier,
                reporter=reporter,
                instances=instances,
            )
            measured = {result.cell: result for result in results}
        for cell in group.cells:
            result = measured.get(cell) or CellResult(cell, status="skipped", error=cell.skip_reason)
            record = cell_record(run_id, result, rounds)
            if journal is not None:
                journal.write(record)
            records.append(record)
            on_record(record)
    return records
