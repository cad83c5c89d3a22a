"""Journals in other tools' formats: pytest-benchmark's JSON.

    import bench
    from bench.report.export import to_pytest_benchmark
    to_pytest_benchmark(bench.load("results/a.jsonl"), "a.json")   # then: pytest-benchmark compare a.json

Each ok cell becomes one benchmark: grouped by its case (workload, size,
parameters), named by its label, with pytest-benchmark's own statistics
computed from the cell's raw samples (``stats.data``), and the cell's
provenance and paired speedup in ``extra_info``. ``machine_info`` and
``commit_info`` describe the machine and commit the journal was measured on,
not the one that exports it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data.environment import mpi_name
from bench.data.journal import JournalError, Results
from bench.data.schema import CellRecord, RunRecord

__all__ = ["ExportError", "Written", "pytest_benchmark_json", "to_pytest_benchmark"]


class ExportError(JournalError):
    """Results that cannot be exported as asked."""


@dataclass(frozen=True)
class Written:
    path: Path
    benchmarks: int
    #: Cells left out: not ok (skipped, error, timeout), with no timing to export.
    left_out: int


def _machine_info(run: RunRecord) -> dict[str, Any]:
    """pytest-benchmark's ``machine_info`` keys, from what the run recorded about its machine."""
    env = run.env
    platform_text = str(env.get("platform") or "")
    system, _, rest = platform_text.partition("-")
    return {
        "node": env.get("hostname"),
        "processor": env.get("machine"),
        "machine": env.get("machine"),
        "python_compiler": "",
        "python_implementation": env.get("python_implementation"),
        "python_implementation_version": env.get("python"),
        "python_version": env.get("python"),
        "python_build": [],
        "release": rest.split("-")[0] if rest else "",
        "system": system,
        "cpu": {"brand_raw": env.get("cpu"), "count": env.get("cores"), "arch": env.get("machine")},
        # what pytest-benchmark has no key for
        "cores_available": env.get("cores_available"),
        "mpi_library": mpi_name(env),
        "slurm_job_id": env.get("slurm_job_id"),
        "slurm_nodes": env.get("slurm_nodes"),
    }


def _commit_info(run: RunRecord) -> dict[str, Any]:
    env = run.env
    return {
        "id": env.get("git_commit") or "unversioned",
        "time": None,
        "author_time": None,
        "dirty": bool(env.get("git_dirty")),
        "project": "parallel-bench",
        "branch": "(unknown)",
    }


def _benchmark(cell: CellRecord) -> dict[str, Any]:
    from pytest_benchmark.stats import Stats

    samples = Stats()
    for seconds in cell.times_s:
        samples.update(seconds)
    statistics = {**samples.as_dict(), "data": list(cell.times_s), "iterations": 1}
    cell_stats = cell.stats
    extra: dict[str, Any] = {
        "run_id": cell.run_id,
        "executor": cell.executor,
        "workers": cell.workers,
        "workload": cell.workload,
        "size": cell.size,
        "chunksize": cell.chunksize,
        "chunksize_spec": cell.chunksize_spec,
        "method": cell.method,
        "items": cell.items,
        "startup_s": cell.startup_s,
        "verified": cell.verified,
        "baseline_s": cell.baseline_s,
    }
    if cell_stats is not None and cell_stats.speedup is not None:
        speedup, efficiency = cell_stats.speedup, cell_stats.efficiency
        extra.update(
            speedup=float(speedup.value),
            speedup_low=float(speedup.low),
            speedup_high=float(speedup.high),
            speedup_confidence=float(speedup.confidence),
            efficiency=float(efficiency.value) if efficiency else None,
        )
    params = {"executor": cell.executor, "workers": cell.workers, "chunksize": cell.chunk_label() or None}
    params.update(method=cell.method, **dict(cell.param_items))
    return {
        "group": cell.case_label(),
        "name": cell.label().replace(f" {cell.case_label()}", "", 1),
        "fullname": f"bench::{cell.label()}",
        "params": params,
        "param": "-".join(str(value) for value in params.values() if value is not None),
        "extra_info": extra,
        "options": {
            "disable_gc": False,
            "timer": "perf_counter",
            "min_rounds": len(cell.times_s),
            "max_time": None,
            "min_time": None,
            "warmup": bool(cell.warmup_s),
        },
        "stats": statistics,
    }


def pytest_benchmark_json(results: Results) -> dict[str, Any]:
    """The ok cells of one run as pytest-benchmark's JSON document."""
    try:
        import pytest_benchmark
    except ImportError:
        raise ExportError("exporting to pytest-benchmark needs it: pip install pytest-benchmark") from None
    if len(results.runs) != 1:
        runs = ", ".join(run.run_id for run in results.runs)
        raise ExportError(f"export takes the journal of one run, not of {len(results.runs)} ({runs})")
    run = results.runs[0]
    benchmarks = [_benchmark(cell) for cell in results.cells if cell.ok and cell.times_s]
    if not benchmarks:
        raise ExportError(f"{results.path or run.run_id} has no ok cell to export")
    return {
        "machine_info": _machine_info(run),
        "commit_info": _commit_info(run),
        "benchmarks": benchmarks,
        "datetime": run.started,
        "version": pytest_benchmark.__version__,
    }


def to_pytest_benchmark(results: Results, out: str | os.PathLike[str]) -> Written:
    """Write ``results`` (one run) to the new file ``out`` in pytest-benchmark's format; never replaces a file."""
    document = pytest_benchmark_json(results)
    path = Path(out)
    try:
        with open(path, "x", encoding="utf-8") as stream:
            json.dump(document, stream, indent=2)
            stream.write("\n")
    except FileExistsError:
        raise ExportError(f"{path} exists; an export never replaces a file") from None
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    exported = len(document["benchmarks"])
    return Written(path, exported, len(results.cells) - exported)
