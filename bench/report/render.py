"""Render an analysis into figures, a self-contained HTML page and a Markdown summary (jinja2)."""

from __future__ import annotations

import base64
from typing import Any

from bench.analysis.findings import (
    ALPHA,
    Analysis,
    CaseReport,
    EnvironmentReport,
    Point,
    ProbeFit,
)
from bench.data import stats
from bench.data.format import (
    duration_interval,
    duration_text,
    efficiency_interval,
    escape,
    fraction_interval,
    prediction_text,
    speedup_interval,
    threads_column,
)
from bench.data.schema import FAILED, CellRecord
from bench.executors import rank as executor_rank
from bench.host import inner_threads
from bench.measuring.trace import GAP_LIMIT
from bench.report.figures import Figure, case_figures, environment_figures

__all__ = ["render"]


def _interval(estimate: stats.Estimate | None, text: Any) -> str:
    """The estimate as ``text`` formats it (with its coverage), or nothing without one."""
    return text(estimate) if estimate is not None else ""


def _row(point: Point) -> dict[str, Any]:
    """One cell as the tables show it."""
    record, summary = point.record, point.summary
    return {
        "config": point.config(),
        "executor": point.executor,
        "workers": point.workers,
        "chunk": record.chunk_label() or "-",
        "method": record.method,
        "status": record.status + _stopped(record),
        "error": (record.error or "").splitlines()[0] if record.error else "",
        "rounds": len(point.times_s),
        "median": _interval(point.cell.time if point.cell else None, duration_interval),
        "iqr": duration_text(summary.iqr) if summary else "",
        "min": duration_text(summary.minimum) if summary else "",
        "outliers": ", ".join(duration_text(v) for v in summary.outliers) if summary else "",
        "speedup": "baseline" if point.executor == "serial" else _interval(point.speedup, speedup_interval),
        "efficiency": _interval(point.efficiency, efficiency_interval),
        "self_speedup": _interval(point.self_speedup, speedup_interval),
        "serial_fraction": fraction_interval(point.serial_fraction),
        "suspicious": bool(point.cell and point.cell.suspicious),
        "runs": ", ".join(sorted({r.run_id for r in point.records})),
        "threads": _threads(record),
        "pools": inner_threads.describe(record.threadpools),
        "load": _load(point.records),
        "busy": any(r.busy for r in point.records),
    }


def _stopped(record: CellRecord) -> str:
    """`` (eliminated after 3 rounds)`` or `` (budget)`` for a cell a race stopped."""
    if record.stopped == "eliminated":
        return f" (eliminated after {len(record.times_s)} rounds)"
    return " (race budget spent)" if record.stopped == "budget" else ""


def _grade(value: float | None) -> str:
    """The POP assessments' colours: good at 0.8 and above, fair from 0.6, poor below."""
    if value is None:
        return ""
    return "good" if value >= 0.8 else "fair" if value >= 0.6 else "poor"


#: A cell's start-up is shown beside its POP metrics once it exceeds this share of its median run.
STARTUP_SHARE = 0.1


def _pop_row(point: Point) -> dict[str, Any]:
    """One configuration of a POP table: each metric with its grade, the measured efficiency beside GE."""
    pop = point.pop or {}
    parallel = pop.get("parallel")
    cells = {
        key: {"text": "" if pop.get(key) is None else f"{float(pop[key] or 0.0):.2f}", "grade": _grade(pop.get(key))}
        for key in ("global", "parallel", "load_balance", "communication", "computation")
    }
    median = point.cell.time.value if point.cell else None
    startup = point.record.startup_s
    share = startup / median if startup is not None and median else None
    trace = point.trace
    return {
        "config": point.config(),
        "metrics": cells,
        "parallel": parallel,
        "measured": f"{point.efficiency.value:.2f}" if point.efficiency is not None else "",
        "gap": "; ".join(point.gap_reasons()) if point.pop_gap is not None and point.pop_gap > GAP_LIMIT else "",
        "startup": f"{share:.1f} runs" if share is not None and share >= STARTUP_SHARE else "",
        "cost": f"{trace.overhead:+.0%}" if trace is not None and trace.overhead is not None else "",
    }


