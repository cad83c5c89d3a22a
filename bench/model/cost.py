"""The cost model: what each back-end costs, and a simulation of its dispatch that predicts any
configuration (executor x workers x chunk size x method) from a few cheap measurements.

A back-end is described by six parameters (:data:`PARAMS`), each with an interval:

- ``run_s``: a run's fixed cost (the map call's set-up and its end), paid once, in the driver;
- ``chunk_s``, ``item_s``, ``byte_s``: the driver's cost of handing over a chunk, per chunk, per item and
  per byte of arguments and results (pickling, the library's bookkeeping, the result's receipt). The
  driver does this one chunk after the other: it bounds how many chunks a second any number of workers
  can get;
- ``worker_s``: a worker's cost per chunk beside its items (receiving, unpickling, replying), paid on
  the worker, so in parallel;
- ``contention``: how much slower the items compute per other busy worker (computation scaling,
  POP's CompS = 1 / (1 + contention x (workers - 1))): about 1 for threads under the GIL, a few percent
  for processes that share a machine's cores and memory.

A workload case is described by its cost profile (:class:`Profile`): each item's serial seconds and
its arguments' and result's pickled bytes, from the traced serial run of the case (``role``
``profile`` trace records), and the serial run's time outside the items (input, loop, reduce).

:func:`simulate` plays a run: chunks in submission order, each handed over by the driver in turn and
taken by the first free worker (``map``), with at most the recorded window of chunks in flight for
``imap`` (results taken in order) and ``imap_unordered`` (as they complete); each chunk's items cost
their profile's seconds times the contention factor at that worker count. :func:`fit` finds a
back-end's parameters by least squares on the logarithm of measured medians (and, where traces give
it, of the measured computation scaling), with their covariance from the fit's Jacobian; parameter
sets drawn from it (:data:`DRAWS`) propagate into every prediction's interval (:func:`predict`).

Everything here is a pure function of records and numbers; running what a calibration needs is
``bench.model.calibrate``.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bench.data.chunks import chunk_grid
from bench.data.stats import LEVEL, Estimate

__all__ = [
    "DRAWS",
    "GIL_EXECUTORS",
    "PARAMS",
    "ExecutorModel",
    "Observation",
    "Prediction",
    "Profile",
    "Setting",
    "best_chunk",
    "chunk_costs",
    "dispatch",
    "fit",
    "fit_startup",
    "inflation",
    "predict",
    "relative_error",
    "simulate",
]

#: The parameters of a back-end, in the order of every parameter vector.
PARAMS = ("run_s", "chunk_s", "item_s", "byte_s", "worker_s", "contention")
#: A typical size of each parameter: the fit's scale, and the unit of its weak prior.
TYPICAL = np.array([1e-3, 50e-6, 5e-6, 1e-9, 50e-6, 0.1])
#: Upper bounds of the parameters (a run's fixed cost of a minute would be no back-end at all).
UPPER = np.array([60.0, 1.0, 1.0, 1e-6, 1.0, 4.0])
#: Weight of the prior that pulls a parameter the measurements do not determine towards its prior value:
#: small beside the measurements' residuals (a few percent), so that it only settles what they leave open.
PRIOR_WEIGHT = 0.001
#: Parameter sets drawn from a fit's covariance; each prediction is simulated with every one of them.
DRAWS = 40
#: How much wider than the fit's covariance the candidates are first drawn (in standard deviations).
PROPOSAL_SCALE = 1.5
#: Rounds of candidate parameter sets tried for the draws, each narrower than the one before.
CANDIDATE_ROUNDS = 6
#: The relative noise of a measured median below which a fit's residuals are not trusted to be smaller.
NOISE_FLOOR = 0.01
#: Back-ends whose workers share one interpreter, and so one GIL: their contention grows with every
#: worker, whatever the cores.
GIL_EXECUTORS = frozenset({"thread-pool"})
# -- the cost profile of a case ------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """A case's serial costs: each item's seconds and its argument's and result's pickled bytes, and the
    serial run's wall time (its time outside the items is its input, loop and reduce)."""

    item_s: np.ndarray
    bytes_in: np.ndarray
    bytes_out: np.ndarray
    wall_s: float
    #: Where it came from: ``trace`` (the journal's traced serial run) or ``here`` (a serial run made now).
    source: str = "trace"
    #: :func:`chunk_costs` by chunk size, made once each (a fit simulates the same chunks thousands of times).
    _chunks: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_columns(cls, chunks: Mapping[str, Sequence[Any]], wall_s: float, total: int, source: str) -> Profile:
        """From a trace's columns (one item per chunk); a sampled trace (``total`` items, fewer kept) is
        filled in item by item from the nearest item kept."""
        first = np.asarray(chunks["first"], dtype=float)
        seconds = np.maximum(np.asarray(chunks["end"], dtype=float) - np.asarray(chunks["start"], dtype=float), 0.0)
        ins = np.asarray([b or 0 for b in chunks["bytes_in"]], dtype=float)
        outs = np.asarray([b or 0 for b in chunks["bytes_out"]], dtype=float)
        order = np.argsort(first)
        first, seconds, ins, outs = first[order], seconds[order], ins[order], outs[order]
        total = max(int(total), len(first))
        if total > len(first) and len(first):
            nearest = np.clip(np.searchsorted(first, np.arange(total), side="right") - 1, 0, len(first) - 1)
            seconds, ins, outs = seconds[nearest], ins[nearest], outs[nearest]
        return cls(seconds, ins, outs, float(wall_s), source)

    @property
    def items(self) -> int:
        return len(self.item_s)

    @property
    def compute_s(self) -> float:
        """The items' serial seconds together."""
        return float(self.item_s.sum())

    @property
    def outside_s(self) -> float:
        """The serial run's time outside the items: its input, its loop, its reduce (paid by the driver)."""
        return max(self.wall_s - self.compute_s, 0.0)

    @property
    def ceiling(self) -> float | None:
        """The most speedup the workload allows by itself: the serial time over its largest item's
        (no back-end splits an item), None for a profile without items."""
        largest = float(self.item_s.max()) if self.items else 0.0
        return self.wall_s / largest if largest > 0 else None

    def scaled(self, wall_s: float) -> Profile:
        """The same shape at another serial level (the median of the case's baselines, say)."""
        factor = wall_s / self.wall_s if self.wall_s > 0 else 1.0
        return replace(self, item_s=self.item_s * factor, wall_s=wall_s)


