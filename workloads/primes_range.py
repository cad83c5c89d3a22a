"""The primes below ``size`` by per-number trial division: many small, nearly uniform tasks.

Each item is one number, so per-task overhead and chunk size decide almost
everything here. ``verify`` compares with a sieve of Eratosthenes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from workloads.base import Workload
from workloads.fibprimes import _small_primes_upto

__all__ = ["PrimesRange", "task"]


def task(item: int) -> int | None:
    """The number when it is prime (trial division by 2 and the odd numbers up to its square root), else None."""
    n = item
    if n < 2:
        return None
    if n % 2 == 0:
        return n if n == 2 else None
    divisor = 3
    while divisor * divisor <= n:
        if n % divisor == 0:
            return None
        divisor += 2
    return n


class PrimesRange(Workload):
    """The primes below ``size``; the answer is how many there are and their sum."""

    name = "primes-range"
    description = "primes below `size` by trial division, one number per item (fine-grained, uniform)"
    default_size = 1_000_000
    task = staticmethod(task)

    def items(self, size: int, **params: Any) -> Iterable[int]:
        return range(size)

    def reduce(self, results: Iterable[Any]) -> dict[str, int]:
        primes = [n for n in results if n is not None]
        return {"count": len(primes), "sum": sum(primes), "largest": max(primes, default=0)}

    def verify(self, answer: Any, size: int, **params: Any) -> bool:
        primes = _small_primes_upto(size - 1) if size > 1 else []
        return bool(answer == {"count": len(primes), "sum": sum(primes), "largest": max(primes, default=0)})
