"""The record schema of journals, in one place: typed records and their JSON form.

A journal line is one record: a ``run`` record first, then ``cell`` records
and ``resume`` markers. Each is a frozen dataclass here; ``to_json()`` gives
the line's object and :func:`parse` reads one back, checking it, after
bringing an older schema up to date through :data:`MIGRATIONS`.

Schema history (the ``schema`` field of every record):

1. ``run`` (``run_id``, ``started``, ``argv``, ``matrix``, ``env``), ``cell``
   and ``resume`` (``run_id``, ``started``, ``argv``, ``env``) records.
   Fields added since, without changing any meaning (older journals lack
   them and load with their defaults): ``baseline_s`` (paired serial samples,
   one per round, aligned with ``times_s``; null for serial cells),
   ``baseline_error``, ``warmup`` (``short``/``full``; a matrix without it ran
   whole warm-ups), ``warmup_items``, ``rounds``, ``precision`` and
   ``precision_reached``, ``options`` (every executor option as used),
   ``nodes``, ``rank_nodes``, ``slurm_jobs`` and ``queue_wait_s``, ``window``,
   ``driver_peak_bytes`` and ``traceback``; ``items`` may be null (an endless stream); the
   matrix gained ``precision``, ``max_repeats``, ``warmup``, ``oversubscribe``,
   ``executor_options``, ``methods`` (null: each workload's own) and
   ``workload_sizes`` (sizes of particular workloads, from a preset); the
   run's ``env`` gained ``slurm_node`` and ``slurm_nodes``.
   Then, for fair conditions: cells gained ``threads`` (the inner-threads spec, part of the
   cell's key; cells without it ran before the suite set inner threads, as ``default`` does),
   ``threads_per_worker``, ``threadpools`` (threadpoolctl's view in a worker), ``baseline_threads``,
   ``load`` (the machine's load while the cell ran: ``other_cores``, ``steal``, ``loadavg``,
   ``seconds``, ``busy``), ``stopped`` (why the cell stopped measuring) and ``prior_rounds``
   (rounds taken over from an interrupted record); the matrix gained ``threads`` (journals
   without it ran as ``default``) and ``max_case_time``; the run record gained
   ``workload_files`` (the file and hash of each user workload named by a path).
   Then, for traces: the ``trace`` record kind (one per traced cell, ``role`` ``cell``, and one per
   case and executor group for the traced serial run, ``role`` ``profile``: the cell's key, the
   clock and per-node clock offsets, the traced run's ``wall_s``, ``lanes`` and the ``chunks`` as
   columns), the cell's ``pop`` (the POP metrics of its traced run) and the matrix's ``trace``
   (journals without it ran untraced).
   Then, for the cost model: the ``calibration`` record kind (an environment's fitted back-end
   parameters with intervals, last in the journal of the probes they were fitted on).
   Then, for racing: the matrix's ``repeats`` may be ``race``; a cell's ``stopped`` may be
   ``eliminated`` (with ``eliminated_by``: the leader, the p-value and the round) or ``budget``;
   the ``advice`` record kind (an ``advise`` run: candidates with predictions, the race's history,
   the budget used and the ``recommendation``), last in its journal.
   Then, for each library's own chunking: the chunk spec ``native`` (the cell's ``chunksize`` is the
   size the library's rule gave) and the cell's ``native_chunks`` (joblib: the chunks and items of
   each timed run).
   Then the cell's ``memory_error``, ``trace_error`` and ``profile_error``: why an extra run (the memory
   run, the traced run, the traced serial run of its case) gave nothing.
   Then, for the machine's noise: the ``noise`` record kind (a probe of each core's speed over time,
   ``bench.host.noise``: after the run record of a sweep, and in ``calibrate``'s journal), the matrix's
   ``noise`` (the probe's seconds; journals without it were not probed).
   Then, for crashes: the cell's ``crashed`` (a task ended the process it ran in: the ``step``, what it
   was ``of``, ``in`` the driver or the workers, and ``how`` the process ended; ``--resume`` does not run
   such a cell again).

Golden journals of every schema live in ``tests/data/`` and must keep loading.
A new schema adds an entry to :data:`MIGRATIONS` that turns a record of the
previous schema into one of the new.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from bench.data.format import config_text, threads_phrase
from bench.data.matrix import AUTO, NATIVE, UNSET_THREADS, Matrix, PlanError, is_int
from bench.data.stats import CellStats, Estimate, blocks_of, cell_stats, paired_ratios
from bench.host.registry import WORKLOADS

__all__ = [
    "AUTO",
    "CHUNK_NOTES",
    "NATIVE",
    "FAILED",
    "KINDS",
    "METHODS",
    "MIGRATIONS",
    "NO_CHUNKS",
    "POP_KEYS",
    "SCHEMA",
    "STATUSES",
    "STOPPED",
    "TRACE_COLUMNS",
    "TRACE_EXTRA_COLUMNS",
    "TRACE_ROLES",
    "UNSET_THREADS",
    "AdviceRecord",
    "NoiseRecord",
    "CellIdentity",
    "Case",
    "CellKey",
    "block_rounds",
    "complete_params",
    "declared_params",
    "CalibrationRecord",
    "CellRecord",
    "ENV_FIELDS",
    "SAMPLE_RANGE",
    "is_int",
    "chunk_notes",
    "is_plain",
    "Record",
    "RecordError",
    "ResumeRecord",
    "RunRecord",
    "TraceRecord",
    "parse",
]

#: The schema this version writes.
SCHEMA = 1
#: schema N -> a function turning a record of schema N into one of schema N + 1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
KINDS = ("run", "cell", "resume", "trace", "calibration", "advice", "noise")
#: The POP metrics a cell's ``pop`` holds (``bench.measuring.trace``).
POP_KEYS = ("global", "parallel", "load_balance", "communication", "computation")
#: What a trace record traces: a cell's extra run, or the serial run of its case (the cost profile).
TRACE_ROLES = ("cell", "profile")
#: The columns of a trace record's ``chunks``, one value per chunk.
TRACE_COLUMNS = ("worker", "first", "items", "submit", "start", "end", "done", "bytes_in", "bytes_out")
#: The columns a trace record's ``chunks`` may hold besides (absent from journals older than they are).
TRACE_EXTRA_COLUMNS = ("cpu",)
#: Every status a cell can have; ``error`` says why for all but ``ok``.
STATUSES = ("ok", "error", "timeout", "skipped")
#: The statuses of a cell that failed (the run then exits 1).
FAILED = frozenset({"error", "timeout"})
#: The map methods (a cell's ``method``): ``map`` returns a list; ``imap`` yields results in item order
#: and ``imap_unordered`` as they complete, both lazily, with a bounded window of chunks in flight.
METHODS = ("map", "imap", "imap_unordered")
#: Why a cell stopped measuring (its ``stopped``): the rounds asked for, the precision asked for
#: (``--repeats auto``), eliminated by a race (significantly slower than the best cell of its case),
#: the race's time budget spent, or interrupted (the rounds it has are kept).
STOPPED = ("rounds", "precision", "eliminated", "budget", "interrupted")
#: The chunk spec of back-ends that do not chunk (one cell, chunk size 1).
NO_CHUNKS = "n/a"

#: Identity of a cell within a run: executor, workers, workload, size, chunk
#: spec, params (sorted pairs), map method and inner-threads spec.
CellKey = tuple[str, int, str, int, str, tuple[tuple[str, Any], ...], str, str]
#: What a cell computes, whoever computes it: workload, size and params (sorted pairs).
Case = tuple[str, int, tuple[tuple[str, Any], ...]]


class RecordError(ValueError):
    """A record that is not one of this schema: foreign, malformed or of an unknown version."""


#: What a chunk label's letter means (``250 a``, ``19 n``), for the notes under tables.
CHUNK_NOTES = {
    AUTO: "a: the chunk size that auto resolved to, ceil(items / (4 x workers))",
    NATIVE: "n: the library's own chunking (native): its rule's size, or where it adapts as it runs (joblib) "
    "the mean items per chunk",
}


def chunk_notes(specs: Iterable[str]) -> list[str]:
    """The notes of the chunk letters among ``specs``."""
    found = set(specs)
    return [text for spec, text in CHUNK_NOTES.items() if spec in found]


@functools.cache
def declared_params(workload: str) -> tuple[tuple[str, Any], ...]:
    """The parameters a registered workload declares, at their defaults, sorted; none for a user's workload
    (``module:Class``, ``file.py:Class``: a name read from a journal never imports code) or one this
    installation does not know."""
    if ":" in workload or workload not in WORKLOADS.names():
        return ()
    try:
        declared = WORKLOADS.get(workload).params
    except Exception:  # a broken third-party workload: its cells keep the parameters they recorded
        return ()
    return tuple(sorted((name, param.default) for name, param in declared.items()))


def complete_params(workload: str, params: tuple[tuple[str, Any], ...]) -> tuple[tuple[str, Any], ...]:
    """``params`` with every parameter the workload declares, at its default where they lack it: a cell
    recorded before its workload gained a parameter is the same cell as one recorded after."""
    declared = declared_params(workload)
    if not declared:
        return params
    given = dict(params)
    return tuple(sorted({**dict(declared), **given}.items()))


class CellIdentity:
    """What names a cell, shared by planned cells and cell records: one key, one label.

    The key is the cell's identity wherever cells are matched (a journal's newest record of a cell, resume,
    compare, reports, traces): the params complete with the workload's declared defaults
    (:func:`complete_params`), and the threads spec of a record from before inner threads were set is
    ``default``, as its libraries ran.
    """

    executor: str
    workers: int
    workload: str
    size: int
    chunksize: int
    chunksize_spec: str
    method: str
    threads: str | None

    @property
    def param_items(self) -> tuple[tuple[str, Any], ...]:
        raise NotImplementedError

    @property
    def key(self) -> CellKey:
        """The cell's identity within a run (resume, comparisons, reports)."""
        return (
            self.executor,
            self.workers,
            self.workload,
            self.size,
            self.chunksize_spec,
            complete_params(self.workload, self.param_items),
            self.method,
            self.threads or UNSET_THREADS,
        )

    @property
    def case(self) -> Case:
        """What is computed, whoever computes it: cells of one case share a serial baseline."""
        return (self.workload, self.size, complete_params(self.workload, self.param_items))

    def case_label(self) -> str:
        """E.g. ``fibprimes[2000] order=ascending``."""
        params = "".join(f" {key}={value}" for key, value in self.param_items)
        return f"{self.workload}[{self.size}]{params}"

    def chunk_label(self, short: bool = False) -> str:
        """``16``, ``auto->250`` (``250 a`` when ``short``, for tables), ``native->1`` (``1 n``), or empty for
        back-ends that do not chunk."""
        if self.chunksize_spec == NO_CHUNKS:
            return ""
        if self.chunksize_spec not in (AUTO, NATIVE):
            return str(self.chunksize)
        return f"{self.chunksize} {self.chunksize_spec[0]}" if short else f"{self.chunksize_spec}->{self.chunksize}"

    def executor_label(self) -> str:
        """Who computes the cell: ``process-pool x2``."""
        return f"{self.executor} x{self.workers}"

    def threads_label(self) -> str:
        """``threads=1``, ``threads=default``; empty under ``auto`` (the rule of every cell unless asked
        otherwise) and where it was not recorded."""
        return "" if self.threads in ("auto", None) else f"threads={self.threads}"

    def threads_phrase(self) -> str:
        """``1 thread``, ``2 threads (default)``: what each worker's native libraries had (empty where unknown:
        a trace record does not say)."""
        return threads_phrase(getattr(self, "threads_per_worker", None), self.threads)

    def config(self, short: bool = False) -> str:
        """``process-pool x2, chunk 16, imap, 1 thread``: who computes the cell, and how (``short``: the
        method as narrow columns name it)."""
        return config_text(
            self.executor, self.workers, self.chunk_label(), self.method, self.threads_phrase(), short=short
        )

    def label(self) -> str:
        """Short human name, e.g. ``process-pool x2 fibprimes[2000] order=ascending chunk=auto->250``."""
        chunk = self.chunk_label()
        method = "" if self.method == "map" else f" {self.method}"
        threads = f" {self.threads_label()}" if self.threads_label() else ""
        return f"{self.executor_label()} {self.case_label()}{' chunk=' + chunk if chunk else ''}{method}{threads}"


