"""The cost model applied to journals: each cell's cost profile, fitting a back-end's parameters on
measured cells, calibrations (run, kept, found again), and checking predictions against measurements.

A calibration is a short sweep of the probes (:data:`PROBES`) on every back-end asked for, at one
worker and at the core count, one item per chunk and :data:`CHUNK` items per chunk, traced; the
parameters fitted on it (``bench.model.cost``) are kept as a ``calibration`` record at the end of its
journal, ``DIR/calibration/<environment id>.jsonl``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data import stats
from bench.data.derived import case_level
from bench.data.environment import env_id, env_summary
from bench.data.format import one_line, percent_text
from bench.data.journal import Journal, JournalError, Results, load, utc_now
from bench.data.schema import CalibrationRecord, CellRecord, TraceRecord
from bench.host.noise import Noise
from bench.model import cost

__all__ = [
    "CHUNK",
    "IN_SAMPLE",
    "PROBES",
    "Checked",
    "Plan",
    "Profiles",
    "calibrate",
    "calibration_matrix",
    "default_executors",
    "check",
    "find_calibration",
    "fit_cells",
    "median_error",
    "models_of",
    "newest_calibration",
    "plan",
    "serial_profile",
    "setting_of",
    "this_environment",
    "to_check",
]

#: The probe cases of a calibration: per-chunk and per-item cost (``noop``), per-byte cost
#: (``payload``, 256 KiB each way), and the computation's scaling (``spin``, 1 ms tasks).
PROBES = {"noop": 500, "payload": 32, "spin": 100}
PROBE_PARAMS = {"payload_bytes": ("262144",), "task_us": ("1000",)}
#: The chunk size beside 1 at which a calibration separates what a chunk costs from what an item does.
CHUNK = 32
#: Rounds of a calibration's cells.
ROUNDS = 3


def is_probe(cell: CellRecord) -> bool:
    """Whether the cell's workload is a registered probe (a user's workload named in a journal is never
    imported to find out)."""
    import workloads

    workload = workloads.registered(cell.workload)
    return bool(workload is not None and workload.probe)


def env_of(results: Results, cell: CellRecord) -> dict[str, Any]:
    run = results.run_of(cell)
    return dict(run.env) if run is not None else {}


def cores_of(env: Mapping[str, Any]) -> int:
    return int(env.get("cores_available") or env.get("cores") or os.cpu_count() or 1)


# -- cost profiles ------------------------------------------------------------------


def serial_profile(workload: str, size: int, params: Mapping[str, Any], timeout_s: float = 600.0) -> cost.Profile:
    """The cost profile of a case from a traced serial run made now, in this process, with the threads one
    process has with the whole machine (as the paired baselines). Raises what the run raised, and
    ValueError for a wrong answer."""
    import workloads
    from bench.executors import get as executor
    from bench.measuring.measure import time_run
    from bench.measuring.plan import Cell
    from bench.measuring.trace import Tracer

    found = workloads.get(workload)
    plan_cell = Cell("serial", 1, workload, size, 1, "1", tuple(sorted(params.items())), method="map")
    tracer = Tracer(1)
    serial = executor("serial")
    with serial(1, threads=serial.worker_cores(1)) as pool, pool.limits():
        _, answer = time_run(pool, plan_cell, timeout_s, tracer=tracer)
    if not found.verify(answer, size, **params):
        raise ValueError(f"wrong answer: {found.name}'s verify rejected the serial run's answer")
    trace = tracer.trace()
    return cost.Profile.from_columns(trace.chunks, trace.wall_s, trace.count, "here")


def profile_here(cell: CellRecord) -> tuple[cost.Profile | None, str | None]:
    """The cost profile of ``cell``'s case from a traced serial run made now (:func:`serial_profile`), for
    a journal that holds none; else None and why not: the workload is not registered here (a user's workload
    named in a journal is never imported: its journals hold their traced serial runs), has no serial run,
    or its run failed."""
    import workloads

    workload = workloads.registered(cell.workload)
    if workload is None:
        return None, "not in the journal, and the workload is not registered here"
    if not workload.baseline:
        return None, "the workload has no serial run"
    try:
        return serial_profile(cell.workload, cell.size, dict(cell.param_items)), None
    except Exception as exc:
        return None, f"its serial run here failed: {one_line(exc)}"


@dataclass
class Profiles:
    """Each case's cost profile at each cell's serial level: from the journal's traced serial run of the
    case, else (``here``) from one made now, whose shape is then scaled to the journal's own baselines."""

    results: Results
    here: bool = True
    #: Made once each: the profiles of serial runs made here (by case), those read from trace records (by
    #: record), and the serial level of each case's baselines (by run and case).
    _cases: dict[Any, tuple[cost.Profile | None, str | None]] = field(default_factory=dict)
    _read: dict[int, tuple[TraceRecord, cost.Profile]] = field(default_factory=dict)
    _levels: dict[Any, float | None] = field(default_factory=dict)
    _by_case: dict[Any, TraceRecord] | None = None

    def _traced(self) -> dict[Any, TraceRecord]:
        """Each case's first cost profile, whichever executor group it ran beside (made once)."""
        if self._by_case is None:
            self._by_case = {}
            for trace in self.results.traces:
                if trace.role == "profile":
                    self._by_case.setdefault((trace.run_id, trace.case), trace)
        return self._by_case

    def of_case(self, cell: CellRecord) -> tuple[cost.Profile | None, float | None]:
        """(the case's profile at the level it was measured at, the serial level its baselines give)."""
        trace = self.results.profile_of(cell) or self._traced().get((cell.run_id, cell.case))
        if trace is not None:
            if id(trace) not in self._read:
                profile = cost.Profile.from_columns(trace.chunks, trace.wall_s, trace.chunks_total, "trace")
                self._read[id(trace)] = (trace, profile)
            level = trace.wall_s * trace.serial_scale if trace.serial_scale else None
            return self._read[id(trace)][1], level
        if not self.here:
            return None, None
        key = (cell.workload, cell.size, cell.param_items)
        if key not in self._cases:
            self._cases[key] = profile_here(cell)
        return self._cases[key][0], self._case_level(cell)

    def why_none(self, cell: CellRecord) -> str:
        """Why ``cell``'s case has no cost profile, as far as it is known."""
        found = self._cases.get((cell.workload, cell.size, cell.param_items))
        if found is not None and found[1]:
            return found[1]
        return "no traced serial run in the journal" + ("" if self.here else ", and none made here")

    def _case_level(self, cell: CellRecord) -> float | None:
        """The median of the baselines of ``cell``'s case in its run."""
        key = (cell.run_id, cell.case)
        if key not in self._levels:
            runs = [other for other in self.results.cells if other.run_id == cell.run_id]
            self._levels[key] = case_level(runs, cell.case)
        return self._levels[key]

    def at_level(self, cell: CellRecord) -> cost.Profile | None:
        """The case's profile at ``cell``'s serial level: the median of its own paired baselines (the serial
        runs taken in the same rounds), else of the case's."""
        profile, level = self.of_case(cell)
        if profile is None:
            return None
        if cell.paired and cell.baseline_s:
            level = stats.median(cell.baseline_s)
        return profile.scaled(level) if level else profile


