"""From journals to answers: environments, cases, per-cell statistics, the best
configurations, the probes' fits, METG, recommendations in words, and notes on
what the data cannot support. Pure: no figures, no files.

Cells of journals whose environments match (host or Slurm allocation, CPU,
cores, Python, MPI library) are analysed together, their samples pooled per
cell key; cells of different environments are kept apart.
"""

from __future__ import annotations

import math
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.data import stats
from bench.data.derived import case_level, pooled_ratios, pooled_samples, pooled_stats
from bench.data.environment import identity, mpi_name
from bench.data.format import (
    coverage_text,
    duration_interval,
    duration_text,
    efficiency_interval,
    speedup_interval,
)
from bench.data.journal import Results
from bench.data.schema import (
    NATIVE,
    NO_CHUNKS,
    AdviceRecord,
    Case,
    CellRecord,
    RunRecord,
    TraceRecord,
)
from bench.executors import plainness
from bench.host.noise import Noise
from bench.measuring.trace import GAP_LIMIT
from bench.model.forecast import CaseInput, CaseModel, EnvModel, model_view

__all__ = [
    "TARGET_EFFICIENCY",
    "Analysis",
    "CaseReport",
    "Environment",
    "EnvironmentReport",
    "Point",
    "ProbeFit",
    "analyse",
    "case_title",
]

#: Efficiency that defines METG (Task Bench's METG(50%)).
TARGET_EFFICIENCY = 0.5
#: Significance level of "significantly worse" (one-sided Mann-Whitney U on paired speedups).
ALPHA = 1 - stats.LEVEL
#: Runners-up listed by name; the others are counted.
RUNNERS_UP_SHOWN = 4


def _slurm_text(env: dict[str, Any]) -> str | None:
    job = env.get("slurm_job_id")
    if not job:
        return None
    slurm = env.get("slurm") or {}
    nodes = slurm.get("slurm_job_num_nodes")
    where = f" on {env.get('slurm_nodes')}" if env.get("slurm_nodes") else ""
    count = f" ({nodes} node{'s' if str(nodes) != '1' else ''})" if nodes else ""
    return f"job {job}{where}{count}"


@dataclass(frozen=True)
class Environment:
    """Where a group of runs was measured; cells of different environments are never pooled."""

    name: str
    host: str
    cpu: str
    cores: int | None
    python: str
    mpi: str | None
    slurm: tuple[str, ...]
    journals: tuple[str, ...]
    runs: tuple[str, ...]
    started: str
    commits: tuple[str, ...]

    def describe(self) -> str:
        """One line: host, CPU, cores, Python, MPI, Slurm."""
        parts = [self.host, self.cpu, f"{self.cores} cores" if self.cores else "cores unknown", f"Python {self.python}"]
        parts.append(self.mpi or "no MPI")
        if self.slurm:
            parts.append("Slurm " + "; ".join(self.slurm))
        return ", ".join(parts)


def _env_key(env: dict[str, Any]) -> tuple[Any, ...]:
    """What must match for cells to be pooled."""
    return tuple(identity(env).values())


@dataclass
class Point:
    """One cell key in one environment: its records, with their samples pooled, and the statistics of those."""

    record: CellRecord
    records: list[CellRecord]
    times_s: list[float]
    #: Paired per-round speedups (serial / time), pooled; None without pairing.
    ratios: list[float] | None
    summary: stats.Summary | None
    cell: stats.CellStats | None
    #: Speedup over the same executor at 1 worker (same chunk spec and method).
    self_speedup: stats.Estimate | None = None
    #: Karp-Flatt serial fraction (2 workers or more).
    serial_fraction: stats.Estimate | None = None
    #: The traced run of the cell's newest record (``bench.measuring.trace``), if it was traced.
    trace: TraceRecord | None = None
    #: The serial level of the cell's case: the median of its baselines (``bench.data.derived.case_level``).
    serial_level: float | None = None

    @property
    def pop(self) -> dict[str, float | None] | None:
        """The POP metrics of the cell's traced run (its newest record's)."""
        return self.record.pop

    @property
    def pop_gap(self) -> float | None:
        """How far the trace's global efficiency lies from the measured paired efficiency (relative)."""
        pop, efficiency = self.pop, self.efficiency
        if not pop or pop.get("global") is None or efficiency is None or efficiency.value <= 0:
            return None
        return abs(float(pop["global"] or 0.0) - efficiency.value) / efficiency.value

    def gap_causes(self) -> tuple[float | None, float | None]:
        """Why the trace's global efficiency may differ from the measured efficiency, each where it exceeds
        ``GAP_LIMIT``, else None: the traced run against the timed rounds' median, less one (what tracing
        cost, or a disturbed run), and the share of the serial run outside the tasks (generating items,
        reducing), which the POP metrics leave out."""
        trace = self.trace
        slower = outside = None
        if trace is not None and trace.median_s:
            slower = trace.wall_s / trace.median_s - 1
        if trace is not None and trace.serial_s and self.serial_level:
            outside = 1 - trace.serial_s / self.serial_level
        return (
            slower if slower is not None and abs(slower) > GAP_LIMIT else None,
            outside if outside is not None and outside > GAP_LIMIT else None,
        )

    def gap_reasons(self) -> list[str]:
        """``gap_causes`` in words."""
        slower, outside = self.gap_causes()
        reasons = [] if slower is None else [_slower_text(slower)]
        reasons += [] if outside is None else [f"serial run {_outside_text(outside)}"]
        return reasons or ["run-to-run variation"]

    @property
    def ok(self) -> bool:
        return self.record.ok and self.cell is not None

    @property
    def speedup(self) -> stats.Estimate | None:
        return self.cell.speedup if self.cell else None

    @property
    def efficiency(self) -> stats.Estimate | None:
        return self.cell.efficiency if self.cell else None

    @property
    def executor(self) -> str:
        return self.record.executor

    @property
    def workers(self) -> int:
        return self.record.workers

    @property
    def tasks(self) -> int | None:
        """Tasks (chunks) sent per run, when the item count is known."""
        items = self.record.items
        if items is None:
            return None
        return items if self.record.chunksize_spec == NO_CHUNKS else math.ceil(items / self.record.chunksize)

    def config(self) -> str:
        """``process-pool x2, chunk 16, 1 thread``: the record's configuration (``CellIdentity.config``)."""
        return self.record.config()


def _slower_text(slower: float) -> str:
    return f"traced run {slower:+.0%} against the rounds"


