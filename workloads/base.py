"""The workload protocol: what the suite measures."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from bench.data.schema import METHODS, is_plain

__all__ = ["METHODS", "Param", "Workload"]


@dataclass(frozen=True)
class Param:
    """A workload's own sweepable parameter (a matrix's ``params``).

    ``sweep``, when set, are the values a matrix measures when it names none
    (``payload``'s sizes from 1 B to 1 MiB); otherwise it measures ``default``.
    """

    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    convert: Callable[[str], Any] = str
    sweep: tuple[Any, ...] | None = None

    def parse(self, key: str, text: str) -> Any:
        """Convert one command-line value, or raise ValueError naming the choices."""
        try:
            value = self.convert(text)
        except ValueError as exc:
            # a converter's own reason, not int()'s "invalid literal ..."
            why = "" if "invalid literal" in str(exc) else f" ({exc})"
            raise ValueError(f"param {key}: bad value {text!r}{why}") from None
        if not is_plain(value):  # the cell's key and its journal line hold it
            raise ValueError(f"param {key}: bad value {text!r} (not a string, a finite number, true or false)")
        if self.choices is not None and value not in self.choices:
            known = ", ".join(map(str, self.choices))
            raise ValueError(f"param {key}: {text!r} is not one of {known}")
        return value

    @property
    def unswept(self) -> tuple[Any, ...]:
        """The values measured when a matrix names none."""
        return self.sweep if self.sweep is not None else (self.default,)


class Workload:
    """Base class of workloads.

    A subclass sets ``name``, ``default_size`` and ``description`` and provides
    ``items(size, **params)``, a picklable top-level ``task`` (bound with
    ``staticmethod``), ``reduce(results)`` and ``verify(answer, size, **params)``.

    A timed run is ``consume(method(task, items(size), chunksize), size)``:
    ``consume`` reduces the results, and a pipeline over an endless stream
    overrides it to stop once it has what it needs. Such a workload lists
    only the streaming methods in ``methods``.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    default_size: ClassVar[int]
    params: ClassVar[dict[str, Param]] = {}
    #: The map methods the workload can run under (``map`` needs a finite input).
    methods: ClassVar[tuple[str, ...]] = METHODS
    #: The methods a matrix measures when it names none.
    default_methods: ClassVar[tuple[str, ...]] = ("map",)
    #: The largest size that finishes in reasonable time (None: no limit), and why.
    max_size: ClassVar[int | None] = None
    max_size_reason: ClassVar[str] = ""
    #: A probe measures an executor's costs (per-task cost, bandwidth, granularity) rather than work a
    #: user wants done: reports show it among the costs, not among the answers.
    probe: ClassVar[bool] = False
    #: A fault workload (fault-raise, fault-exit, fault-segv, fault-hang): one of its tasks fails on purpose.
    fault: ClassVar[bool] = False
    #: False where a serial baseline means nothing (the fault workloads): its cells are unpaired.
    baseline: ClassVar[bool] = True
    #: True where a run may never end without a cell timeout (fault-hang): a matrix without one is refused.
    needs_timeout: ClassVar[bool] = False

    @staticmethod
    def task(item: Any) -> Any:  # pragma: no cover - always overridden
        raise NotImplementedError

    def items(self, size: int, **params: Any) -> Iterable[Any]:
        raise NotImplementedError

    def count(self, size: int, **params: Any) -> int | None:
        """Number of items ``items(size)`` yields (used by the ``auto`` chunk rule); None: not known
        before the run (an endless stream)."""
        return size

    def reduce(self, results: Iterable[Any]) -> Any:
        raise NotImplementedError

    def consume(self, results: Iterable[Any], size: int, **params: Any) -> Any:
        """The answer of a run from its results, as the executor yields them (list or stream)."""
        return self.reduce(results)

    def verify(self, answer: Any, size: int, **params: Any) -> bool:
        raise NotImplementedError

    def default_params(self) -> dict[str, Any]:
        return {key: param.default for key, param in self.params.items()}

    @classmethod
    def available(cls) -> str | None:
        """None when the workload can run here, else the reason it cannot."""
        return None

    def __repr__(self) -> str:
        return f"<workload {self.name}>"
