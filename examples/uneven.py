"""uneven.py: a function whose calls cost very different amounts, for ``python -m bench advise``.

Each item is a seed; its cost is a sum of squares over a range whose length depends on the seed, from
about 10 us to 1 ms, in no particular order (as the cells of an adaptive mesh, or the molecules of a
screening run). Which executor and chunk size balance such work best is what ``advise`` answers.
"""

from workloads import from_function

#: The shortest and longest loop an item runs.
SHORTEST, STEPS = 200, 40


def length(seed: int) -> int:
    """How long the loop of ``seed`` is: 200 to 8,000 steps, scattered over the seeds."""
    return SHORTEST * (1 + (seed * 7919) % STEPS)


def squares(seed: int) -> int:
    """The function to parallelise: the sum of the squares below ``length(seed)``, by a loop."""
    total = 0
    for k in range(length(seed)):
        total += k * k
    return total


def check(results: list[int], size: int) -> bool:
    """Every item answered with the closed form n(n-1)(2n-1)/6 (in any order: imap_unordered)."""
    expected = sorted((n - 1) * n * (2 * n - 1) // 6 for n in map(length, range(size)))
    return sorted(results) == expected


Uneven = from_function(squares, items=range, verify=check, default_size=400)