def _outside_text(share: float) -> str:
    return f"{share:.0%} outside the tasks"


def _pool(records: Sequence[CellRecord]) -> Point:
    """The records of one cell key, their samples pooled (``bench.data.derived.pooled_stats``)."""
    cell = pooled_stats(records)
    if cell is None:
        return Point(records[-1], list(records), [], None, None, None)
    times, _ = pooled_samples(records)
    newest = [r for r in records if r.ok and r.times_s][-1]
    return Point(newest, list(records), times, pooled_ratios(records), stats.summarize(times), cell)


@dataclass(frozen=True)
class ProbeFit:
    """A per-executor figure fitted from a probe: per-task cost, bandwidth, METG."""

    executor: str
    workers: int
    estimate: stats.Estimate
    how: str
    metg: stats.Metg | None = None
    #: METG: (task duration s, efficiency) of every point it rests on.
    curve: tuple[tuple[float, stats.Estimate], ...] = ()
    #: What else sets the fit apart (``, chunk 16, imap``), when not chunk 1 under map.
    variant: str = ""
    #: ``s`` (a duration) or ``B/s`` (a bandwidth).
    unit: str = "s"

    @property
    def label(self) -> str:
        return f"{self.executor} x{self.workers}{self.variant}"

    def text(self) -> str:
        """The value with its interval: ``124 \u00b5s [116, 147]``, ``480 MB/s [456, 539]``, ``above 11 ms``."""
        e = self.estimate
        if self.unit == "B/s":
            high = "inf" if math.isinf(e.high) else f"{e.high / 1e6:.3g}"
            return f"{e.value / 1e6:.3g} MB/s [{e.low / 1e6:.3g}, {high}]{coverage_text(e)}"
        if self.metg is not None and self.metg.bound is not None:
            return f"{self.metg.bound} {duration_text(e.value)}"
        return duration_interval(e)


@dataclass
class CaseReport:
    """One case (workload, size, params) in one environment."""

    env: Environment
    label: str
    workload: str
    points: list[Point]
    best: Point | None = None
    #: Configurations not significantly slower than the best, with the p-value that says so.
    runners_up: list[tuple[Point, float]] = field(default_factory=list)
    #: Configurations with too few rounds for the test to tell them from the best at all.
    undecided: list[Point] = field(default_factory=list)
    #: Configurations the test calls slower (or cannot tell), but closer to the best than the machine's
    #: noise lets their rounds tell apart (``equivalent_here``), with that resolution.
    equivalent: list[tuple[Point, float]] = field(default_factory=list)
    #: The best configuration at each worker count.
    by_workers: list[Point] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: The cost model's view of the case, where it has one.
    model: CaseModel | None = None
    #: The machine's noise, where the run probed it (``bench.host.noise``).
    noise: Noise | None = None
    #: The configuration the first recommendation names: the best, or where the run probed the noise the
    #: simplest of those equivalent to it here.
    recommended: Point | None = None

    @property
    def key(self) -> Case:
        """The case: workload, size and params."""
        return self.points[0].record.case

    @property
    def ok_points(self) -> list[Point]:
        return [p for p in self.points if p.ok]

    @property
    def ranked(self) -> list[Point]:
        """The points a recommendation chooses from, best first (see ``every_ranked``): those whose inner
        threads the suite set, where there are any, since a recommendation must not rest on a library's
        own default (``default`` cells are compared with them, never recommended over them)."""
        every = self.every_ranked
        controlled = [p for p in every if p.record.threads != "default"]
        return controlled or every

    @property
    def every_ranked(self) -> list[Point]:
        """Ok parallel points with a paired speedup, best first: cells with a real 95% interval
        before the others, cells that look disturbed (efficiency wholly above 100%, or measured on a
        busy machine) last, then by the lower end of the speedup's interval (the speedup the data
        vouch for), then the median."""
        ranked = [p for p in self.ok_points if p.speedup is not None and p.ratios is not None]

        def order(p: Point) -> tuple[bool, bool, float, float]:
            assert p.speedup is not None and p.cell is not None
            disturbed = p.cell.suspicious or any(r.busy for r in p.records)
            return (not p.speedup.at_level, disturbed, -p.speedup.low, -p.speedup.value)

        return sorted(ranked, key=order)

    @property
    def probe(self) -> bool:
        """A probe's case (noop, sleep, spin, payload): shown among the costs, not the answers."""
        workload = _workload(self.workload)
        return bool(workload is not None and workload.probe)

    @property
    def methods(self) -> list[str]:
        return sorted({p.record.method for p in self.points})

    #: Set where two labels would give the same slug (``mode=a b`` and ``mode=a-b``).
    slug_suffix: str = ""

    @property
    def slug(self) -> str:
        """The label as a file name and anchor: ``fibprimes-2000``; unique within its environment."""
        return re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-") + self.slug_suffix


@dataclass
class EnvironmentReport:
    env: Environment
    cases: list[CaseReport]
    startup: dict[str, list[tuple[int, stats.Estimate]]]
    overhead: list[ProbeFit]
    bandwidth: list[ProbeFit]
    granularity: list[ProbeFit]
    recommendations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: The cost model's view of the environment, where it has one.
    model: EnvModel | None = None


@dataclass
class Analysis:
    environments: list[EnvironmentReport]
    runs: list[RunRecord]
    #: Cell records read (the newest of each cell of each run), and how many of them are ok.
    cells: int
    ok_cells: int
    #: (status, executor, reason) -> count, for cells that are not ok.
    not_ok: dict[tuple[str, str, str], int]
    #: Cells whose run record is missing from the journals (left out).
    orphans: int = 0
    #: The advice records of ``advise`` runs among the journals (their races and forecasts).
    advice: list[AdviceRecord] = field(default_factory=list)

    @property
    def cases(self) -> list[CaseReport]:
        return [case for env in self.environments for case in env.cases]

    @property
    def answered(self) -> list[CaseReport]:
        """The cases the answers are about: the work measured, or the probes when nothing else was."""
        work = [case for case in self.cases if not case.probe]
        return work or self.cases


# -- environments -------------------------------------------------------------


