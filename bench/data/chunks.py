"""Chunk sizes: the ``auto`` rule, and the one grid of sizes that the cost model searches, for the report's
forecast and for ``advise`` alike."""

from __future__ import annotations

import math

__all__ = ["AUTO_TASKS_PER_WORKER", "auto_chunksize", "chunk_grid"]

#: Tasks per worker under ``auto``: multiprocessing's rule, ceil(items / (4 x workers)).
AUTO_TASKS_PER_WORKER = 4


def auto_chunksize(n_items: int, workers: int) -> int:
    """The ``auto`` chunk size: about four tasks per worker, at least one item."""
    return max(1, math.ceil(n_items / (AUTO_TASKS_PER_WORKER * workers)))


def chunk_grid(items: int, workers: int) -> list[int]:
    """The chunk sizes worth predicting for ``items`` items on ``workers`` workers: powers of two from 1 up to
    one chunk per worker (ceil(items / workers): a larger chunk only leaves workers idle), that size
    itself, and ``auto``'s."""
    most = max(1, math.ceil(items / max(workers, 1)))
    grid = {2**power for power in range(most.bit_length()) if 2**power <= most}
    return sorted(grid | {most, min(auto_chunksize(items, workers), most)})
