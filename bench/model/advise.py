"""Which configuration for my function: the cost model ranks every candidate, the best predicted race
each other on this machine, and the winner is the recommendation.

Steps: the environment's calibration (found, or run now); a traced serial run of the case (its cost
profile); a prediction for every candidate (executor x workers 1..K x chunk sizes on a geometric grid
x map methods); a race (``bench.measuring.race``) among the entrants (:func:`entrants`), measured in paired
rounds as any sweep, best predicted first; and an ``advice`` record after the cells in the journal.
Candidates, entrants and the recommendation are pure functions here; ``advise`` does the I/O.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data import stats
from bench.data.chunks import chunk_grid
from bench.data.environment import env_id, env_summary
from bench.data.format import config_text, one_line
from bench.data.journal import Journal, JournalError, Results
from bench.data.matrix import RACE, Matrix, PlanError
from bench.data.schema import AdviceRecord, CalibrationRecord, CellRecord
from bench.executors import plainness
from bench.host.noise import Noise
from bench.measuring.plan import CellSpec, Group, build_cells
from bench.measuring.race import Race
from bench.model import calibrate, cost
from bench.model.forecast import best_at

__all__ = [
    "BUDGET_S",
    "ENTRANTS_MOST",
    "FORECAST_SCALES",
    "Advice",
    "Candidate",
    "advise",
    "candidates",
    "entrants",
    "row_label",
]

#: Seconds the race may take by default.
BUDGET_S = 120.0
#: The most candidates that enter the race (see :func:`entrants`).
ENTRANTS_MOST = 12
#: Multiples of this machine's cores at which the advice forecasts the best configuration.
FORECAST_SCALES = (2, 8, 64)


@dataclass(frozen=True)
class Candidate:
    """One configuration the advice considers, with the model's predicted speedup."""

    executor: str
    workers: int
    chunksize: int
    method: str
    predicted: cost.Prediction

    @property
    def config(self) -> tuple[str, int, int, str]:
        return (self.executor, self.workers, self.chunksize, self.method)

    def label(self) -> str:
        """``process-pool x2, chunk 16, imap``."""
        return config_text(self.executor, self.workers, str(self.chunksize), self.method)

    def to_json(self, entered: bool) -> dict[str, Any]:
        return {
            "executor": self.executor,
            "workers": self.workers,
            "chunksize": self.chunksize,
            "method": self.method,
            "predicted": _prediction_json(self.predicted),
            "entered": entered,
        }


def _prediction_json(predicted: cost.Prediction) -> dict[str, float]:
    return {name: float(f"{getattr(predicted, name):.4g}") for name in ("value", "low", "high")}


def _estimate_json(estimate: stats.Estimate) -> dict[str, Any]:
    return {**_prediction_json(cost.Prediction(estimate.value, estimate.low, estimate.high)), "n": estimate.n}


# -- candidates -----------------------------------------------------------------------------


def window_of(workers: int) -> int:
    from bench.executors.base import WINDOW_PER_WORKER

    return WINDOW_PER_WORKER * workers


def candidates(
    models: Mapping[str, cost.ExecutorModel],
    profile: cost.Profile,
    max_workers: int,
    methods: Sequence[str],
    cores: int,
) -> list[Candidate]:
    """Every configuration of ``models``'s executors, workers 1..``max_workers``, the suite's chunk grid
    (``bench.data.chunks.chunk_grid``) and ``methods``, with its predicted speedup on a machine of ``cores``;
    best predicted first."""
    found = []
    for executor, fitted in models.items():
        for workers in range(1, max_workers + 1):
            for chunksize in chunk_grid(profile.items, workers):
                for method in methods:
                    window = window_of(workers) if method != "map" else None
                    setting = cost.Setting(workers, chunksize, method, window, cores)
                    predicted = cost.predict(fitted, profile, setting).speedup(profile.wall_s)
                    found.append(Candidate(executor, workers, chunksize, method, predicted))
    return sorted(found, key=lambda c: (-c.predicted.value, c.workers, c.config))


def entrants(ranked: Sequence[Candidate], most: int = ENTRANTS_MOST) -> list[Candidate]:
    """The candidates that race: each executor's best predicted (a back-end the model misjudges still gets
    its chance), then those whose predicted interval reaches the best's (the model cannot rule them out),
    best predicted first, at most ``most``; in the order of their predictions."""
    if not ranked:
        return []
    best = ranked[0]
    firsts: dict[str, Candidate] = {}
    for candidate in ranked:
        firsts.setdefault(candidate.executor, candidate)
    chosen = list(firsts.values())[:most]
    for candidate in ranked:
        if len(chosen) >= most:
            break
        if candidate not in chosen and candidate.predicted.high >= best.predicted.low:
            chosen.append(candidate)
    return sorted(chosen, key=ranked.index)