def _environments(results: Results) -> tuple[list[Environment], dict[str, Environment]]:
    groups: dict[tuple[Any, ...], list[RunRecord]] = defaultdict(list)
    for run in results.runs:
        groups[_env_key(run.env)].append(run)
    journal_of = _journal_names(results)
    environments: list[Environment] = []
    of_run: dict[str, Environment] = {}
    for index, runs in enumerate(groups.values()):
        env = runs[0].env
        name = chr(ord("A") + index) if len(groups) > 1 and index < 26 else (str(index + 1) if len(groups) > 1 else "")
        environment = Environment(
            name=name,
            host=str(env.get("hostname") or "unknown host"),
            cpu=str(env.get("cpu") or "unknown CPU"),
            cores=env.get("cores_available") or env.get("cores"),
            python=str(env.get("python") or "?"),
            mpi=mpi_name(env),
            slurm=tuple(text for text in (_slurm_text(run.env) for run in runs) if text),
            journals=tuple(sorted({journal_of.get(run.run_id, run.run_id) for run in runs})),
            runs=tuple(run.run_id for run in runs),
            started=min(run.started for run in runs),
            commits=tuple(sorted({str(run.env["git_commit"])[:7] for run in runs if run.env.get("git_commit")})),
        )
        environments.append(environment)
        for run in runs:
            of_run[run.run_id] = environment
    return environments, of_run


def _journal_names(results: Results) -> dict[str, str]:
    """run id -> the journal's file name (a journal's name is its run id, unless renamed)."""
    names = {path.stem: path.name for path in results.paths}
    return {run.run_id: names.get(run.run_id, f"{run.run_id}.jsonl") for run in results.runs}


# -- cases --------------------------------------------------------------------


WORSE, TIE, UNDECIDED = "worse", "tie", "undecided"


def _compare(best: Point, other: Point) -> tuple[str, float]:
    """Whether ``other`` is significantly slower than ``best`` (on their paired speedups), as fast as far
    as the test can tell, or undecided: too few rounds for the test to reject at all."""
    assert best.ratios is not None and other.ratios is not None
    if not stats.separable(len(best.ratios), len(other.ratios), ALPHA):
        return UNDECIDED, 1.0
    worse, p = stats.significantly_greater(best.ratios, other.ratios, ALPHA)
    return (WORSE if worse else TIE), p


def _link_workers(points: Sequence[Point]) -> None:
    """Speedup over the same executor at 1 worker, and the Karp-Flatt fraction, for each point."""
    one = {
        (p.executor, p.record.chunksize_spec, p.record.method, p.record.threads): p
        for p in points
        if p.workers == 1 and p.speedup is not None
    }
    for point in points:
        if point.speedup is None or point.speedup.low <= 0:
            continue
        if point.workers >= 2:
            if point.speedup.value >= 1:  # below 1 the "serial fraction" exceeds 1 and means nothing
                point.serial_fraction = stats.karp_flatt(point.speedup, point.workers)
            base = one.get((point.executor, point.record.chunksize_spec, point.record.method, point.record.threads))
            if base is not None and base.speedup is not None and base.speedup.low > 0:
                point.self_speedup = stats.ratio(point.speedup, base.speedup)


def _workload(name: str) -> Any:
    """The registered workload of that name; None for a user's (never imported here: a report does not run
    code named in a journal) or one this installation does not know."""
    import workloads

    return workloads.registered(name)


def case_title(record: CellRecord, keep: Iterable[str] = ()) -> str:
    """The case as a heading: ``fibprimes[2000]``, naming only the parameters that differ from the
    workload's defaults or are in ``keep`` (those a sweep varied); all of them for an unknown workload."""
    workload = _workload(record.workload)
    defaults = workload.default_params() if workload is not None else {}
    kept = set(keep)
    params = "".join(
        f" {key}={value}" for key, value in record.param_items if key in kept or defaults.get(key, object()) != value
    )
    return f"{record.workload}[{record.size}]{params}"


def _varied(cells: Iterable[CellRecord]) -> dict[str, set[str]]:
    """Per workload, the parameters whose values differ between its cells."""
    values: dict[tuple[str, str], set[str]] = defaultdict(set)
    for cell in cells:
        for key, value in cell.params.items():
            values[(cell.workload, key)].add(repr(value))
    varied: dict[str, set[str]] = defaultdict(set)
    for (workload, key), seen in values.items():
        if len(seen) > 1:
            varied[workload].add(key)
    return varied


def noise_explains(noise: Noise | None) -> str:
    """Why an efficiency above 100% is most likely the machine's noise here, where its probe says so."""
    if noise is None or not noise.two_modes:
        return ""
    return (
        f" This machine's cores switch between speeds {1 / noise.slowest:.1f}x apart (its noise probe): a run "
        "that met faster spells than its baseline did shows more than 100%, so here it is most likely noise, "
        "not a superlinear effect."
    )


def _paired(best: Point, other: Point) -> tuple[tuple[int, int], list[float], list[float]]:
    """What the noise rule reads of two points: their paired rounds, their timed runs and their serial
    baselines (those of every record pooled in each)."""
    assert best.ratios is not None and other.ratios is not None
    baselines = [b for p in (best, other) for r in p.records for b in (r.baseline_s or [])]
    return (len(best.ratios), len(other.ratios)), [*best.record.times_s, *other.record.times_s], baselines


def noise_resolution(best: Point, other: Point, noise: Noise | None) -> float | None:
    """The smallest relative difference between the paired speedups of ``best`` and ``other`` that the
    machine's noise (its probe before the run) lets their rounds tell apart (``Noise.resolution_between``);
    None without a probe."""
    if noise is None or not best.ratios or not other.ratios:
        return None
    rounds, times, baselines = _paired(best, other)
    return noise.resolution_between(*rounds, times, baselines)


def equivalent_here(best: Point, other: Point, noise: Noise | None) -> float | None:
    """Whether ``other`` lies closer to ``best`` than the machine's noise lets their rounds tell apart
    (``Noise.equivalent``, the rule a race uses too): that resolution, or None when it does not (or without
    a probe)."""
    if noise is None or not best.ratios or not other.ratios or best.speedup is None or other.speedup is None:
        return None
    return noise.equivalent(best.speedup.value, other.speedup.value, *_paired(best, other))


def _case(env: Environment, points: list[Point], keep: Iterable[str], noise: Noise | None = None) -> CaseReport:
    record = points[0].record
    case = CaseReport(env, case_title(record, keep), record.workload, points, noise=noise)
    _link_workers(points)
    ranked = case.ranked
    if ranked:
        case.best = best = ranked[0]
        for other in ranked[1:]:
            verdict, p = _compare(best, other)
            if verdict == TIE:
                case.runners_up.append((other, p))
                continue
            within = equivalent_here(best, other, noise)
            if within is not None:
                case.equivalent.append((other, within))
            elif verdict == UNDECIDED:
                case.undecided.append(other)
        by_workers: dict[int, Point] = {}
        for point in ranked:
            by_workers.setdefault(point.workers, point)
        one, serial = by_workers.get(1), next((p for p in case.ok_points if p.executor == "serial"), None)
        if one is not None and one.speedup is not None and not one.speedup.above(1) and serial is not None:
            by_workers[1] = serial  # at one worker the plain loop, unless a pool is significantly faster
        case.by_workers = [by_workers[w] for w in sorted(by_workers)]
    _recommend(case)
    _case_notes(case)
    return case