# -- checking ---------------------------------------------------------------


def _is_number(value: Any) -> bool:
    """A finite JSON number (an integer of any size: never converted to float)."""
    return is_int(value) or (isinstance(value, float) and math.isfinite(value))


#: The shortest and longest duration a timed sample can have, in seconds (a clock's nanosecond; decades).
SAMPLE_RANGE = (1e-9, 1e9)


def _samples(value: Any) -> bool:
    low, high = SAMPLE_RANGE
    return isinstance(value, list) and all(_is_number(v) and low <= v <= high for v in value)


def is_plain(value: Any) -> bool:
    """A value a cell's ``params`` can hold: a string, a finite number, true, false or null."""
    return value is None or isinstance(value, (str, bool)) or _is_number(value)


def _threads_spec(value: Any) -> bool:
    return value in ("auto", "default") or (isinstance(value, str) and value.isdecimal() and int(value) >= 1)


def _columns(value: Any) -> bool:
    if not isinstance(value, dict) or not set(TRACE_COLUMNS) <= set(value) <= {*TRACE_COLUMNS, *TRACE_EXTRA_COLUMNS}:
        return False
    lengths = {len(column) if isinstance(column, list) else -1 for column in value.values()}
    return len(lengths) == 1 and -1 not in lengths


def _chunk_spec(value: Any) -> bool:
    return value in (NO_CHUNKS, AUTO, NATIVE) or (isinstance(value, str) and value.isdecimal() and int(value) >= 1)