def row_label(row: Mapping[str, Any], short: bool = False) -> str:
    """The configuration of a recommendation's, runner-up's or forecast's row: ``process-pool x2, chunk 16,
    imap_unordered`` (``short``: ``imap-u``)."""
    return config_text(row["executor"], row["workers"], str(row["chunksize"]), row["method"], short=short)


# -- the advice -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Advice:
    """What :func:`advise` found: its journal's results (the raced cells), the advice record and where the
    model's parameters came from (``calibrated_s``: seconds spent calibrating now; None: found)."""

    results: Results
    record: AdviceRecord
    path: Path | None
    calibration: str
    calibrated_s: float | None
    #: Seconds the whole advice took, calibration included.
    wall_s: float

    @property
    def recommendation(self) -> dict[str, Any] | None:
        return self.record.recommendation


def _cell_config(cell: CellRecord) -> tuple[str, int, int, str]:
    return (cell.executor, cell.workers, cell.chunksize, cell.method)


def equivalent_here(cell: CellRecord, best: CellRecord, noise: Noise | None) -> float | None:
    """The resolution of the machine's noise where ``cell`` lies closer to ``best`` than it lets their rounds
    tell apart (``Noise.equivalent``, the report's rule); None where it does not, or without a probe."""
    faster, slower = best.speedup, cell.speedup
    if noise is None or faster is None or slower is None or not cell.ratios or not best.ratios:
        return None
    rounds = (len(best.ratios), len(cell.ratios))
    times = [*best.times_s, *cell.times_s]
    baselines = [*(best.baseline_s or []), *(cell.baseline_s or [])]
    return noise.equivalent(faster.value, slower.value, rounds, times, baselines)


def outcome(cell: CellRecord, best: CellRecord | None, threshold: float, noise: Noise | None = None) -> str:
    """How the race ended for a cell: ``eliminated r3 p=0.0012`` (after 3 rounds, at that one-sided
    p-value against the leader then), ``equivalent r9 ±12%`` (closer to the recommendation than the
    machine's noise lets their rounds tell apart), ``slower r9 p=0.01`` (measured to the end, then slower
    than the recommendation), ``not told apart r9``, ``budget spent r4``, ``recommended``, or why it failed."""
    if not cell.ok:
        return cell.status + (f": {cell.error}" if cell.error else "")
    if cell is best:
        return "recommended"
    if cell.stopped == "eliminated" and cell.eliminated_by:
        return f"eliminated r{cell.eliminated_by['round']} p={cell.eliminated_by['p']:.2g}"
    rounds = len(cell.times_s)
    if best is not None and cell.ratios and best.ratios:
        within = equivalent_here(cell, best, noise)
        if within is not None:
            return f"{EQUIVALENT} r{rounds} ±{within:.0%}"
        p = stats.slower_p(cell.ratios, best.ratios)
        if p <= threshold:
            return f"slower r{rounds} p={p:.2g}"
    if cell.stopped == "budget":
        return f"budget spent r{rounds}"
    return f"{NOT_TOLD_APART} r{rounds}"


#: The outcomes of the cells that the recommendation stands for: as fast as far as the rounds or the machine's
#: noise can tell.
EQUIVALENT, NOT_TOLD_APART = "equivalent", "not told apart"


def _plainest(best: CellRecord, cells: Sequence[CellRecord], outcomes: Mapping[int, str]) -> CellRecord:
    """Of ``best`` and the cells equivalent to it here or not told apart from it by rounds that could have
    told them apart, those significantly faster than serial: the plainest (``bench.executors.plainness``),
    then the faster. The report names the same one of the same cells."""
    pool = [best]
    for cell in cells:
        said = outcomes[id(cell)]
        if said.startswith(EQUIVALENT) or (
            said.startswith(NOT_TOLD_APART) and stats.separable(len(best.ratios or ()), len(cell.ratios or ()))
        ):
            pool.append(cell)
    speedups = {id(cell): cell.speedup for cell in pool}
    faster = [c for c in pool if (s := speedups[id(c)]) is not None and s.above(1)] or [best]

    def plain(cell: CellRecord) -> tuple[Any, ...]:
        speedup = speedups[id(cell)]
        return (
            *plainness(cell.executor, cell.workers, cell.chunksize_spec, cell.method),
            -(speedup.value if speedup else 0),
        )

    return min(faster, key=plain)