def _recommend(case: CaseReport) -> None:
    best, say = case.best, case.recommendations.append
    if best is None:
        if any(p.ok and p.executor == "serial" for p in case.points):
            say(f"{case.label}: no parallel cell ran ok with a paired baseline, so nothing can be recommended.")
        else:
            say(f"{case.label}: no cell ran ok, so nothing can be recommended.")
        return
    case.recommended = best
    speedup, efficiency = best.speedup, best.efficiency
    assert speedup is not None and efficiency is not None
    figures = _figures(best)
    if speedup.high < 1:
        say(
            f"For {case.label} nothing measured beats the serial loop: the best, {best.config()}, "
            f"runs at {figures}. Keep it serial, or give each task more work."
        )
        _chunk_effect(case, best, say)  # how much a chunk size costs says how much more work a task needs
        return
    if speedup.low <= 1:
        say(
            f"For {case.label} no configuration is significantly faster than serial: the best, "
            f"{best.config()}, runs at {figures}. Keep it serial, or measure more rounds to tell."
        )
    elif case.noise is not None and (case.equivalent or case.runners_up):
        # the run probed the machine: what its rounds cannot tell apart is one answer, given as its simplest
        simplest = _simplest(case, best)
        count = len(case.runners_up) + len(case.equivalent)
        resolution = max(
            [within for _, within in case.equivalent]
            + [noise_resolution(best, p, case.noise) or 0.0 for p, _ in case.runners_up]
        )
        use = case.recommended = simplest
        say(
            f"For {case.label} use {use.config()}: {_figures(use)}. It and {count} other configuration(s) are "
            f"equivalent here: the fastest, {best.config()} ({speedup_interval(speedup)}), is not faster by more "
            f"than the rounds or this machine's noise can tell (±{resolution:.0%} here, from its noise probe and "
            "serial baselines). This is the simplest of them: the fewest workers, then the plainest back-end."
        )
    else:
        simpler = _simpler(case, best)
        if simpler is None:
            say(f"For {case.label} use {best.config()}: {figures}.")
        else:
            say(
                f"For {case.label} use {simpler.config()}: {_figures(simpler)}. The fastest, {best.config()} "
                f"({speedup_interval(speedup)}), cannot be told apart from it: more workers show no "
                "measurable gain here."
            )
    _chunk_effect(case, best, say)
    _slower_executors(case, best, say)
    _threads_effect(case, say)
    _library_threads(case, best, say)


def _figures(point: Point) -> str:
    assert point.speedup is not None and point.efficiency is not None
    return f"{speedup_interval(point.speedup)} over serial, {efficiency_interval(point.efficiency)} efficiency"


def _simplest(case: CaseReport, best: Point) -> Point:
    """Of ``best`` and the configurations as good or equivalent here that are significantly faster than
    serial: the fewest workers, then the plainest back-end (the registry's order), the library's own or the
    auto chunk size, ``map`` then ``imap``, then the faster (``bench.executors.plainness``)."""
    pool = [best, *(p for p, _ in case.runners_up), *(p for p, _ in case.equivalent)]
    faster = [p for p in pool if p.speedup is not None and p.speedup.above(1)] or [best]

    def plain(p: Point) -> tuple[Any, ...]:
        assert p.speedup is not None
        return (*plainness(p.executor, p.workers, p.record.chunksize_spec, p.record.method), -p.speedup.value)

    return min(faster, key=plain)


def _simpler(case: CaseReport, best: Point) -> Point | None:
    """The configuration with the fewest workers that cannot be told apart from ``best`` and is itself
    significantly faster than serial (the simpler answer to give), if it has fewer workers than ``best``."""
    tied = [p for p, _ in case.runners_up if p.speedup is not None and p.speedup.above(1)]
    fewest = min(tied, key=lambda p: (p.workers, -p.speedup.low), default=None)  # type: ignore[union-attr]
    return fewest if fewest is not None and fewest.workers < best.workers else None


#: The POP factors a configuration can lose to, and how a cause names each.
POP_FACTORS = {
    "load_balance": "load balance",
    "communication": "communication efficiency",
    "computation": "computation scaling",
}


def pop_cause(worse: Point, better: Point | None = None) -> str | None:
    """The measured reason ``worse`` is slow, from its traced run: its weakest POP factor (the one that falls
    most below ``better``'s, where given), with what the trace says of it; None without a trace."""
    pop = worse.pop
    if not pop or pop.get("parallel") is None:
        return None
    ref = better.pop if better is not None and better.pop else {}
    factors = {key: pop[key] for key in POP_FACTORS if pop.get(key) is not None}
    if not factors:
        return None

    def drop(key: str) -> float:
        value, against = float(factors[key] or 0.0), ref.get(key)
        return value / float(against) if against else value

    key = min(factors, key=drop)
    value = float(factors[key] or 0.0)
    text = f"{POP_FACTORS[key]} {value:.2f}"
    if ref.get(key) is not None:
        text += f" against {float(ref[key] or 0.0):.2f}"
    detail = _trace_detail(worse, key)
    return f"{text}{', ' + detail if detail else ''}"


def _trace_detail(point: Point, key: str) -> str:
    """What the trace shows of a POP factor: the dispatch per task, the busiest worker, the computing."""
    trace = point.trace
    if trace is None or not trace.chunks_total or not trace.chunks["start"]:
        return ""
    computing = [max(e - s, 0.0) for s, e in zip(trace.chunks["start"], trace.chunks["end"], strict=True)]
    per_chunk = sum(computing) / len(computing)
    lanes = max(point.workers, len(trace.lanes))
    if key == "communication":
        idle = max(lanes * trace.wall_s - per_chunk * trace.chunks_total, 0.0) / trace.chunks_total
        return f"{duration_text(idle)} of dispatch and waiting per {duration_text(per_chunk)} task"
    if key == "load_balance" and point.pop and point.pop.get("load_balance"):
        return f"the busiest worker computed {1 / float(point.pop['load_balance'] or 1):.1f}x the mean"
    if key == "computation":
        return "the workers compute slower than the serial loop (the GIL, shared cores or memory bandwidth)"
    return ""