_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "str?": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "pos": (lambda v: is_int(v) and v >= 1, "a positive integer"),
    "int?": (lambda v: v is None or (is_int(v) and v >= 0), "a non-negative integer or null"),
    "num?": (lambda v: v is None or (_is_number(v) and v >= 0), "a non-negative number or null"),
    "real?": (lambda v: v is None or _is_number(v), "a number or null"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "bool?": (lambda v: v is None or isinstance(v, bool), "true, false or null"),
    "dict": (lambda v: isinstance(v, dict), "an object"),
    "dict?": (lambda v: v is None or isinstance(v, dict), "an object or null"),
    "strs?": (
        lambda v: v is None or (isinstance(v, list) and all(isinstance(a, str) for a in v)),
        "a list of strings or null",
    ),
    "dicts?": (
        lambda v: v is None or (isinstance(v, list) and all(isinstance(a, dict) for a in v)),
        "a list of objects or null",
    ),
    "argv": (lambda v: isinstance(v, list) and all(isinstance(a, str) for a in v), "a list of strings"),
    "samples": (_samples, f"a list of durations from {SAMPLE_RANGE[0]:g} to {SAMPLE_RANGE[1]:g} s"),
    "samples?": (
        lambda v: v is None or _samples(v),
        f"a list of durations from {SAMPLE_RANGE[0]:g} to {SAMPLE_RANGE[1]:g} s, or null",
    ),
    "status": (lambda v: v in STATUSES, f"one of {', '.join(STATUSES)}"),
    "stopped?": (lambda v: v is None or v in STOPPED, f"one of {', '.join(STOPPED)}, or null"),
    "threads?": (
        lambda v: v is None or _threads_spec(v),
        "'auto', 'default' or a positive number of threads as a string, or null",
    ),
    "method": (lambda v: v in METHODS, f"one of {', '.join(METHODS)}"),
    "chunkspec": (_chunk_spec, f"{NO_CHUNKS!r}, {AUTO!r}, {NATIVE!r} or a positive integer as a string"),
    "params": (
        lambda v: isinstance(v, dict) and all(is_plain(a) for a in v.values()),
        "an object of strings, numbers, booleans or nulls",
    ),
    "role": (lambda v: v in TRACE_ROLES, f"one of {', '.join(TRACE_ROLES)}"),
    "pop?": (
        lambda v: v is None or (isinstance(v, dict) and all(x is None or _is_number(x) for x in v.values())),
        "an object of numbers or nulls, or null",
    ),
    "columns": (
        _columns,
        f"an object of equally long lists ({', '.join(TRACE_COLUMNS)}; {', '.join(TRACE_EXTRA_COLUMNS)} optional)",
    ),
    "any": (lambda v: True, ""),
}


