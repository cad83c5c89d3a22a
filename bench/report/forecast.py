"""The cost model in a report: each case's cells predicted against their measurements, the best predicted
chunk size beside the measured best, and a forecast of the speedup on machines of up to
:data:`FORECAST_MOST` workers (``bench.model``, ``bench.calibrate``)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bench import calibrate, model, stats
from bench.records import CellRecord
from bench.results import JournalError, Results
from bench.stats import speedup_text

__all__ = ["FORECAST_MOST", "CaseModel", "EnvModel", "model_environment"]

#: The most workers a forecast reaches, in powers of two from 1.
FORECAST_MOST = 1024
#: A relative error within which a prediction counts as close (the band of the model figure).
CLOSE = 0.10


def forecast_workers() -> list[int]:
    return [2**power for power in range(int(math.log2(FORECAST_MOST)) + 1)]


@dataclass(frozen=True)
class ForecastPoint:
    workers: int
    chunksize: int
    #: Predicted speedup over the case's serial time, with its interval.
    speedup: model.Prediction


@dataclass(frozen=True)
class BestRow:
    """At one executor and worker count: the measured best chunk size and the predicted best."""

    executor: str
    workers: int
    measured_chunk: str
    measured: stats.Estimate
    predicted_chunk: int
    predicted: model.Prediction
    #: The model's speedup for the measured best configuration.
    predicted_measured: model.Prediction
    verdict: str


@dataclass
class CaseModel:
    """The model's view of one case."""

    checked: list[calibrate.Checked]
    ceiling: float | None
    forecast: dict[str, list[ForecastPoint]] = field(default_factory=dict)
    best: list[BestRow] = field(default_factory=list)

    @property
    def median_error(self) -> float | None:
        return calibrate.median_error(self.checked)


@dataclass(frozen=True)
class EnvModel:
    """Where an environment's parameters came from (each case's view is its ``CaseReport.model``)."""

    source: str


def _plan(
    results: Results, cells: list[CellRecord], profiles: calibrate.Profiles, search: Sequence[str | os.PathLike[str]]
) -> calibrate.Plan | None:
    """The parameters of one environment's cells (``bench.calibrate.plan``, in-sample where nothing else
    fits); a calibration found that cannot be read leaves the fit to the journals. None where nothing fits."""
    for where in (search, ()):
        try:
            found = calibrate.plan(results, profiles, search=where, cells=cells, in_sample=True)
        except JournalError:
            continue
        return found if found.models else None
    return None


def _forecast(
    fitted: model.ExecutorModel, profile: model.Profile, method: str, window_per_worker: float | None, cores: int
) -> list[ForecastPoint]:
    """The best predicted chunk size and speedup at each worker count (on this machine up to its cores,
    beyond on a machine with a core for each worker and one for the driver)."""
    points = []
    for workers in forecast_workers():
        machine = cores if workers <= cores else workers + 1
        window = max(1, round(window_per_worker * workers)) if window_per_worker else None
        setting = model.Setting(workers, 1, method, window, machine)
        best = model.best_chunk(fitted, profile, setting)
        predicted = model.predict(fitted, profile, replace(setting, chunksize=best))
        points.append(ForecastPoint(workers, best, predicted.speedup(profile.wall_s)))
    return points


def _best_rows(
    case_points: Sequence[Any], models: dict[str, model.ExecutorModel], profile: model.Profile, cores: int
) -> list[BestRow]:
    """Per executor and worker count measured: the measured best chunk size (of the ranked points) against
    the model's best, and whether they disagree beyond their intervals."""
    best: dict[tuple[str, int], Any] = {}
    for point in case_points:
        best.setdefault((point.executor, point.workers), point)
    rows = []
    for (executor, workers), point in best.items():
        fitted = models.get(executor)
        if fitted is None or point.speedup is None or point.record.chunksize_spec == "n/a":
            continue
        record = point.record
        setting = model.Setting(workers, record.chunksize, record.method, record.window, cores)
        chunk = model.best_chunk(fitted, profile, setting)
        predicted = model.predict(fitted, profile, replace(setting, chunksize=chunk))
        predicted_measured = model.predict(fitted, profile, setting)
        speedup, at_best = predicted.speedup(profile.wall_s), predicted_measured.speedup(profile.wall_s)
        measured = point.speedup
        if at_best.high < measured.low or at_best.low > measured.high:
            verdict = f"disagree: the model gives the measured best {speedup_text(at_best.estimate())}"
        elif chunk != record.chunksize and speedup.low > at_best.high:
            verdict = f"disagree: the model expects chunk {chunk} to be faster than the measured best"
        else:
            verdict = "agree"
        rows.append(BestRow(executor, workers, record.chunk_label(), measured, chunk, speedup, at_best, verdict))
    return rows


def model_environment(
    results: Results, cases: Iterable[Any], search: Sequence[str | os.PathLike[str]] = ()
) -> EnvModel | None:
    """The model's view of one environment's cases (``CaseReport``s); None where it has no traced serial
    run (cost profile) or nothing to fit on."""
    cases = [case for case in cases if not case.probe]
    cells = [r for case in cases for p in case.points for r in p.records if r.ok and r.times_s]
    every = [r for r in results.cells if r.ok and r.times_s]
    run_ids = {cell.run_id for cell in cells}
    env_cells = [cell for cell in every if cell.run_id in run_ids]
    if not cells:
        return None
    profiles = calibrate.Profiles(results, here=False)
    if not any(profiles.of_case(cell)[0] is not None for cell in cells):
        return None
    chosen = _plan(results, env_cells, profiles, search)
    if chosen is None:
        return None
    models = chosen.models
    cores = calibrate.cores_of(calibrate.env_of(results, cells[0]))
    for case in cases:
        records = [r for p in case.points for r in p.records if r.ok and r.times_s]
        if not records:
            continue
        profile, level = profiles.of_case(records[0])
        if profile is None or not profile.items:
            continue
        baselines = [b for r in records for b in r.baseline_s or ()]
        profile = profile.scaled(stats.median(baselines) if baselines else level or profile.wall_s)
        checked, _ = calibrate.check(results, models, calibrate.to_check(records, chosen.fitted_on), profiles)
        found = CaseModel(checked, profile.ceiling)
        method = case.best.record.method if case.best is not None else "map"
        for executor in dict.fromkeys(p.executor for p in case.ok_points if p.executor != "serial"):
            fitted = models.get(executor)
            if fitted is None:
                continue
            windows = [
                p.record.window / p.workers for p in case.ok_points if p.executor == executor and p.record.window
            ]
            found.forecast[executor] = _forecast(fitted, profile, method, windows[0] if windows else None, cores)
        found.best = _best_rows(case.ranked, models, profile, cores)
        case.model = found
    return EnvModel(chosen.source)