def _chunk_effect(case: CaseReport, best: Point, say: Any) -> None:
    siblings = [
        p
        for p in case.ranked
        if p is not best
        and p.executor == best.executor
        and p.workers == best.workers
        and p.record.method == best.record.method
        and p.record.threads == best.record.threads
        and p.record.chunksize != best.record.chunksize
        and NATIVE not in (p.record.chunksize_spec, best.record.chunksize_spec)  # _native_notes says those
    ]
    if not siblings:
        return
    verdicts = [(p, _compare(best, p)[0]) for p in siblings]
    worse = [p for p, verdict in verdicts if verdict == WORSE]
    if not worse:
        if all(verdict == TIE for _, verdict in verdicts):
            chunks = ", ".join(sorted({p.record.chunk_label() for p in [best, *siblings]}))
            say(f"For {best.record.executor_label()}, chunk size ({chunks}) makes no significant difference.")
        return
    worst = min(worse, key=lambda p: p.speedup.value)  # type: ignore[union-attr]
    assert worst.speedup is not None and best.speedup is not None
    loss = 1 - worst.speedup.value / best.speedup.value
    measured = pop_cause(worst, best)
    if measured:
        why = f": {measured} (traced)"
    else:
        why = (
            ", most likely to per-task overhead (no trace to tell)"
            if worst.record.chunksize < best.record.chunksize
            else ", most likely to load imbalance, too few chunks per worker (no trace to tell)"
        )
    say(f"With {best.record.executor_label()}, chunk size {worst.record.chunk_label()} loses {loss:.0%}{why}.")


def _threads_effect(case: CaseReport, say: Any) -> None:
    """Whether the inner threads change anything, from cells that differ in nothing else."""
    groups: dict[tuple[str, int, str, str], list[Point]] = defaultdict(list)
    for point in case.every_ranked:
        record = point.record
        groups[(point.executor, point.workers, record.chunksize_spec, record.method)].append(point)
    pairs = [
        (points[0], other)
        for points in groups.values()
        if len({p.record.threads for p in points}) >= 2
        for other in points[1:]
    ]
    compared = len(pairs)
    if not compared:
        return
    # one claim about the workload from many comparisons: each is tested at ALPHA / comparisons (Bonferroni),
    # so that chance differences among many cells do not make one
    differing: list[tuple[float, Point, Point]] = []
    undecided = 0
    for fastest, other in pairs:
        assert fastest.ratios is not None and other.ratios is not None
        if not stats.separable(len(fastest.ratios), len(other.ratios), ALPHA / compared):
            undecided += 1
            continue
        worse, _ = stats.significantly_greater(fastest.ratios, other.ratios, ALPHA / compared)
        if worse and fastest.speedup is not None and other.speedup is not None:
            differing.append((1 - other.speedup.value / fastest.speedup.value, fastest, other))
    if differing:
        loss, fastest, other = max(differing, key=lambda found: found[0])
        assert fastest.speedup is not None and other.speedup is not None
        say(
            f"Inner threads matter for {case.label} ({len(differing)} of {compared} comparisons differ "
            f"significantly, each tested at p < {ALPHA / compared:.2g}): {fastest.record.executor_label()} runs "
            f"at {fastest.speedup.value:.2f}x with {fastest.record.threads_phrase()} each and at "
            f"{other.speedup.value:.2f}x with {other.record.threads_phrase()}, {loss:.0%} slower."
        )
    elif undecided == compared:
        say(f"Too few rounds to tell whether inner threads matter for {case.label}.")
    else:
        say(
            f"Inner threads make no significant difference for {case.label} in any of {compared} comparisons: "
            "its tasks hardly use the libraries' thread pools."
        )


def _library_threads(case: CaseReport, best: Point, say: Any) -> None:
    """Parallel map, or one process whose libraries use every core (the serial baseline)?"""
    cores = best.record.baseline_threads
    if not cores or cores < 2 or best.speedup is None:
        return
    one = f"one process whose libraries may use all {cores} cores (the serial baseline)"
    if best.speedup.low > 1:
        say(f"Parallel map or the libraries' own threads? {best.config()} beats {one}: map in parallel.")
    else:
        say(f"Parallel map or the libraries' own threads? No configuration measured beats {one}: keep one process.")


def _slower_executors(case: CaseReport, best: Point, say: Any) -> None:
    """At the best's worker count: how far each other executor's own best falls behind."""
    own_best: dict[str, Point] = {}
    for point in case.ranked:
        if point.workers == best.workers and point.executor != best.executor:
            own_best.setdefault(point.executor, point)
    behind = []
    for point in own_best.values():
        verdict, _ = _compare(best, point)
        if verdict == WORSE and point.speedup is not None and best.speedup is not None:
            cause = pop_cause(point, best)
            behind.append(f"{point.executor} {point.speedup.value:.2f}x" + (f" ({cause})" if cause else ""))
    if behind:
        say(f"At {best.workers} workers the others' best fall significantly behind: {', '.join(behind)}.")


def _case_notes(case: CaseReport) -> None:
    note = case.notes.append
    best = case.best
    if best is not None and best.speedup is not None and not best.speedup.at_level:
        note(
            f"The best cell's interval covers only {best.speedup.confidence:.0%} "
            f"({best.speedup.n} rounds): run at least {stats.min_samples()} rounds for 95%."
        )
    if case.runners_up:
        shown = ", ".join(p.config() for p, _ in case.runners_up[:RUNNERS_UP_SHOWN])
        more = len(case.runners_up) - RUNNERS_UP_SHOWN
        note(
            f"{len(case.runners_up)} other configuration{'s are' if len(case.runners_up) > 1 else ' is'} "
            f"not significantly slower than the best (one-sided Mann-Whitney U on the paired speedups, "
            f"p > {ALPHA:g}): {shown}{f' and {more} more' if more > 0 else ''}. The data cannot tell them apart."
        )
    if case.undecided:
        rounds = min(len(p.ratios or []) for p in [*case.undecided, *([best] if best else [])])
        note(
            f"{len(case.undecided)} configuration(s) have too few rounds (down to {rounds}) for a test to tell "
            f"them from the best at all: the ranking among them rests on too little data."
        )
    few = [
        p
        for p in case.ok_points
        if p.cell is not None and not p.cell.estimate.at_level and p.record.stopped != "eliminated"
    ]
    if few:
        note(f"{len(few)} cell(s) have too few rounds for a 95% interval; their intervals say what they cover.")
    suspicious = [p for p in case.ok_points if p.cell is not None and p.cell.suspicious]
    if suspicious:
        names = ", ".join(p.config() for p in suspicious[:3])
        note(
            f"Efficiency wholly above 100% in {len(suspicious)} cell(s) ({names}): a disturbed baseline "
            f"or superlinear scaling; look at them before trusting them.{noise_explains(case.noise)}"
        )
    gap = _gap_note(case)
    if gap:
        note(gap)
    unpaired = [p for p in case.ok_points if p.executor != "serial" and p.ratios is None]
    if unpaired:
        note(f"{len(unpaired)} cell(s) have no paired serial baseline, so no speedup.")
    _conditions_notes(case)
    _method_notes(case)
    _native_notes(case)