#: The fields of a run's ``env`` that the suite reads, and what each must be when present: a journal
#: that breaks them is refused when loaded instead of failing in a report. Other fields are kept as they are.
ENV_FIELDS = {
    **dict.fromkeys(
        ("python", "python_implementation", "python_executable", "platform", "machine", "hostname", "cpu"), "str?"
    ),
    **dict.fromkeys(("mpi_library", "mpi_version", "mpi_launch", "git_commit", "slurm_nodes", "slurm_node"), "str?"),
    **dict.fromkeys(("cores", "cores_available", "mpi_world_size"), "int?"),
    "slurm_job_id": "str?",
    "git_dirty": "bool?",
    "packages": "dict?",
    "slurm": "dict?",
    "executors": "dict?",
}


def _meta(check: str) -> dict[str, str]:
    return {"check": check}


def _check_fields(cls: type, data: Mapping[str, Any]) -> None:
    kind = cls.kind  # type: ignore[attr-defined]
    for spec in fields(cls):
        if spec.name not in data:
            if spec.default is spec.default_factory:  # both MISSING: a required field
                raise RecordError(f"{kind} record lacks {spec.name!r}")
            continue
        test, wanted = _CHECKS[spec.metadata.get("check", "any")]
        if not test(data[spec.name]):
            raise RecordError(f"{kind} record: {spec.name!r} must be {wanted}, not {_short(data[spec.name])}")
    env = data.get("env")
    if kind in ("run", "resume") and isinstance(env, dict):
        for key, check in ENV_FIELDS.items():
            test, wanted = _CHECKS[check]
            if key in env and not test(env[key]):
                raise RecordError(f"{kind} record: env {key!r} must be {wanted}, not {_short(env[key])}")


def _short(value: Any, limit: int = 60) -> str:
    """A value as the error line shows it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Record:
    kind: ClassVar[str]

    def to_json(self) -> dict[str, Any]:
        """The journal line's object: schema and kind first, then the fields, then unknown extras."""
        data: dict[str, Any] = {"schema": SCHEMA, "kind": self.kind}
        for spec in fields(self):  # type: ignore[arg-type]
            if spec.name == "extra":
                continue
            value = getattr(self, spec.name)
            data[spec.name] = value.to_json() if spec.name == "matrix" and value is not None else value
        data.update(getattr(self, "extra", {}))
        return data


@dataclass(frozen=True)
class RunRecord(_Record):
    """The first line of a journal: what was asked for, and where it ran."""

    kind: ClassVar[str] = "run"
    run_id: str = field(metadata=_meta("str"))
    started: str = field(metadata=_meta("str"))
    argv: list[str] = field(default_factory=list, metadata=_meta("argv"))
    matrix: Matrix | None = None
    env: dict[str, Any] = field(default_factory=dict, metadata=_meta("dict"))
    #: Each user workload named by a file (``path/file.py:Class``): ``path`` (absolute) and ``sha256``,
    #: so that a resumed run finds the same file from any folder, and says when it changed.
    workload_files: dict[str, Any] = field(default_factory=dict, metadata=_meta("dict"))
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ResumeRecord(_Record):
    """Marks where a resumed run appended its cells, with the environment it resumed in."""

    kind: ClassVar[str] = "resume"
    run_id: str = field(metadata=_meta("str"))
    started: str = field(metadata=_meta("str"))
    argv: list[str] = field(default_factory=list, metadata=_meta("argv"))
    env: dict[str, Any] = field(default_factory=dict, metadata=_meta("dict"))
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class _KeyedRecord(_Record, CellIdentity):
    """The fields that name a cell, first in its record and in its trace record (``params``, ``method``
    and ``threads``, which have defaults, follow in each)."""

    run_id: str = field(metadata=_meta("str"))
    executor: str = field(metadata=_meta("str"))
    workers: int = field(metadata=_meta("pos"))
    workload: str = field(metadata=_meta("str"))
    size: int = field(metadata=_meta("pos"))
    chunksize: int = field(metadata=_meta("pos"))
    chunksize_spec: str = field(metadata=_meta("chunkspec"))

    @property
    def param_items(self) -> tuple[tuple[str, Any], ...]:
        return tuple(sorted(self.params.items()))  # type: ignore[attr-defined]


