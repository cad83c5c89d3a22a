"""What to sweep: the matrix of a sweep, as Python takes it and a journal's run record keeps it.

The bottom of the suite's floors with the record schema (``bench.data.schema``):
a matrix is checked here for what a journal can hold (``Matrix.from_json``),
and by ``bench.measuring.plan`` for what can run (``validate``, ``build``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.host import inner_threads

__all__ = ["AUTO", "NATIVE", "RACE", "MAX_CASE_TIME_S", "UNSET_THREADS", "Matrix", "PlanError", "is_int"]

AUTO = "auto"
#: The chunk spec "what the library does when it is given no chunk size" (see ``Executor.native_chunksize``).
NATIVE = "native"
#: ``repeats="race"``: as ``auto``, and a cell also stops once it is significantly slower than the best
#: cell of its case (``bench.measuring.race``).
RACE = "race"
#: The inner-threads spec that stands for a cell recorded before the suite set inner threads
#: (``threads`` null): its libraries ran as they start.
UNSET_THREADS = "default"
#: How long the serial run of a case may be estimated to take before a matrix with it is refused
#: (``max_case_time``; None: no bound).
MAX_CASE_TIME_S = 300.0
#: Seconds of the noise probe at the start of a sweep, unless the matrix or ``BENCH_NOISE_S`` says otherwise.
NOISE_S = 2.0
#: The environment variable that sets the probe's seconds where the matrix leaves it (None).
NOISE_VARIABLE = "BENCH_NOISE_S"
#: Blocks a sweep spreads each cell's rounds over, unless the matrix or ``BENCH_BLOCKS`` says otherwise
#: (fewer where the rounds are too few: ``bench.measuring.plan.sweep_blocks``).
BLOCKS = 3
#: The environment variable that sets the blocks where the matrix leaves them (None).
BLOCKS_VARIABLE = "BENCH_BLOCKS"


def is_int(value: Any) -> bool:
    """An integer of JSON (``true`` and ``false`` are not)."""
    return isinstance(value, int) and not isinstance(value, bool)


class PlanError(ValueError):
    """A matrix that cannot be run: a bad name, value or combination.

    ``allowed_by`` names the Matrix field that, set to True, would allow it.
    """

    #: What the field that allows it takes, in Python and on the command line (after its flag).
    ALLOWING = {"cell_timeout": ("SECONDS", ""), "max_case_time": ("None", " off")}

    def __init__(self, reason: str, *, allowed_by: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.allowed_by = reason, allowed_by

    def __str__(self) -> str:
        value = self.ALLOWING.get(self.allowed_by or "", ("True", ""))[0]
        return self.reason + (f"; {self.allowed_by}={value} allows it" if self.allowed_by else "")

    def command_line(self) -> str:
        """The message with the option that would allow it, as the command line names it."""
        if not self.allowed_by:
            return self.reason
        value = self.ALLOWING.get(self.allowed_by, ("", ""))[1]
        return f"{self.reason}; --{self.allowed_by.replace('_', '-')}{value} allows it"


def _unique(values: Any) -> Any:
    """A list option as a tuple without repeats (first occurrence kept); other values as they are."""
    return tuple(dict.fromkeys(values)) if isinstance(values, (tuple, list)) else values


def _chunk_text(spec: Any) -> Any:
    """Chunk sizes may be given as numbers in Python; the matrix keeps their text (``"16"``, ``"auto"``)."""
    return str(spec) if is_int(spec) else spec


#: The fields of a matrix that map names to lists (a journal keeps them as objects of lists).
NESTED = ("params", "workload_sizes", "workload_threads", "threads_workers")


@dataclass(frozen=True)
class Matrix:
    """What to sweep. ``None`` means: every executor / the workload's default size.

    ``repeats`` is a number of timed rounds, or ``"auto"``: rounds until the
    95% interval of every cell's paired speedup is within +-``precision`` of
    it (at most ``max_repeats``), or ``"race"``: as ``auto``, and a cell also
    stops as soon as it is significantly slower than the best cell of its case
    (``bench.measuring.race``). Repeated values in a list make one cell.
    """

    executors: Sequence[str] | None = None
    workloads: Sequence[str] = ("fibprimes",)
    workers: Sequence[int] = (1, 2)
    chunksizes: Sequence[str | int] = ("1", "16", AUTO)
    sizes: Sequence[int] | None = None
    #: Sizes of particular workloads, by name, in place of ``sizes`` (a preset's small sizes).
    workload_sizes: dict[str, Sequence[int]] = field(default_factory=dict)
    #: Map methods (``map``, ``imap``, ``imap_unordered``); None: each workload's own default.
    methods: Sequence[str] | None = None
    params: dict[str, Sequence[str]] = field(default_factory=dict)
    repeats: int | str = 3
    cell_timeout: float | None = None
    precision: float = 0.03
    max_repeats: int = 20
    warmup: str = "short"
    oversubscribe: bool = False
    #: Settings of the back-ends (``KEY: VALUE`` text); each goes to the executors that take it.
    executor_options: dict[str, str] = field(default_factory=dict)
    #: Inner threads of each worker's native libraries: ``auto``, ``default`` or a number
    #: (``bench.host.inner_threads``).
    threads: Sequence[str | int] = (inner_threads.AUTO,)
    #: Inner threads of particular workloads, by name, in place of ``threads`` (a preset's comparisons).
    workload_threads: dict[str, Sequence[str]] = field(default_factory=dict)
    #: The worker counts at which particular threads specs are measured, by spec (a preset's comparisons;
    #: other specs: every worker count).
    threads_workers: dict[str, Sequence[int]] = field(default_factory=dict)
    #: Seconds the serial run of a case may be estimated to take (a probe runs before the sweep);
    #: None: no bound and no estimate.
    max_case_time: float | None = MAX_CASE_TIME_S
    #: One extra, untimed traced run per ok cell (and a traced serial run per case), for the POP metrics
    #: and the timelines (``bench.measuring.trace``).
    trace: bool = True
    #: One extra, untimed run per ok cell that measures the driver's peak memory (``tracemalloc``).
    memory: bool = True
    #: Seconds of the machine's noise probe at the start of the sweep (``bench.host.noise``): its record
    #: goes into the journal after the run's; 0: no probe; None: ``BENCH_NOISE_S`` where it is set, else NOISE_S.
    noise: float | None = None
    #: Blocks each cell's rounds are spread over: the sweep measures every group once per block, each time
    #: on a fresh executor instance, so that a cell's rounds meet the machine at several moments and its
    #: intervals hold across them (``bench.data.stats.blocked_median_ci``); None: ``BENCH_BLOCKS`` where
    #: it is set, else BLOCKS; 1: every round of a group in one go, as before blocks.
    blocks: int | None = None

    def __post_init__(self) -> None:
        for name in ("executors", "workloads", "workers", "chunksizes", "sizes", "methods", "threads"):
            value = getattr(self, name)
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                value = (value,)  # one value for a list option
            object.__setattr__(self, name, _unique(value))
        if isinstance(self.chunksizes, tuple):
            object.__setattr__(self, "chunksizes", _unique(tuple(map(_chunk_text, self.chunksizes))))
        if isinstance(self.threads, tuple):
            object.__setattr__(self, "threads", _unique(tuple(map(inner_threads.spec_text, self.threads))))
        params = {
            key: _unique(tuple(map(str, [values] if isinstance(values, (str, int, float)) else values)))
            for key, values in dict(self.params).items()
        }
        object.__setattr__(self, "params", params)
        sizes = {str(name): _unique(tuple(values)) for name, values in dict(self.workload_sizes).items()}
        object.__setattr__(self, "workload_sizes", sizes)
        specs = {
            str(name): _unique(tuple(map(inner_threads.spec_text, values)))
            for name, values in dict(self.workload_threads).items()
        }
        object.__setattr__(self, "workload_threads", specs)
        counts = {
            inner_threads.spec_text(spec): _unique(tuple(values)) for spec, values in dict(self.threads_workers).items()
        }
        object.__setattr__(self, "threads_workers", counts)
        object.__setattr__(self, "executor_options", {str(k): str(v) for k, v in dict(self.executor_options).items()})

    def sizes_of(self, workload: str) -> Sequence[int]:
        """The sizes asked for ``workload`` (empty: its default size)."""
        return self.workload_sizes.get(workload) or self.sizes or ()

    def threads_of(self, workload: str) -> Sequence[str]:
        """The inner-threads specs asked for ``workload``."""
        return tuple(map(str, self.workload_threads.get(workload) or self.threads))

    @property
    def all_threads(self) -> tuple[str, ...]:
        """Every inner-threads spec of the matrix, in order."""
        return tuple(dict.fromkeys(spec for name in self.workloads for spec in self.threads_of(name)))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in NESTED:
            data[name] = {key: list(values) for key, values in getattr(self, name).items()}
        return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}

    @classmethod
    def from_json(cls, data: Any) -> Matrix:
        """The matrix of a journal's run record; PlanError names a key or value it cannot take."""
        if not isinstance(data, dict):
            raise PlanError(f"matrix must be an object, not {data!r}")
        known = {spec.name: spec for spec in dataclasses.fields(cls)}
        for key, value in data.items():
            if key not in known:
                raise PlanError(f"matrix has an unknown key {key!r} (known: {', '.join(known)})")
            test, wanted = _JSON_TYPES[key]
            if not test(value):
                raise PlanError(f"matrix {key!r} must be {wanted}, not {value!r}")

        def tup(value: Any) -> Any:
            return tuple(value) if isinstance(value, list) else value

        fields = {key: tup(value) for key, value in data.items() if key not in NESTED}
        for name in NESTED:
            fields[name] = {key: tuple(values) for key, values in data.get(name, {}).items()}
        fields.setdefault("warmup", "full")  # journals from before short warm-ups ran whole cases
        fields.setdefault("threads", (UNSET_THREADS,))  # journals from before inner threads were set
        fields.setdefault("max_case_time", None)  # nor were cases estimated
        fields.setdefault("trace", False)  # nor were cells traced
        fields.setdefault("memory", True)  # every cell had its memory run
        fields.setdefault("noise", 0)  # nor was the machine's noise probed
        fields.setdefault("blocks", 1)  # nor were rounds spread over blocks
        return cls(**fields)