def _threads(record: CellRecord) -> str:
    """``1 (auto)``, ``2 (default)``, ``- (default)``: each worker's threads and the rule that set them."""
    count = threads_column(record.threads_per_worker, None)
    rule = record.threads or "not set"
    baseline = f"; baseline {record.baseline_threads}" if record.baseline_threads else ""
    return f"{count} ({rule}{baseline})"


def _load(records: list[CellRecord]) -> str:
    """The CPU other processes used while the cell ran (the most of its records), and whether it was busy."""
    loads = [r.load for r in records if r.load]
    if not loads:
        return ""
    worst = max(loads, key=lambda load: load.get("other_cores") or 0.0)
    text = f"{worst.get('other_cores', 0.0):.2f} cores"
    if worst.get("steal"):
        text += f", steal {worst['steal']:.0%}"
    return text + (" (busy)" if any(load.get("busy") for load in loads) else "")


def _data_uri(figure: Figure) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(figure.svg.encode("utf-8")).decode("ascii")


def _figures(figures: list[Figure]) -> list[dict[str, str]]:
    return [
        {"name": f.name, "title": f.title, "caption": f.caption, "src": _data_uri(f), "file": f"figures/{f.name}.svg"}
        for f in figures
    ]


def _answer(case: CaseReport) -> dict[str, Any]:
    best = case.recommended or case.best
    return {
        "env": case.env.name,
        "case": case.label,
        "executor": best.executor if best else "",
        "workers": best.workers if best else "",
        "chunk": (best.record.chunk_label() or "-") if best else "",
        "method": best.record.method if best else "",
        "threads": _threads(best.record) if best else "",
        "speedup": _interval(best.speedup if best else None, speedup_interval),
        "efficiency": _interval(best.efficiency if best else None, efficiency_interval),
        "tied": len(case.runners_up) + len(case.equivalent),
    }


def _probe_rows(fits: list[ProbeFit]) -> list[dict[str, str]]:
    return [{"config": fit.label, "value": fit.text(), "how": fit.how} for fit in fits]


def _case(case: CaseReport, prefix: str, answered: bool) -> tuple[dict[str, Any], list[Figure]]:
    figures = case_figures(case, prefix)
    top = case.ranked[:10]
    return {
        "label": case.label,
        "anchor": f"{prefix}{case.slug}",
        "recommendations": case.recommendations,
        "answered": answered,
        "notes": case.notes,
        "by_workers": [_by_workers_row(p) for p in case.by_workers] if len(case.by_workers) > 1 else [],
        "probe": case.probe,
        "top": [_row(p) | {"tied": any(p is q for q, _ in case.runners_up), "best": p is case.best} for p in top],
        "ranked": len(case.ranked),
        "cells": [_row(p) for p in sorted(case.points, key=_cell_order)],
        "pop_rows": [
            _pop_row(p) for p in sorted(case.ok_points, key=_cell_order) if p.pop and p.pop.get("parallel") is not None
        ],
        "figures": _figures(figures),
        "model_rows": [_model_row(row) for row in case.model.best] if case.model is not None else [],
    }, figures


def _model_row(row: Any) -> dict[str, str]:
    """The measured best chunk size of an executor and worker count beside the model's."""

    return {
        "config": f"{row.executor} x{row.workers}",
        "measured": f"chunk {row.measured_chunk}: {speedup_interval(row.measured)}",
        "predicted": f"chunk {row.predicted_chunk}: {speedup_interval(row.predicted.estimate())}",
        "at_measured": speedup_interval(row.predicted_measured.estimate()),
        "verdict": row.verdict,
    }


def _by_workers_row(point: Point) -> dict[str, Any]:
    row = _row(point)
    if point.executor == "serial":
        row["config"] += " (no pool is significantly faster at 1 worker)"
    return row


def _cell_order(point: Point) -> tuple[Any, ...]:
    return (executor_rank(point.executor), point.executor, point.workers, point.record.chunksize, point.record.method)