def block_rounds(count: int, blocks: Sequence[Mapping[str, Any]] | None) -> list[int]:
    """The rounds of each of a cell's ``blocks`` (``CellRecord.blocks``) where they account for its ``count``
    rounds, else one block of them all (``bench.data.stats.blocks_of``)."""
    return blocks_of(count, [int(block.get("rounds") or 0) for block in blocks or ()])


@dataclass(frozen=True)
class CellRecord(_KeyedRecord):
    """One measured (or skipped) cell: raw samples, answer and provenance."""

    kind: ClassVar[str] = "cell"
    status: str = field(metadata=_meta("status"))
    params: dict[str, Any] = field(default_factory=dict, metadata=_meta("params"))
    method: str = field(default="map", metadata=_meta("method"))
    #: The inner-threads spec (``auto``, ``default`` or a number); part of the cell's key. Null in
    #: records from before the suite set inner threads (their libraries ran as ``default`` runs them).
    threads: str | None = field(default=None, metadata=_meta("threads?"))
    #: The threads each worker's native libraries had: set by the suite, or under ``default`` the most
    #: any of a worker's thread pools used (null: none loaded, or not recorded).
    threads_per_worker: int | None = field(default=None, metadata=_meta("int?"))
    #: threadpoolctl's view of the thread pools in a worker, once the cell's task had run there.
    threadpools: list[dict[str, Any]] | None = field(default=None, metadata=_meta("dicts?"))
    #: The threads of the paired serial baseline (one per core: the most one process can use).
    baseline_threads: int | None = field(default=None, metadata=_meta("int?"))
    #: The machine's load while the cell's timed runs and their baselines ran (``bench.host.cpuload``).
    load: dict[str, Any] | None = field(default=None, metadata=_meta("dict?"))
    #: Why the cell stopped measuring (one of STOPPED); null for a cell that failed or was skipped.
    stopped: str | None = field(default=None, metadata=_meta("stopped?"))
    #: For a cell a race eliminated: ``leader`` (the label of the cell it was slower than), ``p`` (the
    #: one-sided p-value) and ``round`` (its rounds then); see ``bench.measuring.race``.
    eliminated_by: dict[str, Any] | None = field(default=None, metadata=_meta("dict?"))
    #: The POP metrics of the cell's traced run (``global``, ``parallel``, ``load_balance``,
    #: ``communication``, ``computation``; see ``bench.measuring.trace``); null: not traced.
    pop: dict[str, float | None] | None = field(default=None, metadata=_meta("pop?"))
    #: Under ``native`` where the library sizes chunks as it runs (joblib's ``batch_size="auto"``): per timed
    #: run, the ``chunks`` it dispatched and their ``items``; the record's ``chunksize`` is then the median over
    #: the runs of their mean items per chunk.
    native_chunks: list[dict[str, Any]] | None = field(default=None, metadata=_meta("dicts?"))
    #: Rounds taken over from an earlier record of the cell that an interrupt cut short (``--resume``).
    prior_rounds: int | None = field(default=None, metadata=_meta("int?"))
    #: The blocks the rounds were measured in, in order: each block's ``rounds`` (consecutive in ``times_s``)
    #: and its executor ``instance``, every block a fresh instance at another moment of the sweep
    #: (``Matrix.blocks``); the intervals hold across them (``bench.data.stats.blocked_median_ci``). Null: one.
    blocks: list[dict[str, Any]] | None = field(default=None, metadata=_meta("dicts?"))
    options: dict[str, Any] = field(default_factory=dict, metadata=_meta("dict"))
    startup_s: float | None = field(default=None, metadata=_meta("num?"))
    warmup: str | None = field(default=None, metadata=_meta("str?"))
    warmup_items: int | None = field(default=None, metadata=_meta("int?"))
    warmup_s: float | None = field(default=None, metadata=_meta("num?"))
    times_s: list[float] = field(default_factory=list, metadata=_meta("samples"))
    #: Serial runs of the same case, one per round, paired with ``times_s``; None when unpaired.
    baseline_s: list[float] | None = field(default=None, metadata=_meta("samples?"))
    baseline_error: str | None = field(default=None, metadata=_meta("str?"))
    rounds: int | None = field(default=None, metadata=_meta("int?"))
    precision: float | None = field(default=None, metadata=_meta("num?"))
    precision_reached: bool | None = field(default=None, metadata=_meta("bool?"))
    teardown_s: float | None = field(default=None, metadata=_meta("num?"))
    error: str | None = field(default=None, metadata=_meta("str?"))
    #: The last lines of the traceback that failed the cell: the worker's, where the exception came from one.
    traceback: str | None = field(default=None, metadata=_meta("str?"))
    answer: Any = None
    verified: bool | None = field(default=None, metadata=_meta("bool?"))
    items: int | None = field(default=None, metadata=_meta("int?"))
    instance: int | None = field(default=None, metadata=_meta("int?"))
    oversubscribed: bool = field(default=False, metadata=_meta("bool"))
    #: imap / imap_unordered: the most chunks in flight at once (null under map).
    window: int | None = field(default=None, metadata=_meta("int?"))
    #: Peak bytes the driver's Python code allocated in one extra, untimed run (tracemalloc).
    driver_peak_bytes: int | None = field(default=None, metadata=_meta("int?"))
    #: Why an extra run gave nothing (the cell stays as it was): its memory run, its traced run, and the
    #: traced serial run of its case beside which it was traced (its cost profile: no POP computation then).
    memory_error: str | None = field(default=None, metadata=_meta("str?"))
    trace_error: str | None = field(default=None, metadata=_meta("str?"))
    #: The wall times of the cell's traced runs, in order (another comes where one lies more than 10% from the
    #: median of ``times_s``, up to three): its ``pop`` and trace record are of the one nearest that median.
    trace_walls_s: list[float] | None = field(default=None, metadata=_meta("samples?"))
    profile_error: str | None = field(default=None, metadata=_meta("str?"))
    #: A task ended the process it ran in (``bench.measuring.steps``): ``step``, ``of`` (the cell or case it
    #: ran), ``in`` (``driver`` or ``workers``) and ``how``; the cell is ``error`` and stays so on ``--resume``.
    crashed: dict[str, Any] | None = field(default=None, metadata=_meta("dict?"))
    finished: str | None = field(default=None, metadata=_meta("str?"))
    #: The node each worker ran on (Slurm's node name inside a job, else the host name), sorted.
    nodes: list[str] | None = field(default=None, metadata=_meta("strs?"))
    #: mpi-comm: the node of each rank of its communicator, rank 0 (the driver) first.
    rank_nodes: list[str] | None = field(default=None, metadata=_meta("strs?"))
    #: dask-slurm: one object per worker job (``job_id``, ``node``, ``submitted``, ``started``, ``queue_wait_s``).
    slurm_jobs: list[dict[str, Any]] | None = field(default=None, metadata=_meta("dicts?"))
    #: dask-slurm: the longest wait of its jobs from submission to start (part of ``startup_s``).
    queue_wait_s: float | None = field(default=None, metadata=_meta("num?"))
    #: Fields this version does not know (written by a later version of the schema), kept as they are.
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def failed(self) -> bool:
        return self.status in FAILED

    @property
    def paired(self) -> bool:
        """Every timed sample has its serial baseline sample."""
        return self.baseline_s is not None and len(self.baseline_s) == len(self.times_s) > 0

    @property
    def ratios(self) -> list[float] | None:
        """The per-round speedups ``baseline / time`` of a paired cell; None for an unpaired one."""
        if not self.paired:
            return None
        return [float(ratio) for ratio in paired_ratios(self.baseline_s or [], self.times_s)]

    @functools.cached_property
    def stats(self) -> CellStats | None:
        """Median time, paired speedup and efficiency of an ok cell, each with its interval (None for the
        others): ``bench.data.derived.pooled_stats`` of this record alone."""
        if not self.ok or not self.times_s:
            return None
        return cell_stats(self.times_s, self.baseline_s if self.paired else None, self.workers, self.block_sizes)

    @property
    def speedup(self) -> Estimate | None:
        """The cell's paired speedup with its interval (of :attr:`stats`); None without one."""
        return self.stats.speedup if self.stats is not None else None

    @property
    def block_sizes(self) -> list[int]:
        """The rounds of each block the cell's rounds were measured in (one block: all of them)."""
        return block_rounds(len(self.times_s), self.blocks)

    @property
    def threads_oversubscribed(self) -> bool:
        """Workers x inner threads exceed the cores (those the serial baseline had, one thread each)."""
        cores, threads = self.baseline_threads, self.threads_per_worker
        return bool(cores and threads and self.workers * threads > cores)

    @property
    def busy(self) -> bool:
        """Other processes took a share of the CPU while the cell ran (``load.busy``)."""
        return bool(self.load and self.load.get("busy"))

    @property
    def interrupted(self) -> bool:
        """An interrupt stopped the cell before all its rounds: it holds the rounds it has."""
        return self.stopped == "interrupted"

    @property
    def complete(self) -> bool:
        """Ok, with every round it was to have, or crashed (it would crash again): nothing for ``--resume``."""
        return (self.ok and not self.interrupted) or self.crashed is not None


