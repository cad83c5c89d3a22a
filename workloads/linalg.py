"""Dense linear algebra per item, in numpy: tasks that spend their time inside BLAS and LAPACK.

Each item is one random ``n`` x ``n`` matrix (from its own seed): ``svd``
computes its singular values, ``solve`` solves A x = b. Such tasks run on the
thread pool of the BLAS library, which by default takes every core: two
workers then run twice as many threads as there are cores, which is what the
suite's ``--threads`` controls (``auto`` gives each worker its share).

``verify`` checks every item against a reference computation that takes
another road: the singular values against the eigenvalues of A^T A (largest
and smallest) and against the Frobenius norm (their sum of squares, which
needs no factorisation); a solution against a least-squares solve of the same
system. The tolerances allow for the rounding that differs with the number
of BLAS threads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from workloads.base import Param, Workload

__all__ = ["Linalg", "task"]

OPS = ("svd", "solve")
#: Relative agreement asked of the reference computation.
TOLERANCE = 1e-7


def _system(seed: int, n: int) -> tuple[Any, Any]:
    """The item's matrix A and right-hand side b."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n)), rng.standard_normal(n)


def task(item: tuple[int, int, int, str]) -> tuple[int, float, float, float]:
    """(index, seed, n, op) -> (index, three numbers): the largest and smallest singular values and the
    sum of squares of all of them (``svd``), or the solution's sum, sum of squares and first entry (``solve``)."""
    import numpy as np

    index, seed, n, op = item
    matrix, rhs = _system(seed, n)
    if op == "svd":
        values = np.linalg.svd(matrix, compute_uv=False)
        return index, float(values[0]), float(values[-1]), float((values**2).sum())
    solution = np.linalg.solve(matrix, rhs)
    return index, float(solution.sum()), float(solution @ solution), float(solution[0])


def _reference(seed: int, n: int, op: str) -> tuple[float, float, float]:
    """The three numbers of an item, computed another way."""
    import numpy as np

    matrix, rhs = _system(seed, n)
    if op == "svd":
        eigenvalues = np.linalg.eigvalsh(matrix.T @ matrix)
        return math.sqrt(eigenvalues[-1]), math.sqrt(max(eigenvalues[0], 0.0)), float((matrix**2).sum())
    solution = np.linalg.lstsq(matrix, rhs, rcond=None)[0]
    return float(solution.sum()), float(solution @ solution), float(solution[0])


def _matrix_size(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 4096:
        raise ValueError("a matrix of 1 to 4096 rows")
    return value


class Linalg(Workload):
    """``size`` independent matrices; the answer is each one's three numbers, in item order."""

    name = "linalg"
    description = "an SVD (or solve) of a random n x n matrix per item in numpy: time spent inside BLAS"
    default_size = 128
    params = {
        "n": Param(default=200, help="rows of each matrix (1 to 4096)", convert=_matrix_size),
        "op": Param(default="svd", help="what each task computes", choices=OPS),
    }
    task = staticmethod(task)

    @classmethod
    def available(cls) -> str | None:
        import importlib.util

        return None if importlib.util.find_spec("numpy") else "numpy is not installed (pip install numpy)"

    def items(self, size: int, n: int = 200, op: str = "svd", **params: Any) -> Iterable[tuple[int, int, int, str]]:
        return ((index, index, n, op) for index in range(size))

    def reduce(self, results: Iterable[Any]) -> list[list[float]]:
        return [list(numbers) for _, *numbers in sorted(results)]

    def verify(self, answer: Any, size: int, n: int = 200, op: str = "svd", **params: Any) -> bool:
        if not isinstance(answer, list) or len(answer) != size:
            return False
        for seed, numbers in enumerate(answer):
            if not (isinstance(numbers, list) and len(numbers) == 3 and all(isinstance(x, float) for x in numbers)):
                return False
            reference = _reference(seed, n, op)
            # a sum of entries may cancel to near zero: it is compared against the size of the numbers
            near = 1e-9 * max(abs(x) for x in reference)
            if not all(
                math.isclose(x, y, rel_tol=TOLERANCE, abs_tol=near) for x, y in zip(numbers, reference, strict=True)
            ):
                return False
        return True
