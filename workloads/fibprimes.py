"""Which of the Fibonacci numbers F(1)..F(size) are prime (F(1) = F(2) = 1).

The classic course exercise. The task tests one Fibonacci number with a
deterministic Miller-Rabin (the first twelve primes as fixed bases, so every
run does exactly the same work). Cost grows steeply with n: F(n) has about
0.21 n decimal digits and modular exponentiation of such numbers is
super-quadratic, so the last tenth of the items costs about a third of the
time, which is what makes item order and chunk size matter.

``verify`` does not reuse the task's test: it computes F(n) by fast
doubling, uses that F(n) can only be prime when n is prime or n = 4 (F(d)
divides F(n) when d divides n), and tests the candidates with Baillie-PSW
(a base-2 strong probable-prime test plus a strong Lucas test).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

from workloads.base import Param, Workload

__all__ = ["FibPrimes", "fibonacci", "is_probable_prime_mr", "is_prime_bpsw", "task"]

MR_BASES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
ORDERS = ("ascending", "descending", "alternating")


def is_probable_prime_mr(n: int) -> bool:
    """Miller-Rabin with the first twelve primes as bases (deterministic)."""
    if n < 2:
        return False
    for p in MR_BASES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in MR_BASES:
        x = pow(a, d, n)
        if x == 1 or x == n - 1:
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def task(item: tuple[int, int]) -> int | None:
    """Return the index n of the item (n, F(n)) when F(n) is prime, else None."""
    n, fib_n = item
    return n if is_probable_prime_mr(fib_n) else None


def fibonacci_pairs(size: int) -> Iterator[tuple[int, int]]:
    """Yield (n, F(n)) for n = 1..size by the defining recurrence."""
    a, b = 1, 1
    for n in range(1, size + 1):
        yield n, a
        a, b = b, a + b


def fibonacci(n: int) -> int:
    """F(n) by fast doubling: F(2k) = F(k)(2F(k+1) - F(k)), F(2k+1) = F(k)^2 + F(k+1)^2."""
    a, b = 0, 1  # F(0), F(1)
    for bit in bin(n)[2:]:
        a, b = a * (2 * b - a), a * a + b * b
        if bit == "1":
            a, b = b, a + b
    return a


def _jacobi(a: int, n: int) -> int:
    a %= n
    result = 1
    while a:
        while a % 2 == 0:
            a //= 2
            if n % 8 in (3, 5):
                result = -result
        a, n = n, a
        if a % 4 == 3 and n % 4 == 3:
            result = -result
        a %= n
    return result if n == 1 else 0


def _half_mod(x: int, n: int) -> int:
    x %= n
    return (x + n if x % 2 else x) // 2


def _is_strong_lucas_prp(n: int) -> bool:
    """Strong Lucas probable-prime test with Selfridge's parameters (odd n > 2)."""
    if math.isqrt(n) ** 2 == n:
        return False
    d_param = 5
    while (j := _jacobi(d_param, n)) != -1:
        if j == 0 and abs(d_param) != n:
            return False
        d_param = -d_param - 2 if d_param > 0 else -d_param + 2
    p, q = 1, (1 - d_param) // 4
    d, s = n + 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    u, v, qk = 1, p, q % n  # U_1, V_1, Q^1
    for bit in bin(d)[3:]:
        u, v, qk = u * v % n, (v * v - 2 * qk) % n, qk * qk % n
        if bit == "1":
            u, v = _half_mod(p * u + v, n), _half_mod(d_param * u + p * v, n)
            qk = qk * q % n
    if u == 0 or v == 0:
        return True
    for _ in range(s - 1):
        v, qk = (v * v - 2 * qk) % n, qk * qk % n
        if v == 0:
            return True
    return False


def is_prime_bpsw(n: int) -> bool:
    """Baillie-PSW: no known counterexample, none below 2**64.

    Its base-2 step repeats the task's Miller-Rabin loop on purpose: ``verify``
    must not share code with the task it checks.
    """
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    x = pow(2, d, n)
    if x not in (1, n - 1):
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return _is_strong_lucas_prp(n)


def _small_primes_upto(limit: int) -> list[int]:
    sieve = bytearray([1]) * (limit + 1)
    sieve[:2] = b"\x00\x00"[: limit + 1]
    for p in range(2, math.isqrt(limit) + 1):
        if sieve[p]:
            sieve[p * p :: p] = bytearray(len(range(p * p, limit + 1, p)))
    return [n for n in range(limit + 1) if sieve[n]]


class FibPrimes(Workload):
    """Indices n <= size for which F(n) is prime."""

    name = "fibprimes"
    description = "which of F(1)..F(size) are prime (pure-Python Miller-Rabin)"
    default_size = 5000
    params = {
        "order": Param(
            default="ascending",
            help="order items are handed out: ascending n, descending n (largest first), or alternating ends",
            choices=ORDERS,
        ),
    }
    task = staticmethod(task)

    def items(self, size: int, order: str = "ascending", **params: Any) -> Iterable[tuple[int, int]]:
        if order == "ascending":
            return fibonacci_pairs(size)
        pairs = list(fibonacci_pairs(size))
        if order == "descending":
            return pairs[::-1]
        if order == "alternating":
            left, right = pairs[: (size + 1) // 2], pairs[(size + 1) // 2 :][::-1]
            mixed = [pair for both in zip(right, left, strict=False) for pair in both]
            return mixed + left[len(right) :]
        raise ValueError(f"order must be one of {', '.join(ORDERS)}")

    def reduce(self, results: Iterable[Any]) -> list[int]:
        return sorted(n for n in results if n is not None)

    def verify(self, answer: Any, size: int, **params: Any) -> bool:
        if not isinstance(answer, list) or not all(type(n) is int for n in answer):
            return False
        candidates = [4] + [p for p in _small_primes_upto(size) if p != 2]
        expected = sorted(n for n in candidates if n <= size and is_prime_bpsw(fibonacci(n)))
        return answer == expected