def _gap_note(case: CaseReport) -> str | None:
    """Where the traced runs' global efficiency lies far from the measured efficiency, and why."""
    gaps = [p for p in case.ok_points if p.pop_gap is not None and p.pop_gap > GAP_LIMIT]
    if not gaps:
        return None
    causes = [(p, *p.gap_causes()) for p in gaps]
    outside = [share for _, _, share in causes if share is not None]
    traced = [(p, slower) for p, slower, _ in causes if slower is not None]
    text = (
        f"In {len(gaps)} cell(s) the traced run's global efficiency lies more than {GAP_LIMIT:.0%} from the "
        "measured efficiency."
    )
    if outside:
        text += (
            f" In {len(outside)}, the serial run spends much of its time outside the tasks (generating items, "
            f"reducing; {_outside_text(outside[0])}): the POP metrics count "
            "only the tasks' time, so their global efficiency is lower by that share."
        )
    if traced:
        shown = ", ".join(f"{p.config()} ({_slower_text(slower)})" for p, slower in traced[:3])
        text += (
            f" In {len(traced)}, the traced run does not represent the timed rounds ({shown}"
            f"{' and more' if len(traced) > 3 else ''}): tracing cost too much, or the run was disturbed; read "
            "their POP metrics with care."
        )
    rest = sum(slower is None and share is None for _, slower, share in causes)
    if rest:
        text += f" In {rest}, neither alone explains it: run-to-run variation of a single traced run."
    return text


def _native_notes(case: CaseReport) -> None:
    """How each library's own chunking (``native``) does against the best chunk size measured beside it."""
    for point in case.ok_points:
        if point.record.chunksize_spec != NATIVE or point.speedup is None:
            continue
        siblings = [
            p
            for p in case.ok_points
            if p.speedup is not None
            and p.ratios is not None
            and p.record.chunksize_spec not in (NATIVE, NO_CHUNKS)
            and (p.executor, p.workers, p.record.method, p.record.threads)
            == (point.executor, point.workers, point.record.method, point.record.threads)
        ]
        if not siblings or point.ratios is None:
            continue
        best = max(siblings, key=lambda p: p.speedup.value)  # type: ignore[union-attr]
        assert best.speedup is not None
        share = stats.ratio(point.speedup, best.speedup)
        ahead = point.speedup.value > best.speedup.value
        verdict, _ = _compare(point, best) if ahead else _compare(best, point)
        said = {
            WORSE: "significantly faster" if ahead else "significantly slower",
            TIE: "not significantly different",
            UNDECIDED: "too few rounds to tell",
        }
        method = "" if point.record.method == "map" else f" under {point.record.method}"
        case.notes.append(
            f"{point.executor}'s own chunking ({point.record.chunk_label()}) reaches {share.value:.0%} "
            f"[{share.low:.0%}, {share.high:.0%}] of the speedup of its best measured chunk size "
            f"({best.record.chunk_label()}) with {point.workers} worker{'s' if point.workers > 1 else ''}{method} "
            f"({said[verdict]}; the interval joins the ends of both 95% intervals, about 90%)."
        )


def _conditions_notes(case: CaseReport) -> None:
    """Cells measured on a busy machine, with oversubscribed inner threads, or cut short by an interrupt."""
    from bench.host import cpuload

    records = [r for p in case.ok_points for r in p.records if r.ok]
    busy, others = cpuload.busy(records)
    if busy:
        note = (
            f"The machine was busy while {len(busy)} cell(s) ran (other processes used {others:.1f} cores on "
            f"average): {', '.join(dict.fromkeys(r.label() for r in busy[:3]))}"
            f"{' and more' if len(busy) > 3 else ''}. Their results are unreliable; measure again on a quiet machine."
        )
        case.notes.append(note)
    stolen = cpuload.steals(records)
    if stolen:
        case.notes.append(
            f"The hypervisor took up to {max(stolen):.0%} of the CPU while {len(stolen)} cell(s) ran (steal): "
            "this virtual machine's host was busy, and those timings may be disturbed."
        )
    over = [p for p in case.ok_points if p.record.threads_oversubscribed]
    if over:
        shown = ", ".join(p.config() for p in over[:3])
        case.notes.append(
            f"In {len(over)} cell(s) workers x inner threads exceed the {over[0].record.baseline_threads} cores "
            f"({shown}{' and more' if len(over) > 3 else ''}): their libraries' threads oversubscribe the CPU."
        )
    for what, reason, loss in (
        ("traced run", "trace_error", "no POP metrics and no timeline"),
        ("case's traced serial run", "profile_error", "no POP computation scaling"),
        ("memory run", "memory_error", "no driver memory"),
    ):
        failed = [r for r in records if getattr(r, reason)]
        if failed:
            case.notes.append(
                f"The {what} of {len(failed)} cell(s) gave nothing ({getattr(failed[0], reason)}): {loss} for them."
            )
    cut = [r for r in records if r.interrupted]
    if cut:
        case.notes.append(
            f"{len(cut)} cell(s) were cut short by an interrupt and hold the rounds they had; --resume completes them."
        )
    raced = [r for r in records if r.stopped == "eliminated"]
    if raced:
        rounds = sorted({len(r.times_s) for r in raced})
        shown = ", ".join(map(str, rounds[:4]))
        case.notes.append(
            f"{len(raced)} cell(s) were eliminated by the race after {shown} round(s): each was significantly "
            "slower than the best cell of its case measured so far (Welch's one-sided test on the logarithms of "
            "the paired speedups, 5% over the case's other cells), so it was measured no further; their "
            "intervals are as wide as their few rounds leave them."
        )
    budget = [r for r in records if r.stopped == "budget"]
    if budget:
        case.notes.append(
            f"{len(budget)} cell(s) stopped when the race's time budget was spent, before their intervals reached "
            "the precision asked for."
        )