def _environment(
    report: EnvironmentReport, several: bool, answered: list[CaseReport]
) -> tuple[dict[str, Any], list[Figure]]:
    env = report.env
    prefix = f"{env.name.lower()}-" if several else ""
    cases, figures = [], []
    for case in report.cases:
        context, made = _case(case, prefix, any(case is other for other in answered))
        cases.append(context)
        figures += made
    env_figures = environment_figures(report, prefix)
    figures += env_figures
    metg = _probe_rows([fit for fit in report.granularity if fit.metg is not None])
    startup = [
        {
            "executor": executor,
            "workers": workers,
            "value": duration_interval(e) if e.n > 1 else duration_text(e.value),
            "n": e.n,
        }
        for executor, values in sorted(report.startup.items())
        for workers, e in values
    ]
    return {
        "name": env.name,
        "title": f"Environment {env.name}: {env.describe()}" if several else env.describe(),
        "describe": env.describe(),
        "host": env.host,
        "cpu": env.cpu,
        "cores": env.cores,
        "python": env.python,
        "mpi": env.mpi or "none",
        "slurm": "; ".join(env.slurm) or "no",
        "journals": ", ".join(env.journals),
        "commits": ", ".join(env.commits),
        "started": env.started,
        "cases": cases,
        "recommendations": report.recommendations,
        "notes": report.notes,
        "overhead": _probe_rows(report.overhead),
        "bandwidth": _probe_rows(report.bandwidth),
        "metg": metg,
        "startup": startup,
        "figures": _figures(env_figures),
    }, figures


def _templates(autoescape: bool) -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    templates = Environment(
        loader=PackageLoader("bench.report", "templates"),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    if not autoescape:  # Markdown: every value from a journal is text, never markup or a table cell's end
        templates.finalize = escape
    return templates


def _advice(record: Any) -> dict[str, Any]:
    """An ``advise`` run's race and forecast, as the report shows them."""
    from bench.model.advise import row_label

    best = record.recommendation
    rows = [
        {
            "config": row_label(row),
            "measured": prediction_text(row["speedup"]),
            "model": prediction_text(row["predicted"]),
            "rounds": row["rounds"],
            "outcome": row["outcome"],
        }
        for row in ([best] if best else []) + list(record.runner_ups)
    ]
    return {
        "case": f"{record.workload}[{record.size}]",
        "recommendation": row_label(best) if best else None,
        "threads": best.get("threads_per_worker") if best else None,
        "measured": prediction_text(best["speedup"]) if best else "",
        "predicted": prediction_text(best["predicted"]) if best else "",
        "candidates": len(record.candidates),
        "raced": sum(bool(c.get("entered")) for c in record.candidates),
        "spent": duration_text(record.spent_s or 0.0),
        "budget": duration_text(record.budget_s or 0.0),
        "rows": rows,
        "forecast": [
            f"{row['workers']} workers ({row['scale']}x the cores): {row['executor']}, chunk {row['chunksize']}: "
            f"{prediction_text(row['predicted'])}"
            for row in record.forecast
        ],
        "ceiling": f"{record.ceiling:.0f}x" if record.ceiling else None,
        "calibration": record.calibration,
    }


def render(analysis: Analysis, generator: str) -> tuple[list[Figure], str, str]:
    """Every figure, the HTML page (every journal string escaped) and the Markdown summary."""
    several = len(analysis.environments) > 1
    environments, figures = [], []
    for report in analysis.environments:
        context, made = _environment(report, several, analysis.answered)
        environments.append(context)
        figures += made
    not_measured = [
        {"status": status, "executor": executor, "reason": reason, "count": count}
        for (status, executor, reason), count in sorted(analysis.not_ok.items())
    ]
    ok = analysis.ok_cells
    context = {
        "generator": generator,
        "journals": sum(len(env.env.journals) for env in analysis.environments),
        "cells": analysis.cells,
        "ok_cells": ok,
        "environments": environments,
        "several": several,
        "answers": [_answer(case) for case in analysis.answered],
        "advice": [_advice(record) for record in analysis.advice],
        "not_measured": not_measured,
        "failed": sum(c for (status, _, _), c in analysis.not_ok.items() if status in FAILED),
        "orphans": analysis.orphans,
        "level": f"{stats.LEVEL:.0%}",
        "alpha": f"{ALPHA:g}",
        "min_rounds": stats.min_samples(),
        "gap_limit": f"{GAP_LIMIT:.0%}",
        "first_started": min((run.started for run in analysis.runs), default=""),
    }
    html = _templates(True).get_template("index.html.j2").render(context)
    markdown = _templates(False).get_template("summary.md.j2").render(context)
    return figures, html, markdown
