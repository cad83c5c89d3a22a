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

import bisect
import itertools
import math
from collections.abc import Iterable, Iterator
from typing import Any

from workloads.base import Param, Workload

__all__ = [
    "PRODUCERS",
    "FibPrimes",
    "FibPrimesFirst",
    "FibonacciIterator",
    "fibonacci",
    "fibonacci_list",
    "fibonacci_pairs",
    "is_prime_bpsw",
    "is_probable_prime_mr",
    "produce",
    "task",
    "tagged_task",
]

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


def tagged_task(item: tuple[int, int]) -> tuple[int, bool]:
    """(n, whether F(n) is prime) for the item (n, F(n)): results that arrive out of order still say
    which n they answer."""
    n, fib_n = item
    return n, is_probable_prime_mr(fib_n)


def fibonacci_pairs(size: int | None = None) -> Iterator[tuple[int, int]]:
    """Yield (n, F(n)) for n = 1..size by the defining recurrence (a generator function; endless
    when ``size`` is None)."""
    a, b = 1, 1
    for n in range(1, size + 1) if size is not None else itertools.count(1):
        yield n, a
        a, b = b, a + b


def fibonacci_list(size: int, first: tuple[int, int, int] = (1, 1, 1)) -> list[tuple[int, int]]:
    """[(n, F(n)) for n = 1..size], built whole before anything is handed out.

    ``first`` is (n, F(n), F(n + 1)) of the first pair, for a list that continues another.
    """
    n, a, b = first
    pairs = []
    for _ in range(size):
        pairs.append((n, a))
        n, a, b = n + 1, b, a + b
    return pairs


def fibonacci_lists(first_length: int = 64) -> Iterator[tuple[int, int]]:
    """An endless stream of lists: each list is built whole, twice as long as the one before
    (``first_length`` >= 2, so that each list ends with two numbers to continue from)."""
    state, length = (1, 1, 1), max(first_length, 2)
    while True:
        block = fibonacci_list(length, state)
        yield from block
        (_, before), (n, last) = block[-2:]
        state, length = (n + 1, before + last, before + 2 * last), 2 * length


class FibonacciIterator:
    """(n, F(n)) for n = 1..size, or endlessly, as an iterator class (``__iter__``/``__next__``)."""

    def __init__(self, size: int | None = None) -> None:
        self.size, self.n, self.a, self.b = size, 0, 1, 1

    def __iter__(self) -> FibonacciIterator:
        return self

    def __next__(self) -> tuple[int, int]:
        if self.size is not None and self.n >= self.size:
            raise StopIteration
        self.n += 1
        pair = (self.n, self.a)
        self.a, self.b = self.b, self.a + self.b
        return pair


#: How the Fibonacci numbers are produced (the course's three ways).
PRODUCERS = ("list", "generator", "iterator")


def produce(producer: str, size: int | None) -> Iterable[tuple[int, int]]:
    """(n, F(n)) for n = 1..size (endless when None) from the named producer."""
    if producer == "list":
        return fibonacci_list(size) if size is not None else fibonacci_lists()
    if producer == "generator":
        return fibonacci_pairs(size)
    if producer == "iterator":
        return FibonacciIterator(size)
    raise ValueError(f"producer must be one of {', '.join(PRODUCERS)}")


PRODUCER = Param(
    default="generator",
    help="how F(n) are produced: a list built whole, a generator function, or an iterator class",
    choices=PRODUCERS,
)


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
        "producer": PRODUCER,
    }
    task = staticmethod(task)

    def items(
        self, size: int, order: str = "ascending", producer: str = "generator", **params: Any
    ) -> Iterable[tuple[int, int]]:
        if order == "ascending":
            return produce(producer, size)
        pairs = list(produce(producer, size))
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
        return answer == _prime_indices_upto(size)


def _prime_indices_upto(limit: int) -> list[int]:
    """The n <= limit with F(n) prime, found independently of the task: F(n) can only be prime
    when n is prime or n = 4, and the candidates are tested with Baillie-PSW."""
    candidates = [4] + [p for p in _small_primes_upto(limit) if p != 2]
    return sorted(n for n in candidates if n <= limit and is_prime_bpsw(fibonacci(n)))


class FibPrimesFirst(Workload):
    """The first ``size`` Fibonacci primes from an endless pipeline (the course's "first ten").

    An endless Fibonacci stream feeds the primality test through ``imap`` or
    ``imap_unordered``; the consumer stops as soon as it knows the first
    ``size`` primes, and closing the stream cancels the work still queued.
    Results may arrive out of order, so the consumer tracks the longest run of
    indices 1..k that are all answered, and stops once ``size`` primes lie in it.
    """

    name = "fibprimes-first"
    description = "the first `size` Fibonacci primes from an endless generator pipeline (imap methods only)"
    default_size = 10
    params = {"producer": PRODUCER}
    methods = ("imap", "imap_unordered")
    default_methods = methods
    max_size = 26
    max_size_reason = "the 27th Fibonacci prime is F(14431), hours of work away"
    task = staticmethod(tagged_task)

    def items(self, size: int, producer: str = "generator", **params: Any) -> Iterable[tuple[int, int]]:
        return produce(producer, None)

    def count(self, size: int, **params: Any) -> int | None:
        return None  # the stream is endless: how far it is read depends on the answer

    def reduce(self, results: Iterable[Any]) -> list[int]:
        """Indices of the primes among finished results (for a finite list of them)."""
        return sorted(n for n, prime in results if prime)

    def consume(self, results: Iterable[Any], size: int, **params: Any) -> list[int]:
        answered: set[int] = set()
        primes: list[int] = []  # sorted
        complete = 0  # every index 1..complete is answered
        for n, prime in results:
            answered.add(n)
            if prime:
                bisect.insort(primes, n)
            while complete + 1 in answered:
                complete += 1
                answered.discard(complete)
            if bisect.bisect_right(primes, complete) >= size:
                return primes[:size]
        return primes  # a stream cut short (a warm-up's first items)

    def verify(self, answer: Any, size: int, **params: Any) -> bool:
        if not isinstance(answer, list) or len(answer) != size or not all(type(n) is int for n in answer):
            return False
        return bool(answer) and answer == _prime_indices_upto(answer[-1])
