"""What the cost model says of measured cases, for the report: each case's cells predicted against their
measurements, the best predicted chunk size beside the measured best, and a forecast of the speedup on
machines of up to :data:`FORECAST_MOST` workers; and the best configuration a forecast predicts at a worker
count, for the report and ``advise`` alike.

The report's analysis asks once per environment (:func:`model_view`): the parameters are fitted (or a
calibration read) once, here, and the view holds all the report shows of the model.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bench.data import stats
from bench.data.derived import case_level
from bench.data.format import speedup_text
from bench.data.journal import JournalError, Results
from bench.data.schema import NO_CHUNKS, Case, CellRecord
from bench.model import calibrate, cost

__all__ = ["CLOSE", "FORECAST_MOST", "CaseInput", "CaseModel", "EnvModel", "best_at", "model_view"]

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
    speedup: cost.Prediction


@dataclass(frozen=True)
class BestRow:
    """At one executor and worker count: the measured best chunk size and the predicted best."""

    executor: str
    workers: int
    measured_chunk: str
    measured: stats.Estimate
    predicted_chunk: int
    predicted: cost.Prediction
    #: The model's speedup for the measured best configuration.
    predicted_measured: cost.Prediction
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
    """The model's view of one environment: where its parameters came from, and each case's view."""

    source: str
    cases: dict[Case, CaseModel] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseInput:
    """What the report measured of one case: its ok records, its parallel configurations ranked best first
    (the newest record of each, with its pooled speedup), and the map method of its best."""

    case: Case
    records: Sequence[CellRecord]
    ranked: Sequence[tuple[CellRecord, stats.Estimate]]
    method: str = "map"


def _plan(
    results: Results, cells: list[CellRecord], profiles: calibrate.Profiles, search: Sequence[str | os.PathLike[str]]
) -> calibrate.Plan | None:
    """The parameters of one environment's cells (``bench.model.calibrate.plan``, in-sample where nothing else
    fits); a calibration found that cannot be read leaves the fit to the journals, and the source says so.
    None where nothing fits."""
    try:
        found = calibrate.plan(results, profiles, search=search, cells=cells, in_sample=True)
    except JournalError as exc:
        try:
            found = calibrate.plan(results, profiles, search=(), cells=cells, in_sample=True)
        except JournalError:
            return None
        found = replace(found, source=f"{found.source}; the calibration found could not be read ({exc})")
    return found if found.models else None


def best_at(
    fitted: cost.ExecutorModel, profile: cost.Profile, method: str, workers: int, cores: int, window: int | None
) -> tuple[int, cost.Prediction]:
    """The best predicted chunk size (of the suite's grid) at ``workers`` and its predicted speedup: on this
    machine (``cores``) up to its cores, beyond on a machine with a core for each worker and one for the
    driver."""
    machine = cores if workers <= cores else workers + 1
    setting = cost.Setting(workers, 1, method, window, machine)
    chunk = cost.best_chunk(fitted, profile, setting)
    predicted = cost.predict(fitted, profile, replace(setting, chunksize=chunk))
    return chunk, predicted.speedup(profile.wall_s)


def _forecast(
    fitted: cost.ExecutorModel, profile: cost.Profile, method: str, window_per_worker: float | None, cores: int
) -> list[ForecastPoint]:
    """The best predicted chunk size and speedup at each worker count (:func:`best_at`)."""
    points = []
    for workers in forecast_workers():
        window = max(1, round(window_per_worker * workers)) if window_per_worker else None
        points.append(ForecastPoint(workers, *best_at(fitted, profile, method, workers, cores, window)))
    return points


def _best_rows(
    ranked: Sequence[tuple[CellRecord, stats.Estimate]],
    models: dict[str, cost.ExecutorModel],
    profile: cost.Profile,
    cores: int,
) -> list[BestRow]:
    """Per executor and worker count measured: the measured best chunk size (of the ranked configurations)
    against the model's best, and whether they disagree beyond their intervals."""
    best: dict[tuple[str, int], tuple[CellRecord, stats.Estimate]] = {}
    for record, measured in ranked:
        best.setdefault((record.executor, record.workers), (record, measured))
    rows = []
    for (executor, workers), (record, measured) in best.items():
        fitted = models.get(executor)
        if fitted is None or record.chunksize_spec == NO_CHUNKS:
            continue
        setting = cost.Setting(workers, record.chunksize, record.method, record.window, cores)
        chunk = cost.best_chunk(fitted, profile, setting)
        predicted = cost.predict(fitted, profile, replace(setting, chunksize=chunk))
        predicted_measured = cost.predict(fitted, profile, setting)
        speedup, at_best = predicted.speedup(profile.wall_s), predicted_measured.speedup(profile.wall_s)
        if at_best.high < measured.low or at_best.low > measured.high:
            verdict = f"disagree: the model gives the measured best {speedup_text(at_best.estimate())}"
        elif chunk != record.chunksize and speedup.low > at_best.high:
            verdict = f"disagree: the model expects chunk {chunk} to be faster than the measured best"
        else:
            verdict = "agree"
        rows.append(BestRow(executor, workers, record.chunk_label(), measured, chunk, speedup, at_best, verdict))
    return rows


def model_view(
    results: Results, cases: Sequence[CaseInput], search: Sequence[str | os.PathLike[str]] = ()
) -> EnvModel | None:
    """The model's view of one environment's cases (the report's work, not its probes); None where it has
    no traced serial run (cost profile) or nothing to fit on. The parameters come from a calibration of the
    environment found under ``search``, else are fitted on its journals (``calibrate.plan``), once."""
    cells = [record for case in cases for record in case.records]
    if not cells:
        return None
    run_ids = {cell.run_id for cell in cells}
    env_cells = [cell for cell in results.cells if cell.ok and cell.times_s and cell.run_id in run_ids]
    profiles = calibrate.Profiles(results, here=False)
    if not any(profiles.of_case(cell)[0] is not None for cell in cells):
        return None
    chosen = _plan(results, env_cells, profiles, search)
    if chosen is None:
        return None
    view = EnvModel(chosen.source)
    cores = calibrate.cores_of(calibrate.env_of(results, cells[0]))
    for case in cases:
        found = _case_model(results, case, chosen, profiles, cores)
        if found is not None:
            view.cases[case.case] = found
    return view


def _case_model(
    results: Results, case: CaseInput, chosen: calibrate.Plan, profiles: calibrate.Profiles, cores: int
) -> CaseModel | None:
    """One case's view: its cells checked, each executor's forecast and the best chunk sizes compared."""
    records = list(case.records)
    if not records:
        return None
    profile, level = profiles.of_case(records[0])
    if profile is None or not profile.items:
        return None
    profile = profile.scaled(case_level(records, case.case) or level or profile.wall_s)
    models = chosen.models
    checked, _ = calibrate.check(results, models, calibrate.to_check(records, chosen.fitted_on), profiles)
    found = CaseModel(checked, profile.ceiling)
    for executor in dict.fromkeys(r.executor for r in records if r.executor != "serial"):
        fitted = models.get(executor)
        if fitted is None:
            continue
        windows = [r.window / r.workers for r in records if r.executor == executor and r.window]
        found.forecast[executor] = _forecast(fitted, profile, case.method, windows[0] if windows else None, cores)
    found.best = _best_rows(case.ranked, models, profile, cores)
    return found