@dataclass(frozen=True)
class TraceRecord(_KeyedRecord):
    """The traced run of a cell (``role`` ``cell``), or the traced serial run of its case that gives the
    items' serial costs (``role`` ``profile``: executor, workers and threads name the group it ran
    beside). Times are seconds since the run began, on the driver's clock (``clock``)."""

    kind: ClassVar[str] = "trace"
    role: str = field(metadata=_meta("role"))
    wall_s: float = field(metadata=_meta("num?"))
    chunks: dict[str, list[Any]] = field(metadata=_meta("columns"))
    params: dict[str, Any] = field(default_factory=dict, metadata=_meta("params"))
    method: str = field(default="map", metadata=_meta("method"))
    threads: str | None = field(default=None, metadata=_meta("threads?"))
    instance: int | None = field(default=None, metadata=_meta("int?"))
    #: The cell's median timed run, against which the traced run's ``wall_s`` shows what tracing cost.
    median_s: float | None = field(default=None, metadata=_meta("num?"))
    #: The serial useful time of the items traced: the case's profile, times ``serial_scale``; null where
    #: unknown.
    serial_s: float | None = field(default=None, metadata=_meta("num?"))
    #: The median of the case's paired baselines over the profile's run time (1: no baselines): one serial
    #: run is noisy, the rounds' median much less, so the profile gives the shape and the median the level.
    serial_scale: float | None = field(default=None, metadata=_meta("num?"))
    #: ``name`` (the clock), ``shared`` (one host's monotonic clock) and ``offsets``: per node,
    #: ``offset_s``, ``uncertainty_s`` and ``probes`` (subtracted from its workers' times).
    clock: dict[str, Any] = field(default_factory=dict, metadata=_meta("dict"))
    #: One object per worker lane (``node``, ``pid``, ``rank``, ``thread``); ``chunks["worker"]`` indexes it.
    lanes: list[dict[str, Any]] = field(default_factory=list, metadata=_meta("dicts?"))
    #: The chunks of the run; ``chunks`` then holds a uniform sample of them when ``sampled``.
    chunks_total: int = field(default=0, metadata=_meta("int?"))
    sampled: bool = field(default=False, metadata=_meta("bool"))
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def overhead(self) -> float | None:
        """What tracing cost: the traced run's time over the cell's median, less one."""
        return self.wall_s / self.median_s - 1 if self.median_s else None

    @property
    def cpu_share(self) -> float | None:
        """The CPU time of the chunks (their workers' threads) over their compute time: about 1 where each
        worker had a core to itself, lower where it waited for the GIL or for a core; None without CPU
        times (a journal older than them)."""
        cpu = self.chunks.get("cpu")
        spans = zip(self.chunks["start"], self.chunks["end"], strict=True)
        useful: float = sum(max(end - start, 0.0) for start, end in spans)
        if cpu is None or None in cpu or useful <= 0:
            return None
        return float(sum(cpu)) / useful