def _method_notes(case: CaseReport) -> None:
    groups: dict[tuple[str, int, str, str | None], list[Point]] = defaultdict(list)
    for point in case.ranked:
        groups[(point.executor, point.workers, point.record.chunksize_spec, point.record.threads)].append(point)
    compared = differ = undecided = 0
    differing: list[str] = []
    for points in groups.values():
        if len({p.record.method for p in points}) < 2:
            continue
        compared += 1
        fastest, *others = points
        for other in others:
            verdict, _ = _compare(fastest, other)
            if verdict == WORSE:
                differ += 1
                differing.append(f"{fastest.config()} beats {other.record.method}")
            undecided += verdict == UNDECIDED
    if not compared:
        return
    if undecided and not differ:
        case.notes.append(f"Too few rounds to compare the map methods ({undecided} comparison(s) undecided).")
    elif differ:
        case.notes.append(f"Map methods differ significantly in {differ} comparison(s): {'; '.join(differing[:3])}.")
    else:
        case.notes.append(
            f"The map methods ({', '.join(case.methods)}) make no significant difference "
            f"in any of {compared} executor and worker combinations."
        )


# -- the probes -----------------------------------------------------------------


def _by_executor(points: Iterable[Point]) -> dict[tuple[str, int], list[Point]]:
    groups: dict[tuple[str, int], list[Point]] = defaultdict(list)
    for point in points:
        groups[(point.executor, point.workers)].append(point)
    return groups


def _overhead(points: Sequence[Point]) -> list[ProbeFit]:
    """Per-task cost from ``noop``: the slope of time against tasks per run, or time / tasks for one count.
    A slope that comes out negative (noise larger than the cost) is not shown."""
    fits = []
    for (executor, workers), group in sorted(_by_executor(p for p in points if p.tasks).items()):
        x = [float(p.tasks or 0) for p in group for _ in p.times_s]
        y = [t for p in group for t in p.times_s]
        if len(set(x)) >= 2:
            fit = stats.slope(x, y)
            how = (
                f"Theil-Sen slope of {len(y)} run times against tasks per run ({fit.points} task counts); "
                f"fixed cost per run {duration_text(max(fit.intercept, 0.0))}"
            )
            estimate = fit.slope
        else:
            estimate = stats.median_ci([t / xi for t, xi in zip(y, x, strict=True)])
            how = f"median of run time / tasks ({int(x[0])} tasks, one task count: no fit)"
        if estimate.value > 0:
            fits.append(ProbeFit(executor, workers, estimate, how))
    return fits


def _items_per_task(point: Point) -> float:
    items, tasks = point.record.items or 0, point.tasks or 0
    return items / tasks if tasks else 1.0


def _bandwidth(points: Sequence[Point]) -> list[ProbeFit]:
    """Bytes per second from ``payload``: the inverse slope of per-task time against the bytes a task carries
    (``payload_bytes`` times the items in its chunk)."""
    fits = []
    for (executor, workers), group in sorted(_by_executor(p for p in points if p.tasks).items()):
        if executor in ("serial", "thread-pool"):
            continue  # nothing is sent: tasks read the driver's memory
        x = [float(p.record.params.get("payload_bytes", 0)) * _items_per_task(p) for p in group for _ in p.times_s]
        y = [t / (p.tasks or 1) for p in group for t in p.times_s]
        if len(set(x)) >= 2:
            fit = stats.slope(x, y)
            s = fit.slope
            if s.value <= 0:
                continue
            estimate = stats.Estimate(1 / s.value, 1 / s.high, 1 / s.low if s.low > 0 else math.inf, s.confidence, s.n)
            how = f"inverse Theil-Sen slope of per-task time against bytes per task ({fit.points} sizes)"
        else:
            size = x[0]
            estimate = stats.median_ci([size / yi for yi in y])
            how = f"bytes per task / per-task time at one size ({int(size)} B), per-task cost included"
        fits.append(ProbeFit(executor, workers, estimate, how, unit="B/s"))
    return fits


def _granularity(points: Sequence[Point]) -> list[ProbeFit]:
    """METG(50%) from ``spin`` at several task durations: a task's serial time (the items of its chunk)
    against efficiency, one curve per executor, workers, chunk spec and method."""
    groups: dict[tuple[str, int, str, str], list[Point]] = defaultdict(list)
    for point in points:
        groups[(point.executor, point.workers, point.record.chunksize_spec, point.record.method)].append(point)
    fits = []
    for (executor, workers, chunk, method), group in sorted(groups.items()):
        curve = []
        for point in group:
            if point.efficiency is None or not point.serial_level or not point.record.items:
                continue
            curve.append((point.serial_level / point.record.items * _items_per_task(point), point.efficiency))
        if len({round(d, 9) for d, _ in curve}) < 2:
            continue
        found = stats.metg(curve, TARGET_EFFICIENCY)
        confidence = min(e.confidence for _, e in curve)
        estimate = stats.Estimate(found.value_s, found.low_s, found.high_s, confidence, min(e.n for _, e in curve))
        variant = "" if chunk in ("1", NO_CHUNKS) else f", chunk {chunk}"  # the spec: auto resolves per size
        variant += "" if method == "map" else f", {method}"
        curve.sort(key=lambda c: c[0])
        fits.append(ProbeFit(executor, workers, estimate, found.how, found, tuple(curve), variant))
    return fits


def _startup(points: Sequence[Point]) -> dict[str, list[tuple[int, stats.Estimate]]]:
    """Start-up seconds per executor and worker count: one sample per started instance."""
    seen: dict[tuple[str, int], dict[tuple[str, int | None], float]] = defaultdict(dict)
    for point in points:
        for record in point.records:
            if record.startup_s is not None:
                seen[(record.executor, record.workers)][(record.run_id, record.instance)] = record.startup_s
    startup: dict[str, list[tuple[int, stats.Estimate]]] = defaultdict(list)
    for (executor, workers), samples in sorted(seen.items()):
        startup[executor].append((workers, stats.median_ci(list(samples.values()))))
    return dict(startup)


def _probe_text(fits: Sequence[ProbeFit]) -> str:
    return "; ".join(f"{fit.label} {fit.text()}" for fit in fits)