def setting_of(cell: CellRecord, cores: int | None) -> cost.Setting:
    return cost.Setting(cell.workers, max(1, cell.chunksize), cell.method, cell.window, cores)


def noise_of(cell: CellRecord) -> float:
    """The relative half-width of the interval of what the cell measured (:func:`measured_s`): its
    measurement's noise."""
    speedup = cell.speedup
    estimate = speedup if speedup is not None and speedup.value > 0 else stats.median_ci(cell.times_s)
    half = estimate.relative_half_width
    return cost.NOISE_FLOOR if not math.isfinite(half) else max(half, cost.NOISE_FLOOR)


def measured_s(cell: CellRecord, profile: cost.Profile) -> float:
    """What ``cell`` measured, as a run time at its ``profile``'s serial level (the median of its own
    paired baselines): that level over its paired speedup, where it has one. Each round is set against the
    serial run beside it, so the machine's changes of speed between rounds and cells cancel, as they do in
    the speedups the suite reports; the model is fitted and checked on what it predicts there. Without a
    paired baseline: the median of its times."""
    speedup = cell.speedup
    if speedup is not None and speedup.value > 0:
        return profile.wall_s / speedup.value
    return stats.median(cell.times_s)


#: The shortest mean item (s) whose trace tells the computation's scaling: on shorter items the tracing
#: wrapper's own cost and the timer's resolution weigh as much as the item.
COMPUTES_FROM_S = 100e-6


