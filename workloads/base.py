"""The workload protocol: what the suite measures."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = ["Param", "Workload"]


@dataclass(frozen=True)
class Param:
    """A workload's own sweepable parameter (a matrix's ``params``)."""

    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    convert: Callable[[str], Any] = str

    def parse(self, key: str, text: str) -> Any:
        """Convert one command-line value, or raise ValueError naming the choices."""
        try:
            value = self.convert(text)
        except ValueError:
            raise ValueError(f"param {key}: bad value {text!r}") from None
        if self.choices is not None and value not in self.choices:
            known = ", ".join(map(str, self.choices))
            raise ValueError(f"param {key}: {text!r} is not one of {known}")
        return value


class Workload:
    """Base class of workloads.

    A subclass sets ``name``, ``default_size`` and ``description`` and provides
    ``items(size, **params)``, a picklable top-level ``task`` (bound with
    ``staticmethod``), ``reduce(results)`` and ``verify(answer, size)``.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    default_size: ClassVar[int]
    params: ClassVar[dict[str, Param]] = {}

    @staticmethod
    def task(item: Any) -> Any:  # pragma: no cover - always overridden
        raise NotImplementedError

    def items(self, size: int, **params: Any) -> Iterable[Any]:
        raise NotImplementedError

    def count(self, size: int, **params: Any) -> int:
        """Number of items ``items(size)`` yields (used by the ``auto`` chunk rule)."""
        return size

    def reduce(self, results: Iterable[Any]) -> Any:
        raise NotImplementedError

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
