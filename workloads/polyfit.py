"""Fit y = sin(x) on [-pi, pi] with a third-order polynomial by gradient descent, in numpy.

The seed course's example, as a parameter sweep: each task is one fit with
its own learning rate, seed (of the starting coefficients) and number of
steps, and returns its final loss (the sum of squared errors). The numpy
work releases the GIL while it loops over the points, which gives
``thread-pool`` a chance here.

``verify`` checks every loss against the closed-form least-squares fit
(``numpy.linalg.lstsq``), which no fit can beat; against the convergence
bound of gradient descent on an L-smooth convex function, which every fit
must meet: with a step ``lr <= 1/L``, ``loss_k - loss* <= |w0 - w*|^2 / (2 lr k)``;
and against the loss after k steps computed in closed form (by powers of the
eigenvalues of X^T X, without stepping), to a relative 1e-6.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from workloads.base import Param, Workload

__all__ = ["Polyfit", "task"]

#: Learning rates, as fractions of the largest stable one (1/L), and step counts the fits cycle through.
LR_FRACTIONS = (0.25, 0.5, 1.0)
STEPS = (500, 1000, 2000)


def _points(points: int) -> tuple[Any, Any]:
    import numpy as np

    x = np.linspace(-math.pi, math.pi, points)
    return x, np.sin(x)


def start(seed: int) -> Any:
    """The starting coefficients (a, b, c, d) of a fit."""
    import numpy as np

    return np.random.default_rng(seed).standard_normal(4)


def task(item: tuple[int, float, int, int, int]) -> tuple[int, float]:
    """One fit by gradient descent: (index, final loss) for (index, lr, seed, steps, points)."""
    index, lr, seed, steps, points = item
    x, y = _points(points)
    x2, x3 = x * x, x * x * x
    a, b, c, d = start(seed)
    for _ in range(steps):
        error = a + b * x + c * x2 + d * x3 - y
        grad = 2.0 * error
        a -= lr * grad.sum()
        b -= lr * (grad * x).sum()
        c -= lr * (grad * x2).sum()
        d -= lr * (grad * x3).sum()
    loss = float(((a + b * x + c * x2 + d * x3 - y) ** 2).sum())
    return index, loss


def _points_count(text: str) -> int:
    value = int(text)
    if value < 4:
        raise ValueError("a cubic needs at least 4 points")
    return value


@lru_cache(maxsize=8)
def _problem(points: int) -> tuple[Any, Any, float, float]:
    """(design matrix, y, L, least-squares loss) of the fit over ``points`` points."""
    import numpy as np

    x, y = _points(points)
    design = np.stack([np.ones_like(x), x, x**2, x**3], axis=1)
    smoothness = 2.0 * float(np.linalg.eigvalsh(design.T @ design).max())  # L of the sum of squares
    best = np.linalg.lstsq(design, y, rcond=None)[0]
    return design, y, smoothness, float(((design @ best - y) ** 2).sum())


class Polyfit(Workload):
    """``size`` independent fits; the answer is their final losses, in item order."""

    name = "polyfit"
    description = "fit sin(x) with a cubic by gradient descent in numpy, one fit per item (releases the GIL)"
    default_size = 64
    params = {"points": Param(default=2000, help="points x in [-pi, pi] each fit uses (>= 4)", convert=_points_count)}
    task = staticmethod(task)

    @classmethod
    def available(cls) -> str | None:
        import importlib.util

        return None if importlib.util.find_spec("numpy") else "numpy is not installed (pip install numpy)"

    def items(self, size: int, points: int = 2000, **params: Any) -> Iterable[tuple[int, float, int, int, int]]:
        _, _, smoothness, _ = _problem(points)
        for index in range(size):
            lr = LR_FRACTIONS[index % len(LR_FRACTIONS)] / smoothness
            yield index, lr, index, STEPS[index // len(LR_FRACTIONS) % len(STEPS)], points

    def reduce(self, results: Iterable[Any]) -> list[float]:
        return [loss for _, loss in sorted(results)]

    def verify(self, answer: Any, size: int, points: int = 2000, **params: Any) -> bool:
        import numpy as np

        if not isinstance(answer, list) or len(answer) != size:
            return False
        design, y, smoothness, best_loss = _problem(points)
        best = np.linalg.lstsq(design, y, rcond=None)[0]
        for (_, lr, seed, steps, _), loss in zip(self.items(size, points), answer, strict=True):
            if not isinstance(loss, float) or not math.isfinite(loss) or lr > 1.0 / smoothness:
                return False
            offset = start(seed) - best
            bound = float((offset**2).sum()) / (2.0 * lr * steps)
            slack = 1e-9 * max(1.0, best_loss)  # rounding in the sums
            if not best_loss - slack <= loss <= best_loss + bound + slack:
                return False
            if not math.isclose(loss, _exact_loss(design, best_loss, offset, lr, steps), rel_tol=1e-6):
                return False
        return True


def _exact_loss(design: Any, best_loss: float, offset: Any, lr: float, steps: int) -> float:
    """The loss after ``steps`` steps, in closed form rather than by stepping.

    With A = X^T X, a step maps the offset from the least-squares solution
    e -> (I - 2 lr A) e, so after k steps e_k = Q diag((1 - 2 lr lambda)^k) Q^T e_0
    and the loss is the least-squares loss plus e_k^T A e_k.
    """
    import numpy as np

    gram = design.T @ design
    eigenvalues, vectors = np.linalg.eigh(gram)
    final = vectors @ (((1.0 - 2.0 * lr * eigenvalues) ** steps) * (vectors.T @ offset))
    return best_loss + float(final @ gram @ final)