def computes(profile: cost.Profile) -> bool:
    """Whether a case's items compute long enough, and make most of its serial time, for a trace of it to
    measure how computation scales."""
    return (
        profile.items > 0
        and profile.compute_s / profile.items >= COMPUTES_FROM_S
        and profile.compute_s >= 0.5 * profile.wall_s
    )


def observations(
    results: Results, cells: Iterable[CellRecord], profiles: Profiles
) -> dict[str, list[cost.Observation]]:
    """Per executor, what its ``cells`` measured: each ok cell's median (at its case's profile), and the
    computation scaling of each traced one."""
    found: dict[str, list[cost.Observation]] = {}
    for cell in cells:
        if not cell.ok or not cell.times_s or cell.executor == "serial":
            continue
        setting = setting_of(cell, cores_of(env_of(results, cell)))
        profile = profiles.at_level(cell)
        into = found.setdefault(cell.executor, [])
        if profile is not None and profile.items:
            into.append(cost.Observation(profile, setting, measured_s(cell, profile), noise_of(cell)))
        computation = (cell.pop or {}).get("computation")
        if computation and profile is not None and computes(profile):
            into.append(cost.Observation(None, setting, computation=float(computation)))
    return found


def startups(cells: Iterable[CellRecord]) -> dict[str, list[tuple[int, float]]]:
    """Per executor, (workers, start-up seconds) of each instance the cells ran on."""
    seen: dict[str, dict[Any, tuple[int, float]]] = {}
    for cell in cells:
        if cell.startup_s is not None and cell.executor != "serial":
            seen.setdefault(cell.executor, {})[(cell.run_id, cell.instance, cell.workers)] = (
                cell.workers,
                cell.startup_s,
            )
    return {name: list(found.values()) for name, found in seen.items()}


def overlaps(executor: str) -> bool:
    """Whether the back-end's map hands out chunks while it still reads its input (True where unknown)."""
    from bench.executors import get

    try:
        return bool(get(executor).map_overlaps_input)
    except KeyError:
        return True


def fit_cells(results: Results, cells: Sequence[CellRecord], profiles: Profiles) -> dict[str, cost.ExecutorModel]:
    """Each executor's model fitted on ``cells`` (executors with nothing to fit on are left out)."""
    cores = max((cores_of(env_of(results, cell)) for cell in cells), default=os.cpu_count() or 1)
    found = {}
    starts = startups(cells)
    for executor, observed in observations(results, cells, profiles).items():
        if not any(obs.profile is not None for obs in observed):
            continue
        startup = cost.fit_startup(starts.get(executor, []))
        found[executor] = cost.fit(executor, observed, cores, startup=startup, overlap=overlaps(executor))
    return found


# -- calibrations -----------------------------------------------------------------


def default_executors() -> list[str]:
    """Every back-end available here but serial (the baseline) and dask-slurm (a cluster's)."""
    import bench.executors

    found = []
    for name in bench.executors.names():
        cls = bench.executors.get(name)
        if name not in ("serial", "dask-slurm") and cls.available() is None and cls.unsupported(1) is None:
            found.append(name)
    return found


def calibration_matrix(executors: Sequence[str], cores: int) -> Any:
    from bench.measuring.plan import Matrix

    return Matrix(
        executors=tuple(executors),
        workloads=tuple(PROBES),
        workers=tuple(sorted({1, cores})),
        chunksizes=("1", str(CHUNK)),
        workload_sizes={name: (size,) for name, size in PROBES.items()},
        params=dict(PROBE_PARAMS),
        repeats=ROUNDS,
        warmup="short",
        memory=False,  # the model has no use for the driver's peak memory: a run under tracemalloc per cell
    )


def models_of(record: CalibrationRecord) -> dict[str, cost.ExecutorModel]:
    """The back-ends' models a calibration record holds; ValueError says what is wrong with it."""
    return {name: cost.ExecutorModel.from_json(name, data) for name, data in record.executors.items()}


def calibration_record(
    run_id: str,
    env: Mapping[str, Any],
    models: Mapping[str, cost.ExecutorModel],
    noise: Mapping[str, Any] | None = None,
) -> CalibrationRecord:
    return CalibrationRecord(
        run_id=run_id,
        env_id=env_id(env),
        created=utc_now(),
        cores=cores_of(env),
        params=list(cost.PARAMS),
        executors={name: fitted.to_json() for name, fitted in models.items()},
        env=dict(env),
        noise=dict(noise) if noise is not None else None,
    )