def _list_of(kind: type, *, nullable: bool = False) -> Any:
    def test(value: Any) -> bool:
        if value is None:
            return nullable
        return isinstance(value, list) and all(isinstance(v, kind) and not isinstance(v, bool) for v in value)

    return test


def _object_of_lists(kind: type) -> Any:
    def test(value: Any) -> bool:
        return isinstance(value, dict) and all(_list_of(kind)(values) for values in value.values())

    return test


def _number(value: Any) -> bool:
    return is_int(value) or isinstance(value, float)


#: What each matrix key of a journal may hold (checked on load; values are validated by ``build``).
_JSON_TYPES: dict[str, tuple[Any, str]] = {
    "executors": (_list_of(str, nullable=True), "a list of names or null"),
    "workloads": (_list_of(str), "a list of names"),
    "workers": (_list_of(int), "a list of integers"),
    "chunksizes": (_list_of(str), "a list of strings"),
    "sizes": (_list_of(int, nullable=True), "a list of integers or null"),
    "methods": (_list_of(str, nullable=True), "a list of method names or null"),
    "workload_sizes": (_object_of_lists(int), "an object of lists of integers"),
    "params": (_object_of_lists(str), "an object of lists of strings"),
    "repeats": (lambda v: v in (AUTO, RACE) or is_int(v), "an integer, 'auto' or 'race'"),
    "cell_timeout": (lambda v: v is None or _number(v), "a number or null"),
    "precision": (_number, "a number"),
    "max_repeats": (is_int, "an integer"),
    "warmup": (lambda v: isinstance(v, str), "a string"),
    "oversubscribe": (lambda v: isinstance(v, bool), "true or false"),
    "executor_options": (
        lambda v: isinstance(v, dict) and all(isinstance(value, str) for value in v.values()),
        "an object of strings",
    ),
    "threads": (_list_of(str), "a list of strings"),
    "workload_threads": (_object_of_lists(str), "an object of lists of strings"),
    "threads_workers": (_object_of_lists(int), "an object of lists of integers"),
    "max_case_time": (lambda v: v is None or _number(v), "a number or null"),
    "trace": (lambda v: isinstance(v, bool), "true or false"),
    "memory": (lambda v: isinstance(v, bool), "true or false"),
    "noise": (lambda v: v is None or _number(v), "a number or null"),
    "blocks": (lambda v: v is None or is_int(v), "an integer or null"),
}