@dataclass(frozen=True)
class CalibrationRecord(_Record):
    """An environment's fitted back-end parameters (``bench.model.cost``), last in the journal of the probe
    cells they were fitted on: per executor, ``params`` (each of ``params``'s names: ``value``, ``low``,
    ``high``, a 95% interval), ``draws`` (parameter sets drawn from the fit, for predictions' intervals),
    ``cores``, ``cells``, ``rms`` (the fit's relative residual), ``gil`` and ``startup``; ``noise``: the
    machine's noise while the probes ran (``bench.host.noise``, without the spins)."""

    kind: ClassVar[str] = "calibration"
    run_id: str = field(metadata=_meta("str"))
    #: The environment's id (``bench.model.cost.env_id``): host, CPU, cores, Python and library versions.
    env_id: str = field(metadata=_meta("str"))
    created: str = field(metadata=_meta("str"))
    cores: int = field(metadata=_meta("pos"))
    params: list[str] = field(default_factory=list, metadata=_meta("argv"))
    executors: dict[str, Any] = field(default_factory=dict, metadata=_meta("dict"))
    env: dict[str, Any] = field(default_factory=dict, metadata=_meta("dict"))
    #: The machine's noise while the probes ran: the journal's ``noise`` record without its spins.
    noise: dict[str, Any] | None = field(default=None, metadata=_meta("dict?"))
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class AdviceRecord(_Record):
    """What an ``advise`` run decided (``bench.model.advise``), last in its journal after the cells it measured:
    the case, the ``candidates`` (each with its predicted speedup and whether it entered the race), the
    race's ``history`` of events, the ``budget_s`` and ``spent_s``, the ``recommendation`` (``executor``,
    ``workers``, ``chunksize``, ``method``, ``threads``, with its measured and predicted speedups), the
    ``runner_ups``, the ``forecast`` for larger machines and the workload's ``ceiling``."""

    kind: ClassVar[str] = "advice"
    run_id: str = field(metadata=_meta("str"))
    workload: str = field(metadata=_meta("str"))
    size: int = field(metadata=_meta("pos"))
    params: dict[str, Any] = field(default_factory=dict, metadata=_meta("dict"))
    max_workers: int = field(default=1, metadata=_meta("pos"))
    budget_s: float | None = field(default=None, metadata=_meta("num?"))
    spent_s: float | None = field(default=None, metadata=_meta("num?"))
    #: Where the model's parameters came from (a calibration journal's path, or how they were fitted).
    calibration: str | None = field(default=None, metadata=_meta("str?"))
    candidates: list[dict[str, Any]] = field(default_factory=list, metadata=_meta("dicts?"))
    history: list[dict[str, Any]] = field(default_factory=list, metadata=_meta("dicts?"))
    recommendation: dict[str, Any] | None = field(default=None, metadata=_meta("dict?"))
    runner_ups: list[dict[str, Any]] = field(default_factory=list, metadata=_meta("dicts?"))
    forecast: list[dict[str, Any]] = field(default_factory=list, metadata=_meta("dicts?"))
    ceiling: float | None = field(default=None, metadata=_meta("num?"))
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class NoiseRecord(_Record):
    """A probe of the machine's noise (``bench.host.noise``): each core's ``modes`` (speeds and the share of
    time at each), ``run_spread`` (how much a 1 s run varied), ``spell_s`` (how long a core stayed at one
    speed); ``together`` (how much the cores moved together), ``other_cores`` and ``steal`` meanwhile, and
    every spin (``samples``: per core, [start s, duration s]). When it ran (``created``) and for how long
    (``seconds``); ``rounds_5pct`` and ``minutes_5pct``: the paired rounds, and the minutes to spread them
    over, that telling configurations 5% apart takes here."""

    kind: ClassVar[str] = "noise"
    run_id: str = field(metadata=_meta("str"))
    created: str = field(metadata=_meta("str"))
    seconds: float = field(metadata=_meta("num?"))
    spin_s: float = field(metadata=_meta("num?"))
    cores: list[dict[str, Any]] = field(default_factory=list, metadata=_meta("dicts?"))
    together: float | None = field(default=None, metadata=_meta("real?"))
    other_cores: float | None = field(default=None, metadata=_meta("num?"))
    steal: float | None = field(default=None, metadata=_meta("num?"))
    run_spread: float | None = field(default=None, metadata=_meta("num?"))
    #: The standard deviation of the log of a paired ratio of two 1 s runs back to back.
    paired: float | None = field(default=None, metadata=_meta("num?"))
    rounds_5pct: int | None = field(default=None, metadata=_meta("int?"))
    minutes_5pct: float | None = field(default=None, metadata=_meta("num?"))
    samples: dict[str, Any] = field(default_factory=dict, repr=False, metadata=_meta("dict"))
    host: str | None = field(default=None, metadata=_meta("str?"))
    cpu: str | None = field(default=None, metadata=_meta("str?"))
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