def calibration_path(out: str | os.PathLike[str], env: Mapping[str, Any]) -> Path:
    return Path(out) / "calibration" / f"{env_id(env)}.jsonl"


def calibrate(
    executors: Sequence[str],
    out: str | os.PathLike[str] = "results",
    *,
    progress: Any = None,
    argv: Sequence[str] | None = None,
) -> tuple[Path | None, CalibrationRecord | None, Results]:
    """Run the probes on ``executors`` and fit them; the journal, with the calibration record last, becomes
    ``out/calibration/<environment id>.jsonl`` (an earlier calibration of this environment is kept beside
    it, renamed after its run). On the ranks of an MPI launch other than 0: (None, None, empty results)."""
    from bench.host.provenance import available_cores
    from bench.measuring.runner import sweep

    folder = Path(out) / "calibration"
    results = sweep(calibration_matrix(executors, available_cores()), out=folder, progress=progress, argv=argv)
    if results.path is None:
        return None, None, results
    profiles = Profiles(results, here=False)
    models = fit_cells(results, [cell for cell in results.cells if cell.ok], profiles)
    env = results.runs[0].env if results.runs else {}
    # the machine's noise while the probes ran, without its spins
    noise = Noise.from_json(results.noise[0].to_json()).to_json(samples=False) if results.noise else None
    record = calibration_record(results.runs[0].run_id, env, models, noise)
    with Journal.reopen(results.path) as journal:
        journal.write(record)
    final = calibration_path(out, env)
    if final.exists():
        try:
            earlier = load(final)
            keep = final.with_name(f"{final.stem}-{earlier.runs[0].run_id}.jsonl")
        except JournalError:
            keep = final.with_name(f"{final.stem}-{utc_now().replace(':', '')}.jsonl")
        if not keep.exists():
            final.rename(keep)
    if final.exists():  # kept under neither name: this one stays under its run's name
        return results.path, record, results
    results.path.rename(final)
    return final, record, load(final)


def newest_calibration(path: str | os.PathLike[str]) -> CalibrationRecord:
    """The newest calibration record of a calibration journal; JournalError when it holds none."""
    results = load(path)
    if not results.calibrations:
        raise JournalError(f"{path}: no calibration record in it (run python -m bench calibrate)")
    return results.calibrations[-1]


def this_environment() -> dict[str, Any]:
    """What names this environment (``bench.data.environment.env_id``), as a run record's ``env`` holds it."""
    from bench.host.provenance import collect_identity

    return collect_identity()


def find_calibration(env: Mapping[str, Any], folders: Iterable[str | os.PathLike[str]]) -> Path | None:
    """A calibration of the environment ``env`` in one of ``folders`` (``<folder>/calibration/<id>.jsonl``)."""
    for folder in folders:
        path = calibration_path(folder, env)
        if path.is_file():
            return path
    return None