def recommend(
    cells: Sequence[CellRecord], race: Race, predicted: Mapping[tuple[str, int, int, str], cost.Prediction]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The recommendation and the runner-ups, best measured first. Best is the suite's rule everywhere (the
    report's too): the highest lower end of the paired speedup's 95% interval, the speedup the data vouch
    for, among the cells the race did not eliminate. Where the race began with a probe of the machine's noise
    and others are equivalent to it here or not told apart from it, the plainest of them is recommended, as
    the report recommends, and its row's ``equivalent`` counts the others (0 without a probe)."""
    speedups = {id(cell): cell.speedup for cell in cells}
    ranked = sorted(cells, key=lambda c: _rank(speedups[id(c)]), reverse=True)
    fastest = next((c for c in ranked if speedups[id(c)] is not None and c.stopped != "eliminated"), None)
    threshold = race.threshold(fastest.case) if fastest is not None else race.alpha
    best = fastest
    if fastest is not None and race.noise is not None:  # the machine probed: the report's rule, the plainest
        against_fastest = {id(cell): outcome(cell, fastest, threshold, race.noise) for cell in ranked}
        best = _plainest(fastest, ranked, against_fastest)
    outcomes = {id(cell): outcome(cell, best, threshold, race.noise) for cell in ranked}
    rows = []
    for cell in ranked:
        estimate = speedups[id(cell)]
        rows.append(
            {
                "executor": cell.executor,
                "workers": cell.workers,
                "chunksize": cell.chunksize,
                "method": cell.method,
                "threads": cell.threads,
                "threads_per_worker": cell.threads_per_worker,
                "rounds": len(cell.times_s),
                "speedup": _estimate_json(estimate) if estimate is not None else None,
                "predicted": _prediction_json(predicted[_cell_config(cell)])
                if _cell_config(cell) in predicted
                else None,
                "outcome": outcomes[id(cell)],
            }
        )
    if best is None:
        return None, rows
    first = ranked.index(best)
    alike = sum(said.startswith((EQUIVALENT, NOT_TOLD_APART)) for said in outcomes.values())
    rows[first]["equivalent"] = alike if race.noise is not None else 0
    return rows[first], [row for i, row in enumerate(rows) if i != first]


def _rank(estimate: stats.Estimate | None) -> tuple[float, float]:
    return (estimate.low, estimate.value) if estimate is not None else (-1.0, -1.0)


def forecast(
    models: Mapping[str, cost.ExecutorModel], profile: cost.Profile, method: str, cores: int
) -> list[dict[str, Any]]:
    """At each of :data:`FORECAST_SCALES` times this machine's cores (on a machine with a core per worker
    and one for the driver): the executor and chunk size with the best predicted speedup."""
    rows = []
    for scale in FORECAST_SCALES:
        workers = scale * cores
        best: tuple[float, dict[str, Any]] | None = None
        for executor, fitted in models.items():
            window = window_of(workers) if method != "map" else None
            chunk, predicted = best_at(fitted, profile, method, workers, cores, window)
            row = {"scale": scale, "workers": workers, "executor": executor, "chunksize": chunk, "method": method}
            row["predicted"] = _prediction_json(predicted)
            if best is None or predicted.value > best[0]:
                best = (predicted.value, row)
        if best is not None:
            rows.append(best[1])
    return rows


# -- advise ---------------------------------------------------------------------------------


def _check(budget: float, max_workers: int | None) -> None:
    if not (isinstance(budget, (int, float)) and not isinstance(budget, bool)) or not budget > 0:
        raise PlanError(f"budget must be a number of seconds above 0, not {budget!r}")
    if max_workers is not None and (isinstance(max_workers, bool) or not isinstance(max_workers, int)):
        raise PlanError(f"max workers must be a whole number from 1, not {max_workers!r}")
    if max_workers is not None and max_workers < 1:
        raise PlanError(f"max workers must be at least 1, not {max_workers}")


def _workload(spec: str, size: int | None, params: Mapping[str, Any] | None) -> tuple[Any, int, dict[str, Any]]:
    """The workload, its size and its parsed params; PlanError for what does not resolve."""
    import workloads

    try:
        found = workloads.get(spec)
    except (KeyError, workloads.WorkloadError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        raise PlanError(str(message)) from None
    if found.probe or not found.baseline:
        raise PlanError(f"{spec} is a probe of the executors' own costs, not work to advise on (python -m bench list)")
    chosen = found.default_size if size is None else size
    if isinstance(chosen, bool) or not isinstance(chosen, int) or chosen < 1:
        raise PlanError(f"size must be a whole number from 1, not {chosen!r}")
    parsed: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if key not in found.params:
            known = ", ".join(sorted(found.params)) or "none"
            raise PlanError(f"{spec} takes no parameter {key!r} (its parameters: {known})")
        try:
            parsed[key] = found.params[key].parse(key, str(value))
        except ValueError as exc:
            raise PlanError(str(exc)) from None
    for key, param in found.params.items():
        parsed.setdefault(key, param.default)
    return found, chosen, parsed


def _executors(asked: Sequence[str] | None) -> list[str]:
    import bench.executors

    names = list(asked) if asked else calibrate.default_executors()
    for name in names:
        if name not in bench.executors.names():
            raise PlanError(f"unknown executor {name!r}; known: {', '.join(bench.executors.names())}")
    names = [name for name in names if name not in ("serial", "dask-slurm")]
    usable = [name for name in names if bench.executors.get(name).available() is None]
    if not usable:
        raise PlanError("no executor to advise on: serial is the baseline, and the others asked for are unavailable")
    return usable


def _methods(workload: Any, asked: Sequence[str] | None) -> list[str]:
    methods = list(asked) if asked else list(workload.methods)
    for method in methods:
        if method not in workload.methods:
            raise PlanError(
                f"{workload.name} cannot run under {method!r} (it runs under {', '.join(workload.methods)})"
            )
    return methods


def _calibration(
    executors: Sequence[str], given: str | os.PathLike[str] | None, out: str | os.PathLike[str], progress: Any
) -> tuple[CalibrationRecord, str, float | None]:
    """This environment's calibration covering ``executors``: the one given, else the one found in ``out``
    or ``results``, else one made now (with the seconds it took)."""
    env = calibrate.this_environment()
    if given is not None:
        try:
            record = calibrate.newest_calibration(given)
        except JournalError as exc:
            raise PlanError(str(exc)) from None
        if record.env_id != env_id(env):
            raise PlanError(
                f"{given} calibrates another environment ({env_summary(record.env)}); "
                "run python -m bench calibrate here"
            )
        return record, str(given), None
    found = calibrate.find_calibration(env, dict.fromkeys([str(out), "results"]))
    if found is not None:
        try:
            kept: CalibrationRecord | None = calibrate.newest_calibration(found)
        except JournalError:  # unreadable: a new one replaces it (the old one is kept beside it)
            kept = None
        if kept is not None and all(name in kept.executors for name in executors):
            return kept, str(found), None
    started = time.perf_counter()
    path, made, _ = calibrate.calibrate(list(executors), out, progress=progress, argv=["calibrate", *executors])
    if made is None or path is None:
        raise PlanError("the calibration could not run here")
    return made, str(path), time.perf_counter() - started


@dataclass(frozen=True)
class Request:
    """What an advice is asked for, checked: the workload, its size and params, the executors, the map
    methods, the most workers, this machine's cores and the race's budget."""

    workload: str
    size: int
    params: dict[str, Any]
    executors: list[str]
    methods: list[str]
    most: int
    cores: int
    budget: float

    @classmethod
    def of(
        cls,
        workload: str,
        size: int | None,
        params: Mapping[str, Any] | None,
        executors: Sequence[str] | None,
        max_workers: int | None,
        methods: Sequence[str] | None,
        budget: float,
    ) -> Request:
        """PlanError for what cannot be advised on."""
        from bench.host.provenance import available_cores

        _check(budget, max_workers)
        found, size, parsed = _workload(workload, size, params)
        cores = available_cores()
        most = cores if max_workers is None else max_workers
        return cls(workload, size, parsed, _executors(executors), _methods(found, methods), most, cores, float(budget))

    def profile(self) -> cost.Profile:
        """The case's cost profile, from a traced serial run made now; PlanError when that run fails."""
        try:
            return calibrate.serial_profile(self.workload, self.size, self.params)
        except Exception as exc:
            raise PlanError(f"the serial run of {self.workload}[{self.size}] failed: {one_line(exc)}") from None


def race_plan(request: Request, racing: Sequence[Candidate], precision: float = 0.03) -> tuple[Matrix, list[Group]]:
    """The sweep of a race among ``racing``: a matrix that describes it (its run record's) and the groups of
    exactly those cells, the group of the best predicted first."""
    matrix = Matrix(
        executors=tuple(dict.fromkeys(c.executor for c in racing)),
        workloads=(request.workload,),
        workers=tuple(sorted({c.workers for c in racing})),
        chunksizes=tuple(str(c) for c in sorted({c.chunksize for c in racing})),
        sizes=(request.size,),
        methods=tuple(dict.fromkeys(c.method for c in racing)),
        params={key: (str(value),) for key, value in request.params.items()},
        repeats=RACE,
        precision=precision,
        oversubscribe=request.most > request.cores,
        max_case_time=None,
    )
    return matrix, build_cells(matrix, [CellSpec(*c.config) for c in racing])


def _models(record: CalibrationRecord, source: str, names: Sequence[str]) -> dict[str, cost.ExecutorModel]:
    models = {name: fitted for name, fitted in calibrate.models_of(record).items() if name in names}
    if not models:
        raise PlanError(f"the calibration {source} holds none of {', '.join(names)}")
    return models


def _advice_record(
    request: Request,
    results: Results,
    race: Race,
    source: str,
    ranked: Sequence[Candidate],
    racing: Sequence[Candidate],
    chosen: tuple[dict[str, Any] | None, list[dict[str, Any]]],
    forecast_rows: list[dict[str, Any]],
    ceiling: float | None,
) -> AdviceRecord:
    best, runner_ups = chosen
    return AdviceRecord(
        run_id=results.runs[0].run_id,
        workload=request.workload,
        size=request.size,
        params=request.params,
        max_workers=request.most,
        budget_s=request.budget,
        spent_s=round(race.spent_s, 3),
        calibration=source,
        candidates=[c.to_json(c in racing) for c in ranked],
        history=[event.to_json() for event in race.history],
        recommendation=best,
        runner_ups=runner_ups,
        forecast=forecast_rows,
        ceiling=None if ceiling is None else round(ceiling, 3),
    )


def advise(
    workload: str,
    *,
    size: int | None = None,
    params: Mapping[str, Any] | None = None,
    executors: Sequence[str] | None = None,
    max_workers: int | None = None,
    methods: Sequence[str] | None = None,
    budget: float = BUDGET_S,
    calibration: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = "results",
    precision: float = 0.03,
    progress: Any = None,
    argv: Sequence[str] | None = None,
) -> Advice:
    """Which executor, workers, chunk size and method to use for ``workload`` (a registered name,
    ``module:Class`` or ``path/file.py:Class``) on this machine, as ``python -m bench advise`` does.

    ``budget`` bounds the seconds of the race (a calibration made first, once per environment, is not
    counted). With ``out`` (a folder) the raced cells and the advice record go to a new journal there,
    and a calibration made now to ``out/calibration/``. PlanError (nothing written) for bad input: an
    unknown workload or executor, a budget of 0 or less, max workers below 1, a serial run that fails.
    """
    from bench.measuring import runner

    started = time.perf_counter()
    request = Request.of(workload, size, params, executors, max_workers, methods, budget)
    if out is not None:
        Journal.check(out)
    profile = request.profile()
    record, source, calibrated_s = _calibration(request.executors, calibration, out or "results", progress)
    models = _models(record, source, request.executors)
    ranked = candidates(models, profile, request.most, request.methods, request.cores)
    racing = entrants(ranked)
    matrix, groups = race_plan(request, racing, precision)
    race = Race.of(
        ((cell.key, cell.case, cell.label()) for group in groups for cell in group.cells if not cell.skip_reason),
        budget_s=request.budget,
    )
    results = runner.run_race(matrix, groups, race, out, progress=progress, argv=argv)
    if not results.runs:  # a rank that served rank 0
        empty = AdviceRecord(run_id="", workload=workload, size=request.size)
        return Advice(results, empty, None, source, calibrated_s, 0.0)
    chosen = recommend(results.cells, race, {c.config: c.predicted for c in ranked})
    rows = forecast(models, profile, chosen[0]["method"] if chosen[0] else "map", request.cores)
    advice = _advice_record(request, results, race, source, ranked, racing, chosen, rows, profile.ceiling)
    if results.path is not None:
        with Journal.reopen(results.path) as journal:
            journal.write(advice)
    final = Results.of(results.runs, [*results.cells, *results.traces, advice], results.resumes, results.paths)
    return Advice(final, advice, results.path, source, calibrated_s, time.perf_counter() - started)