Record = RunRecord | CellRecord | ResumeRecord | TraceRecord | CalibrationRecord | AdviceRecord | NoiseRecord
_CLASSES: dict[str, type[Any]] = {
    "run": RunRecord,
    "cell": CellRecord,
    "resume": ResumeRecord,
    "trace": TraceRecord,
    "calibration": CalibrationRecord,
    "advice": AdviceRecord,
    "noise": NoiseRecord,
}
CELL_FIELDS = tuple(spec.name for spec in fields(CellRecord) if spec.name not in ("run_id", "extra"))


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    schema = data.get("schema")
    if not is_int(schema):
        raise RecordError(f"not a journal record (schema {_short(schema)})")
    while schema in MIGRATIONS and schema != SCHEMA:
        data = MIGRATIONS[schema](data)
        schema = data["schema"]
    if schema != SCHEMA:
        readable = ", ".join(map(str, sorted({*MIGRATIONS, SCHEMA})))
        raise RecordError(f"schema {_short(schema)} is not supported (this version reads schema {readable})")
    return data


def parse(data: Any) -> Record:
    """The typed record of one journal line's object; RecordError says what is wrong with it."""
    if not isinstance(data, dict):
        raise RecordError("not a journal record (not a JSON object)")
    data = _migrate(data)
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in _CLASSES:
        raise RecordError(f"unknown record kind {_short(kind)} (known: {', '.join(KINDS)})")
    cls = _CLASSES[kind]
    _check_fields(cls, data)
    known = {spec.name for spec in fields(cls)} - {"extra"}
    values = {key: value for key, value in data.items() if key in known}
    if kind == "run" and values.get("matrix") is not None:
        try:
            values["matrix"] = Matrix.from_json(values["matrix"])
        except PlanError as exc:
            raise RecordError(f"run record: {exc}") from None
    if kind == "cell":
        baseline, times = values.get("baseline_s"), values.get("times_s", [])
        if baseline is not None and len(baseline) != len(times):
            raise RecordError(f"cell record: {len(baseline)} baseline samples for {len(times)} timed samples")
    extra = {key: value for key, value in data.items() if key not in known and key not in ("schema", "kind")}
    return cls(**values, extra=extra)  # type: ignore[no-any-return]