# -- checking -----------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """A cell's measured median against the model's prediction."""

    cell: CellRecord
    measured: stats.Estimate
    predicted: cost.Prediction
    #: The model's computation scaling at the cell's workers, and the one its trace measured (if traced).
    modelled_computation: float
    traced_computation: float | None
    profile_source: str
    #: The cores of the machine the cell ran on, and whether its items compute long enough for a trace
    #: to tell their scaling.
    cores: int | None = None
    computes: bool = True
    #: The cell's paired speedup (each round against the serial run beside it) and the serial level the
    #: prediction was made at (the median of those serial runs): the speedup predicted is that level over
    #: the predicted time. None without a paired baseline.
    speedup: stats.Estimate | None = None
    serial_s: float | None = None

    @property
    def error(self) -> float:
        return cost.relative_error(self.predicted.value, self.measured.value)

    @property
    def predicted_speedup(self) -> cost.Prediction | None:
        return self.predicted.speedup(self.serial_s) if self.serial_s else None

    @property
    def speedup_error(self) -> float | None:
        """The predicted paired speedup's relative error, None without a paired baseline."""
        predicted = self.predicted_speedup
        if predicted is None or self.speedup is None:
            return None
        return cost.relative_error(predicted.value, self.speedup.value)

    @property
    def within_noise(self) -> bool | None:
        """Whether the speedup's error lies within the measured speedup's own 95% interval: the noise the
        machine put into the cell's rounds explains it (None without a paired speedup)."""
        predicted = self.predicted_speedup
        if predicted is None or self.speedup is None:
            return None
        return self.speedup.low <= predicted.value <= self.speedup.high

    @property
    def agrees(self) -> bool:
        """The prediction's interval and the measurement's overlap."""
        return self.predicted.low <= self.measured.high and self.measured.low <= self.predicted.high

    def reason(self) -> str:
        """What the trace and the measurement say about a large error, as far as they tell."""
        cell, traced = self.cell, self.traced_computation
        inner = cell.threads_per_worker or 1
        if self.cores and inner > 1 and cell.workers * inner > self.cores:
            return (
                f"inner threads oversubscribe the cores ({cell.workers} workers x {inner} threads on {self.cores}), "
                "which the model does not play"
            )
        if self.computes and traced is not None and abs(traced - self.modelled_computation) > 0.1:
            why = (
                " (the task releases the GIL)"
                if cell.executor in cost.GIL_EXECUTORS and traced > self.modelled_computation
                else ""
            )
            return f"computation scaled {traced:.2f} in its trace, {self.modelled_computation:.2f} in the model{why}"
        noise = self.measured.relative_half_width
        if noise > abs(self.error):
            return f"within its own noise (median ±{noise:.0%})"
        if cell.busy:
            return "the machine was busy while it ran"
        if self.profile_source == "here":
            return "cost profile from a serial run made here, not in the journal"
        side = "slower" if self.error < 0 else "faster"
        return f"its dispatch ran {side} than the fitted costs say (per chunk, item or byte)"


def check(
    results: Results,
    models: Mapping[str, cost.ExecutorModel],
    cells: Iterable[CellRecord],
    profiles: Profiles,
) -> tuple[list[Checked], dict[str, int]]:
    """Every ok cell's prediction against its measurement; and why the others were not checked
    (reason -> cells)."""
    checked: list[Checked] = []
    skipped: dict[str, int] = {}
    for cell in cells:
        fitted = models.get(cell.executor)
        if fitted is None:
            reason = f"no parameters for {cell.executor}"
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        profile = profiles.at_level(cell)
        if profile is None or not profile.items:
            reason = f"no cost profile of {cell.workload}: {profiles.why_none(cell)}"
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        setting = setting_of(cell, cores_of(env_of(results, cell)))
        predicted = cost.predict(fitted, profile, setting)
        contention = fitted.param("contention")[0]
        factor = cost.inflation(contention, cell.workers, gil=fitted.gil, saturate=fitted.cores, cores=setting.cores)
        traced = (cell.pop or {}).get("computation")
        checked.append(
            Checked(
                cell,
                stats.median_ci(cell.times_s),
                predicted,
                1 / factor,
                traced,
                profile.source,
                setting.cores,
                computes(profile),
                cell.speedup,
                profile.wall_s,
            )
        )
    return checked, skipped


def median_error(checked: Sequence[Checked]) -> float | None:
    """The median absolute relative error, None for no cells."""
    return float(stats.median([abs(c.error) for c in checked])) if checked else None


@dataclass(frozen=True)
class SpeedupCheck:
    """The predicted paired speedups against the measured ones, and how much of the error the noise
    explains: ``cells`` with a paired speedup; ``error`` their median absolute relative error; ``within``
    those whose prediction lies within the measured speedup's own 95% interval (what the machine's noise in
    their rounds allows); ``noise`` the median relative half-width of those intervals; ``beyond`` the median
    absolute error of the others (what the model gets wrong beyond the noise), None where there are none."""

    cells: int
    error: float
    within: int
    noise: float
    beyond: float | None

    def line(self) -> str:
        said = (
            f"paired speedups: median absolute error {self.error:.1%} over {self.cells} cells; "
            f"{self.within} of them lie within their measured interval (the noise of their rounds, median "
            f"±{percent_text(self.noise)})"
        )
        if self.beyond is None:
            return said + ": the noise explains every error"
        return said + f"; the other {self.cells - self.within}: median error {self.beyond:.1%}"


