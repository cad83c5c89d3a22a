"""skewed.py: a user's workload of uneven item costs, for checking the cost model (not one of the suite's).

Item i counts the divisors of a number by trial division up to a bound that grows with a heavy tail: most
items cost about 0.1 ms, one in eight about 2 ms, one in sixty-four about 10 ms, in a fixed scattered order.
"""

from workloads import from_function


def bound(i: int) -> int:
    """The trial-division bound of item ``i``: 1,000, 20,000 or 100,000 steps."""
    h = (i * 2654435761) % 64
    return 100_000 if h == 0 else 20_000 if h % 8 == 1 else 1_000


def divisors(i: int) -> int:
    """The number of divisors of ``i + bound(i)`` below ``bound(i)``, by trial division."""
    n, count = i + bound(i), 0
    for d in range(1, bound(i)):
        if n % d == 0:
            count += 1
    return count


def check(results: list[int], size: int) -> bool:
    return sorted(results) == sorted(divisors(i) for i in range(size))


Skewed = from_function(divisors, items=range, verify=check, default_size=600)