def chunk_costs(profile: Profile, chunksize: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per chunk of ``chunksize`` consecutive items: (items, serial seconds, bytes in and out)."""
    size = max(1, chunksize)
    if size not in profile._chunks:
        made = _chunk_costs(profile, size)
        for column in made:
            column.setflags(write=False)  # shared by every later call
        profile._chunks[size] = made
    return profile._chunks[size]


def _chunk_costs(profile: Profile, chunksize: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = profile.items
    if n == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    starts = np.arange(0, n, max(1, chunksize))
    counts = np.diff(np.append(starts, n)).astype(float)
    seconds = np.add.reduceat(profile.item_s, starts)
    nbytes = np.add.reduceat(profile.bytes_in + profile.bytes_out, starts)
    return counts, seconds, nbytes


# -- the simulation -------------------------------------------------------------


def inflation(
    contention: float, workers: int, *, gil: bool = False, saturate: int | None = None, cores: int | None = None
) -> float:
    """How much slower an item computes at ``workers`` busy workers than alone.

    Under a GIL every other worker slows it: 1 + contention x (workers - 1). Processes contend for what
    the machine shares (cores with the driver, memory bandwidth) only up to ``saturate`` workers (the
    cores of the machine the contention was measured on; None: no limit); on a machine of ``cores``
    cores, more workers than cores also share them in time (None: a core for every worker)."""
    if gil:
        return 1.0 + contention * (workers - 1)
    busy = workers if saturate is None else min(workers, saturate)
    factor = 1.0 + contention * (max(busy, 1) - 1)
    if cores is not None and workers > cores:
        factor *= workers / cores
    return factor


def dispatch(
    send: Sequence[float] | np.ndarray,
    work: Sequence[float] | np.ndarray,
    workers: int,
    method: str = "map",
    window: int | None = None,
) -> float:
    """The time from the first chunk's handing over to the last chunk's end.

    The driver hands chunk j over ``send[j]`` seconds after the one before, to the first free worker,
    which then works ``work[j]`` seconds on it. Under ``imap`` / ``imap_unordered`` at most ``window``
    chunks are in flight: the next is handed over once the oldest (``imap``, in order) or the first
    finished (``imap_unordered``) has been taken.

    Without a window, one worker and a worker for every chunk have closed forms (:func:`_dispatch_closed`,
    the same times in whole arrays); more workers than one and fewer than the chunks are played chunk by
    chunk."""
    count = len(send)
    if count == 0:
        return 0.0
    bounded = method != "map" and window is not None and window > 0
    if not bounded and (workers <= 1 or workers >= count):
        return _dispatch_closed(np.asarray(send, dtype=float), np.asarray(work, dtype=float), workers)
    return _dispatch_played(
        np.asarray(send, dtype=float).tolist(), np.asarray(work, dtype=float).tolist(), workers, method, window
    )


def _dispatch_closed(send: np.ndarray, work: np.ndarray, workers: int) -> float:
    """:func:`dispatch` without a window, where it has a closed form. Chunk j is handed over at
    ``c[j] = send[0] + ... + send[j]``. With a worker for every chunk each starts then: the last end is
    ``max(c[j] + work[j])``. With one worker each starts when handed over and the one before has ended,
    ``f[j] = max(f[j-1], c[j]) + work[j]``, which unrolls to ``W[j] + max over k <= j of (c[k] - W[k-1])``
    (``W``: the work's running sum)."""
    handed = np.cumsum(send)
    if workers > 1:
        return float(np.max(handed + work))
    done = np.cumsum(work)
    return float(done[-1] + np.max(handed - (done - work)))


def _dispatch_played(send: list[float], work: list[float], workers: int, method: str, window: int | None) -> float:
    """:func:`dispatch`, chunk by chunk: each to the first free worker, within the window."""
    count = len(send)
    free = [0.0] * max(1, min(workers, count))
    bounded = method != "map" and window is not None and window > 0
    ordered = method == "imap"
    in_order: deque[float] = deque()
    in_flight: list[float] = []
    clock = taken = end = 0.0
    for j in range(count):
        clock += send[j]
        if bounded:
            if ordered and len(in_order) >= window:  # type: ignore[operator]
                taken = max(taken, in_order.popleft())
                clock = max(clock, taken)
            elif not ordered and len(in_flight) >= window:  # type: ignore[operator]
                clock = max(clock, heapq.heappop(in_flight))
        earliest = free[0]
        finish = (earliest if earliest > clock else clock) + work[j]
        heapq.heapreplace(free, finish)
        if bounded:
            if ordered:
                in_order.append(finish)
            else:
                heapq.heappush(in_flight, finish)
        if finish > end:
            end = finish
    return end


@dataclass(frozen=True)
class Setting:
    """What a prediction is of: workers, chunk size, map method and window, and the machine."""

    workers: int
    chunksize: int
    method: str = "map"
    window: int | None = None
    #: The cores of the machine run on (None: a core for every worker, as in a forecast).
    cores: int | None = None


def simulate(
    profile: Profile,
    params: Sequence[float] | np.ndarray,
    setting: Setting,
    *,
    gil: bool = False,
    saturate: int | None = None,
    overlap: bool = True,
) -> float:
    """The predicted wall time of one run of ``profile``'s case under ``setting`` with ``params``.

    The serial run's time outside the items (making the input, reducing) is the driver's: spread over
    the chunks as it hands them over where the back-end's map reads its input as it goes (``overlap``, and
    always under the streaming methods), else paid before the first chunk leaves."""
    run_s, chunk_s, item_s, byte_s, worker_s, contention = (float(p) for p in params)
    counts, seconds, nbytes = chunk_costs(profile, setting.chunksize)
    busy = max(1, min(setting.workers, len(counts)))  # fewer chunks than workers leave the others idle
    factor = inflation(contention, busy, gil=gil, saturate=saturate, cores=setting.cores)
    send = chunk_s + item_s * counts + byte_s * nbytes
    work = worker_s + factor * seconds
    driver = run_s
    if overlap or setting.method != "map":
        send = send + profile.outside_s * counts / max(profile.items, 1)
    else:
        driver += profile.outside_s
    played = driver + dispatch(send, work, setting.workers, setting.method, setting.window)
    if setting.cores is None or gil:
        return played
    # the driver and the workers share the machine's cores: no run is shorter than their work spread over all
    return max(played, (driver + float(send.sum()) + float(work.sum())) / setting.cores)


# -- a back-end's parameters ------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """A predicted wall time (s) with its 95% interval."""

    value: float
    low: float
    high: float

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high

    def speedup(self, serial_s: float) -> Prediction:
        """The predicted speedup over a serial time (the interval turns over)."""
        return Prediction(serial_s / self.value, serial_s / self.high, serial_s / self.low)

    def estimate(self) -> Estimate:
        """As an estimate with a 95% interval, for the suite's formatting of durations and speedups."""
        return Estimate(self.value, self.low, self.high, LEVEL, DRAWS)


@dataclass(frozen=True)
class ExecutorModel:
    """A back-end's fitted parameters (:data:`PARAMS`) with 95% intervals, the parameter sets drawn
    for predictions, and how the fit went."""

    executor: str
    value: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    draws: tuple[tuple[float, ...], ...]
    #: The cores of the machine it was fitted on (where process contention stops growing).
    cores: int
    #: Measurements it was fitted on, and the root mean square of their relative residuals.
    cells: int = 0
    rms: float = 0.0
    gil: bool = False
    #: Whether the back-end's map hands out chunks while it still reads its input (``simulate``).
    overlap: bool = True
    #: Start-up against workers: ``base_s`` + ``per_worker_s`` x workers, with ``low``/``high`` and ``samples``.
    startup: dict[str, Any] | None = None

    def param(self, name: str) -> tuple[float, float, float]:
        """(value, low, high) of one parameter."""
        index = PARAMS.index(name)
        return self.value[index], self.low[index], self.high[index]

    def simulate(self, profile: Profile, setting: Setting, params: Sequence[float] | None = None) -> float:
        params = self.value if params is None else params
        return simulate(profile, params, setting, gil=self.gil, saturate=self.cores, overlap=self.overlap)

    def to_json(self) -> dict[str, Any]:
        def rounded(values: Iterable[float]) -> list[float]:
            return [float(f"{v:.6g}") for v in values]

        return {
            "params": {
                name: {"value": float(f"{v:.6g}"), "low": float(f"{lo:.6g}"), "high": float(f"{hi:.6g}")}
                for name, v, lo, hi in zip(PARAMS, self.value, self.low, self.high, strict=True)
            },
            "draws": [rounded(draw) for draw in self.draws],
            "cores": self.cores,
            "cells": self.cells,
            "rms": round(self.rms, 5),
            "gil": self.gil,
            "overlap": self.overlap,
            "startup": self.startup,
        }

    @classmethod
    def from_json(cls, executor: str, data: Mapping[str, Any]) -> ExecutorModel:
        """From a calibration record's entry; ValueError says what is missing."""
        try:
            params = data["params"]
            values = tuple(float(params[name]["value"]) for name in PARAMS)
            lows = tuple(float(params[name]["low"]) for name in PARAMS)
            highs = tuple(float(params[name]["high"]) for name in PARAMS)
            draws = tuple(tuple(float(v) for v in draw) for draw in data.get("draws") or ())
            if any(len(draw) != len(PARAMS) for draw in draws):
                raise ValueError("a parameter draw of the wrong length")
            return cls(
                executor,
                values,
                lows,
                highs,
                draws,
                int(data["cores"]),
                int(data.get("cells", 0)),
                float(data.get("rms", 0.0)),
                bool(data.get("gil", False)),
                bool(data.get("overlap", True)),
                data.get("startup"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the parameters of {executor} are incomplete ({exc})") from None


def predict(model: ExecutorModel, profile: Profile, setting: Setting) -> Prediction:
    """The predicted wall time of a run, with the interval its simulation spans under the parameter sets
    drawn from the fit's 95% region (the projection of that region: the central value always lies inside)."""
    value = model.simulate(profile, setting)
    if not model.draws:
        return Prediction(value, value, value)
    sims = np.array([model.simulate(profile, setting, draw) for draw in model.draws])
    return Prediction(value, min(float(sims.min()), value), max(float(sims.max()), value))


def best_chunk(fitted: ExecutorModel, profile: Profile, setting: Setting) -> int:
    """The chunk size of the suite's grid (``bench.data.chunks.chunk_grid``) with the shortest predicted run
    under ``setting`` (whose own chunk size is not used)."""
    return min(
        chunk_grid(profile.items, setting.workers),
        key=lambda chunk: fitted.simulate(profile, replace(setting, chunksize=chunk)),
    )


def relative_error(predicted: float, measured: float) -> float:
    """(predicted - measured) / measured."""
    return (predicted - measured) / measured


# -- fitting -------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """A measurement to fit on: the median wall time of a case's runs under a setting (``profile`` at the
    level of the serial runs taken beside it), with its relative noise; or, with ``computation`` set,
    the computation scaling (POP CompS) a trace measured at ``setting.workers``."""

    profile: Profile | None
    setting: Setting
    measured_s: float = 0.0
    noise: float = NOISE_FLOOR
    computation: float | None = None


def _prior(gil: bool) -> np.ndarray:
    prior = np.zeros(len(PARAMS))
    prior[PARAMS.index("contention")] = 1.0 if gil else 0.0
    return prior


def _residuals(
    theta: np.ndarray, observations: Sequence[Observation], gil: bool, saturate: int, overlap: bool = True
) -> np.ndarray:
    out = []
    contention = theta[PARAMS.index("contention")]
    for obs in observations:
        if obs.computation is not None:
            factor = inflation(contention, obs.setting.workers, gil=gil, saturate=saturate, cores=obs.setting.cores)
            out.append(math.log(factor * obs.computation))
        else:
            assert obs.profile is not None
            predicted = simulate(obs.profile, theta, obs.setting, gil=gil, saturate=saturate, overlap=overlap)
            out.append(math.log(max(predicted, 1e-12) / obs.measured_s))
    out.extend(PRIOR_WEIGHT * (theta - _prior(gil)) / TYPICAL)
    return np.asarray(out)


def _least_squares(observations: Sequence[Observation], gil: bool, cores: int, overlap: bool) -> Any:
    """scipy's least-squares solution with the lowest cost of three starts: the simulated time is a maximum
    of the driver's and the workers' paths, so the fit starts from each side of it and from between."""
    from scipy.optimize import least_squares

    solution = None
    for driver, worker in ((1.0, 1.0), (0.1, 4.0), (4.0, 0.1)):
        start = TYPICAL.copy()
        start[PARAMS.index("chunk_s")] *= driver
        start[PARAMS.index("worker_s")] *= worker
        start[PARAMS.index("contention")] = 1.0 if gil else 0.05
        found = least_squares(
            _residuals,
            start,
            bounds=(np.zeros(len(PARAMS)), UPPER),
            x_scale=TYPICAL,
            args=(observations, gil, cores, overlap),
            method="trf",
            diff_step=1e-3,
            max_nfev=200,
        )
        if solution is None or found.cost < solution.cost:
            solution = found
    return solution


def fit(
    executor: str,
    observations: Sequence[Observation],
    cores: int,
    *,
    seed: int = 0,
    startup: dict[str, Any] | None = None,
    overlap: bool = True,
) -> ExecutorModel:
    """A back-end's parameters, fitted by least squares on the logarithms of the measured medians (a
    relative error each), with a weak prior settling what the measurements leave open, and their
    covariance (the fit's Jacobian, scaled by the larger of its residual variance and the measurements'
    own noise) from which :data:`DRAWS` parameter sets within the 95% region are drawn; ``low``/``high``
    are the least and the most of them."""
    gil = executor in GIL_EXECUTORS
    usable = [
        obs for obs in observations if obs.computation is not None or (obs.profile is not None and obs.measured_s > 0)
    ]
    if not usable:
        raise ValueError(f"nothing to fit {executor} on")
    solution = _least_squares(usable, gil, cores, overlap)
    theta = solution.x
    data = solution.fun[: len(usable)]
    dof = len(usable) - len(PARAMS)
    noise = float(np.median([obs.noise for obs in usable]))
    variance = max(float(data @ data) / dof if dof > 0 else 0.0, noise**2, NOISE_FLOOR**2)
    scaled = solution.jac * TYPICAL  # d residual / d (theta / TYPICAL)
    covariance = variance * np.linalg.pinv(scaled.T @ scaled) * np.outer(TYPICAL, TYPICAL)
    draws = _plausible(theta, covariance, variance, float(data @ data), usable, (gil, cores, overlap), seed)
    # each parameter's interval: the draws' range, and at least its linearised 95% interval (wide where the
    # measurements leave a parameter open, which the draws, bounded by the measurements, need not show)
    from scipy.stats import t as student

    spread = float(student.ppf(0.975, max(dof, 1))) * np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    low = np.minimum(draws.min(axis=0), np.clip(theta - spread, 0.0, UPPER))
    high = np.maximum(draws.max(axis=0), np.clip(theta + spread, 0.0, UPPER))
    rms = float(np.sqrt(np.mean(np.expm1(np.abs(data)) ** 2)))
    return ExecutorModel(
        executor,
        tuple(float(v) for v in theta),
        tuple(float(v) for v in low),
        tuple(float(v) for v in high),
        tuple(tuple(float(v) for v in draw) for draw in draws),
        cores,
        len(usable),
        rms,
        gil,
        overlap,
        startup,
    )


def _plausible(
    theta: np.ndarray,
    covariance: np.ndarray,
    variance: float,
    best: float,
    observations: Sequence[Observation],
    how: tuple[bool, int, bool],
    seed: int,
) -> np.ndarray:
    """:data:`DRAWS` parameter sets the measurements do not rule out: drawn from the fit's covariance and
    kept where their residuals stay within the 95% region (sum of squares at most the best one's plus the
    variance times chi-square's 95% point for as many parameters). The covariance alone, a linearisation,
    would let a parameter the measurements bound only on one side (a worker's cost hidden behind the
    driver's) wander off where the measurements forbid it."""
    from scipy.stats import chi2

    rng = np.random.default_rng(seed)
    limit = best + variance * float(chi2.ppf(0.95, len(PARAMS)))
    kept: list[np.ndarray] = []
    covariance = covariance * PROPOSAL_SCALE**2  # reach the region's edge, not only its middle
    for _ in range(CANDIDATE_ROUNDS):
        candidates = rng.multivariate_normal(theta, covariance, size=DRAWS, method="eigh", check_valid="ignore")
        for candidate in np.clip(candidates, 0.0, UPPER):
            residual = _residuals(candidate, observations, *how)[: len(observations)]
            if float(residual @ residual) <= limit:
                kept.append(candidate)
        if len(kept) >= DRAWS:
            break
        covariance = covariance / 2  # too wide a proposal: narrow it
    if len(kept) < DRAWS // 4:  # the region is too thin to sample: the narrowest candidates, unfiltered
        kept += list(np.clip(candidates, 0.0, UPPER))
    return np.array(kept[:DRAWS])


def fit_startup(samples: Sequence[tuple[int, float]]) -> dict[str, Any] | None:
    """Start-up against workers as ``base_s`` + ``per_worker_s`` x workers (least squares, neither
    below 0), with 95% intervals where there are more samples than the line's two parameters."""
    if not samples:
        return None
    workers = np.array([w for w, _ in samples], dtype=float)
    seconds = np.array([s for _, s in samples], dtype=float)
    design = np.column_stack([np.ones_like(workers), workers])
    if len(set(workers.tolist())) < 2:
        coef = np.array([float(np.median(seconds)), 0.0])
    else:
        coef, *_ = np.linalg.lstsq(design, seconds, rcond=None)
    coef = np.maximum(coef, 0.0)
    result: dict[str, Any] = {
        "base_s": round(float(coef[0]), 6),
        "per_worker_s": round(float(coef[1]), 6),
        "low": None,
        "high": None,
        "samples": [[int(w), round(float(s), 6)] for w, s in samples],
    }
    dof = len(samples) - 2
    if dof > 0 and len(set(workers.tolist())) >= 2:
        from scipy import stats as sps

        residual = seconds - design @ coef
        variance = float(residual @ residual) / dof
        spread = np.sqrt(np.diag(variance * np.linalg.pinv(design.T @ design)))
        t = float(sps.t.ppf(0.975, dof))
        result["low"] = [round(float(max(c - t * s, 0.0)), 6) for c, s in zip(coef, spread, strict=True)]
        result["high"] = [round(float(c + t * s), 6) for c, s in zip(coef, spread, strict=True)]
    return result