def speedup_check(checked: Sequence[Checked]) -> SpeedupCheck | None:
    """:class:`SpeedupCheck` of the checked cells with a paired speedup; None where none has one."""
    paired = [
        (abs(error), bool(c.within_noise), c.speedup.relative_half_width)
        for c in checked
        if (error := c.speedup_error) is not None and c.speedup is not None
    ]
    if not paired:
        return None
    beyond = [error for error, within, _ in paired if not within]
    finite = [half for _, _, half in paired if math.isfinite(half)]
    return SpeedupCheck(
        len(paired),
        float(stats.median([error for error, _, _ in paired])),
        len(paired) - len(beyond),
        float(stats.median(finite)) if finite else math.inf,
        float(stats.median(beyond)) if beyond else None,
    )


# -- which parameters predict which cells ------------------------------------------


@dataclass
class Plan:
    """What ``model check`` (and the report) predicts with what: the models, the cells they were fitted on
    (never predicted), and where the parameters came from."""

    models: dict[str, cost.ExecutorModel]
    fitted_on: set[Any]
    source: str


def _envs(results: Results, cells: Sequence[CellRecord]) -> dict[str, dict[str, Any]]:
    """The environments of the runs that measured ``cells``, by id."""
    runs = {cell.run_id for cell in cells}
    return {env_id(run.env): dict(run.env) for run in results.runs if run.run_id in runs}


#: Where a plan fitted on the cells it predicts.
IN_SAMPLE = "these cells themselves (in-sample: run python -m bench calibrate for an independent check)"


def plan(
    results: Results,
    profiles: Profiles,
    *,
    fit_workers: Sequence[int] | None = None,
    calibration: str | os.PathLike[str] | None = None,
    search: Iterable[str | os.PathLike[str]] = (),
    cells: Sequence[CellRecord] | None = None,
    in_sample: bool = False,
) -> Plan:
    """The models to predict ``results``'s cells with: with ``fit_workers``, fitted on the journals' probes
    (and traces) and the cells at those worker counts; else a calibration's (``calibration``, else the
    calibration of the journals' environment found under ``search``), else fitted on the journals' probes
    (and traces). ``cells``: those of ``results`` to predict (default: all). ``in_sample``: where no
    calibration is found and the probes fit nothing, fit on the cells themselves (:data:`IN_SAMPLE`) rather
    than refuse. JournalError says why none can be had."""
    ok = [cell for cell in (results.cells if cells is None else cells) if cell.ok and cell.times_s]
    if not ok:
        raise JournalError("no ok cell in the journals: nothing to predict")
    envs = _envs(results, ok)
    if calibration is None and fit_workers is None:
        calibration = next((found for env in envs.values() if (found := find_calibration(env, search))), None)
        if calibration is None and not in_sample and not any(is_probe(cell) for cell in ok):
            raise JournalError(
                "no probe cells in the journals and no calibration of their environment: run "
                "python -m bench calibrate, or give --calibration FILE or --fit-workers 1,2"
            )
    if calibration is not None:
        record = newest_calibration(calibration)
        if record.env_id not in envs:
            other = next(iter(envs.values()), {})
            raise JournalError(
                f"{calibration} calibrates another environment ({env_summary(record.env)}) than the "
                f"journals' ({env_summary(other)}); run python -m bench calibrate there"
            )
        try:
            models = models_of(record)
        except ValueError as exc:
            raise JournalError(f"{calibration}: {exc}") from None
        return Plan(models, set(), f"calibration {calibration}")
    chosen = [cell for cell in ok if is_probe(cell) or (fit_workers is not None and cell.workers in fit_workers)]
    if not chosen and not in_sample:
        raise JournalError(f"no cell at {', '.join(map(str, fit_workers or ()))} workers and no probes to fit on")
    if len(envs) > 1:
        raise JournalError("journals of several environments: check them one environment at a time")
    models = fit_cells(results, chosen, profiles) if chosen else {}
    if not models and in_sample:
        return Plan(fit_cells(results, ok, profiles), set(), IN_SAMPLE)
    what = "the probes" + (f" and the cells at {','.join(map(str, fit_workers))} workers" if fit_workers else "")
    return Plan(models, {(cell.run_id, cell.key) for cell in chosen}, what)


def to_check(cells: Iterable[CellRecord], fitted_on: set[Any]) -> list[CellRecord]:
    """The ok ``cells`` a check predicts: all but the serial ones (the model's input) and those fitted on."""
    return [
        cell
        for cell in cells
        if cell.ok and cell.times_s and cell.executor != "serial" and (cell.run_id, cell.key) not in fitted_on
    ]