def _most_workers(fits: Iterable[ProbeFit]) -> list[ProbeFit]:
    """Each executor's fit at its largest worker count."""
    most: dict[str, ProbeFit] = {}
    for fit in fits:
        if fit.executor not in most or fit.workers > most[fit.executor].workers:
            most[fit.executor] = fit
    return list(most.values())


def _environment_report(
    env: Environment, points: list[Point], varied: dict[str, set[str]], noise: Noise | None = None
) -> EnvironmentReport:
    cases: dict[tuple[Any, ...], list[Point]] = defaultdict(list)
    for point in points:
        cases[point.record.case].append(point)
    for key, group in cases.items():
        level = case_level([record for point in group for record in point.records], key)
        for point in group:
            point.serial_level = level
    case_reports = [_case(env, group, varied.get(group[0].record.workload, ()), noise) for group in cases.values()]
    case_reports.sort(key=lambda case: case.probe)  # the work first, then the probes (a stable sort)
    seen: dict[str, int] = defaultdict(int)
    for case in case_reports:
        seen[case.slug] += 1
        if seen[case.slug] > 1:
            case.slug_suffix = f"-{seen[case.slug]}"
    ok = [p for p in points if p.ok]
    report = EnvironmentReport(
        env,
        case_reports,
        startup=_startup(points),
        overhead=_overhead([p for p in ok if p.record.workload == "noop"]),
        bandwidth=_bandwidth([p for p in ok if p.record.workload == "payload"]),
        granularity=_granularity([p for p in ok if p.record.workload == "spin"]),
    )
    parallel = sorted(
        _most_workers(f for f in report.overhead if f.executor != "serial"), key=lambda f: f.estimate.value
    )
    if parallel:
        report.recommendations.append(f"Per-task cost (noop), cheapest first: {_probe_text(parallel)}.")
    bandwidth = sorted(_most_workers(report.bandwidth), key=lambda f: -f.estimate.value)
    if bandwidth:
        report.recommendations.append(
            f"Bandwidth (payload, each byte counted once), fastest first: {_probe_text(bandwidth)}."
        )
    for fit in report.granularity:
        assert fit.metg is not None
        m = fit.metg
        if m.bound == "above":
            text = f"{fit.label} did not reach {m.target:.0%} efficiency with any task measured"
            text += f" (up to {duration_text(m.value_s)})"
        elif m.bound == "at most":
            text = f"{fit.label} reaches {m.target:.0%} efficiency with the shortest tasks measured"
            text += f" ({duration_text(m.value_s)})"
        else:
            text = f"{fit.label} needs tasks of at least {fit.text()} to reach {m.target:.0%} efficiency (METG)"
        report.recommendations.append(text + ".")
    if any(estimate.n == 1 for values in report.startup.values() for _, estimate in values):
        report.notes.append(
            "Start-up is measured once per executor instance: a point from one run has no interval "
            "(merge journals of several runs for one)."
        )
    return report


def _noise_lines(probed: Sequence[Noise]) -> list[str]:
    """What the noise probes of an environment's runs found (oldest first given; the newest first said)."""
    lines = []
    for found in reversed(probed):
        said = found.summary()
        lines.append(said[0].upper() + said[1:].replace(" before the sweep", f" before the run of {found.created}"))
    return lines


def _model_notes(case: CaseReport, env_model: Any) -> None:
    """What the cost model says of a case: how well it predicts the cells, and where it disagrees."""
    found = case.model
    if found is None or env_model is None:
        return
    error = found.median_error
    if error is not None:
        case.notes.append(
            f"The cost model, with parameters from {env_model.source}, predicts its {len(found.checked)} parallel "
            f"cells with a median error of {error:.0%} (figure: predicted against measured)."
        )
    if found.ceiling:
        case.notes.append(
            f"Its largest item alone takes 1/{found.ceiling:.0f} of the serial run: no back-end can run it more "
            f"than {found.ceiling:.0f}x faster, whatever the workers (the forecast's ceiling)."
        )
    for row in found.best:
        if row.verdict != "agree":
            case.notes.append(
                f"{row.executor} x{row.workers}, measured best chunk {row.measured_chunk}: "
                f"model and measurements {row.verdict}."
            )


def _case_input(case: CaseReport) -> CaseInput:
    """What the cost model is told of a case: its ok records, its ranked configurations, its best's method."""
    records = [r for p in case.points for r in p.records if r.ok and r.times_s]
    ranked = [(p.record, p.speedup) for p in case.ranked if p.speedup is not None]
    return CaseInput(case.key, records, ranked, case.best.record.method if case.best is not None else "map")


def analyse(results: Results, search: Sequence[str | os.PathLike[str]] = ()) -> Analysis:
    """Everything the report shows, computed from the raw samples of ``results``; the cost model's
    parameters come from a calibration of each environment found in the folders ``search`` (under their
    ``calibration/``), else from the journals' own cells."""
    environments, env_of_run = _environments(results)
    grouped: dict[str, dict[Any, list[CellRecord]]] = {env.name: defaultdict(list) for env in environments}
    not_ok: dict[tuple[str, str, str], int] = defaultdict(int)
    orphans = 0
    for cell in results.cells:
        env = env_of_run.get(cell.run_id)
        if env is None:
            orphans += 1
            continue
        grouped[env.name][cell.key].append(cell)
        if not cell.ok:
            not_ok[(cell.status, cell.executor, (cell.error or "").splitlines()[0] if cell.error else "")] += 1
        elif cell.baseline_error:
            not_ok[("unpaired", cell.executor, cell.baseline_error.splitlines()[0])] += 1
    varied = _varied(results.cells)
    reports = []
    for env in environments:
        points = [_pool(records) for records in grouped[env.name].values()]
        for point in points:
            point.trace = results.trace_of(point.record)
        probed = sorted(
            (Noise.from_json(p.to_json()) for p in results.noise if env_of_run.get(p.run_id) is env),
            key=lambda found: found.created,
        )
        report = _environment_report(env, points, varied, probed[-1] if probed else None)
        report.recommendations += _noise_lines(probed)
        report.model = model_view(results, [_case_input(case) for case in report.cases if not case.probe], search)
        for case in report.cases:
            case.model = report.model.cases.get(case.key) if report.model is not None else None
            _model_notes(case, report.model)
        reports.append(report)
    ok = sum(cell.ok for cell in results.cells)
    return Analysis(reports, list(results.runs), len(results.cells), ok, dict(not_ok), orphans, list(results.advice))
