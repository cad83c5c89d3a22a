"""What the records give beyond their raw samples, one rule each, for every consumer alike (the summary,
the report, its forecast, calibrations, compare, advise):

- a cell's statistics over its records (several runs of it), samples pooled (:func:`pooled_stats`);
  a single record's are ``CellRecord.stats``, the same rule over one record;
- a case's serial baseline (:func:`case_baselines`): the cells of one executor group share each round's
  baseline sample, so each round counts once (:func:`rounds_once`), however many cells hold a copy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from bench.data import stats
from bench.data.schema import Case, CellRecord

__all__ = [
    "case_baselines",
    "case_level",
    "pooled_blocks",
    "pooled_ratios",
    "pooled_samples",
    "pooled_stats",
    "rounds_once",
]


def _chosen(records: Iterable[CellRecord]) -> list[CellRecord]:
    """The ok records whose samples pool: the paired ones where any is paired (a time and its baseline are
    one pair), else all of them."""
    ok = [record for record in records if record.ok and record.times_s]
    paired = [record for record in ok if record.paired]
    return paired or ok


def pooled_samples(records: Sequence[CellRecord]) -> tuple[list[float], list[float] | None]:
    """The timed samples of one cell's records pooled, and their paired baselines (None: unpaired)."""
    chosen = _chosen(records)
    times = [t for record in chosen for t in record.times_s]
    baselines = [b for record in chosen for b in record.baseline_s or ()] if chosen and chosen[0].paired else None
    return times, baselines


def pooled_blocks(records: Sequence[CellRecord]) -> list[int]:
    """The blocks of :func:`pooled_samples`: each record's own (``CellRecord.block_sizes``), in order; the
    records of several runs are blocks of one another too."""
    return [size for record in _chosen(records) for size in record.block_sizes]


def pooled_stats(records: Sequence[CellRecord]) -> stats.CellStats | None:
    """Median time, paired speedup and efficiency of one cell over its records, samples pooled
    (:func:`pooled_samples`) and their intervals held across their blocks (:func:`pooled_blocks`); None
    without an ok record."""
    times, baselines = pooled_samples(records)
    if not times:
        return None
    return stats.cell_stats(times, baselines, records[-1].workers, pooled_blocks(records))


def pooled_ratios(records: Sequence[CellRecord]) -> list[float] | None:
    """The per-round speedups of the records' pooled pairs (those :func:`pooled_stats` rests on), in order;
    None without a paired record."""
    chosen = _chosen(records)
    if not chosen or not chosen[0].paired:
        return None
    return [ratio for record in chosen for ratio in record.ratios or ()]


def rounds_once(lists: Iterable[Sequence[float]]) -> list[float]:
    """The samples of lists that share their beginnings, each once.

    The cells of one executor group hold copies of the same baseline samples, one per round: a cell that
    stopped early holds the first rounds, one that went on after a restart holds them all, and one that
    went on from an interrupted record (``--resume``) holds that record's rounds, then its own. So the
    lists form a tree of shared beginnings, each node of which is one round: those are the samples.
    """
    tree: dict[float, Any] = {}
    samples: list[float] = []
    for values in sorted((list(values) for values in lists), key=len, reverse=True):
        node = tree
        for value in values:
            if value not in node:
                node[value] = {}
                samples.append(value)
            node = node[value]
    return samples


def case_baselines(records: Iterable[CellRecord]) -> dict[Case, list[float]]:
    """Per case, the serial baseline samples of its paired ok records, each round once (:func:`rounds_once`
    over the records of each run's executor group), in record order."""
    groups: dict[tuple[Any, ...], list[Sequence[float]]] = defaultdict(list)
    for record in records:
        if record.ok and record.paired and record.baseline_s:
            groups[(record.case, record.run_id, record.executor, record.workers, record.key[-1])].append(
                record.baseline_s
            )
    found: dict[Case, list[float]] = {}
    for (case, *_), lists in groups.items():
        found.setdefault(case, []).extend(rounds_once(lists))
    return found


def case_level(records: Iterable[CellRecord], case: Case) -> float | None:
    """The serial level of ``case`` among ``records``: the median of its baselines (:func:`case_baselines`),
    None without any."""
    samples = case_baselines(record for record in records if record.case == case).get(case)
    return stats.median(samples) if samples else None
