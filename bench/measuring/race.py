"""Racing: a configuration stops being measured as soon as it is significantly slower than the best one
of its case, so that rounds go where they still decide something (F-race, successive elimination).

State lives in one object, :class:`Race`; its decisions are small functions; the measuring loop
(``bench.measuring.measure``) tells it each round's paired speedups and asks whether a cell goes on.

The test: Welch's one-sided t-test on the logarithms of the paired speedups (``stats.slower_p``) of
a cell against its case's leader (the highest median speedup so far, with at least
:data:`MIN_ROUNDS` rounds), each from at least :data:`MIN_ROUNDS` rounds. A cell is eliminated when
the p-value is at most 5% divided by the number of other cells of its case (Bonferroni: at any one look,
the chance that some cell of the case is wrongly eliminated is at most 5%). The leader goes on until
its interval reaches the precision asked for, its most rounds, or the race's time budget.

Where the sweep probed the machine's noise (``noise``), a cell significantly slower than the leader but
closer to it than that noise lets their rounds tell apart (``Noise.equivalent``, the rule the report uses)
is not eliminated: its rounds share the machine's spells, and the next run may not repeat the difference.
It goes on, and is equivalent to the leader here unless its later rounds set it apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from bench.data import stats
from bench.host.noise import Noise

__all__ = ["ALPHA", "MIN_ROUNDS", "Entrant", "Event", "Race"]

#: Rounds an entrant has before it is tested: the fewest for which a t-test on 2 x 3 ratios has
#: power against a clear difference (with 2 rounds each, one disturbed round decides alone).
MIN_ROUNDS = 3
#: The family-wise error of eliminating some entrant of a case wrongly, at one look.
ALPHA = 1 - stats.LEVEL


@dataclass(frozen=True)
class Event:
    """Something that happened in a race: an entrant ``eliminated``, or a new leader of its case (``leads``)."""

    label: str
    #: The entrant's own rounds when it happened.
    round: int
    what: str
    #: The leader it was compared with (for ``eliminated``), or the one it displaced (``leads``).
    leader: str | None
    #: The one-sided p-value that the entrant is slower than the leader (``eliminated``).
    p: float | None
    #: The entrant's median paired speedup at that point.
    speedup: float

    def to_json(self) -> dict[str, object]:
        return {
            "label": self.label,
            "round": self.round,
            "what": self.what,
            "leader": self.leader,
            "p": None if self.p is None else float(f"{self.p:.3g}"),
            "speedup": round(self.speedup, 4),
        }


@dataclass
class Entrant:
    label: str
    case: Hashable
    ratios: tuple[float, ...] = ()
    eliminated: Event | None = None
    #: Its timed runs and serial baselines so far (what the noise rule reads).
    times: tuple[float, ...] = ()
    baselines: tuple[float, ...] = ()

    @property
    def speedup(self) -> float:
        return stats.median(self.ratios)

    @property
    def rounds(self) -> int:
        return len(self.ratios)


@dataclass
class Race:
    """The entrants of a race (by key: a cell's label and its case), what each has measured, and the
    events so far; ``budget_s`` bounds the seconds from :meth:`start` (on ``clock``)."""

    entrants: dict[Hashable, Entrant]
    alpha: float = ALPHA
    min_rounds: int = MIN_ROUNDS
    budget_s: float | None = None
    clock: Callable[[], float] = time.perf_counter
    #: The machine's noise, probed as the sweep began (None: not probed, and the test alone decides).
    noise: Noise | None = None
    history: list[Event] = field(default_factory=list)
    _started: float | None = None
    _leaders: dict[Hashable, Hashable] = field(default_factory=dict)

    @classmethod
    def of(cls, entrants: Iterable[tuple[Hashable, Hashable, str]], **rules: object) -> Race:
        """A race of ``(key, case, label)`` entrants."""
        return cls({key: Entrant(label, case) for key, case, label in entrants}, **rules)  # type: ignore[arg-type]

    # -- the budget ---------------------------------------------------------------------
    def start(self) -> None:
        if self._started is None:
            self._started = self.clock()

    @property
    def spent_s(self) -> float:
        return 0.0 if self._started is None else self.clock() - self._started

    @property
    def spent(self) -> bool:
        return self.budget_s is not None and self.spent_s >= self.budget_s

    # -- decisions ----------------------------------------------------------------------
    def comparisons(self, case: Hashable) -> int:
        """Other entrants a case's entrant is compared with: what the threshold is divided by."""
        return max(1, sum(entrant.case == case for entrant in self.entrants.values()) - 1)

    def threshold(self, case: Hashable) -> float:
        return self.alpha / self.comparisons(case)

    def leader(self, case: Hashable, besides: Hashable | None = None) -> Hashable | None:
        """The key of the case's entrant with the highest median speedup among those with enough rounds."""
        ranked = [
            (entrant.speedup, key)
            for key, entrant in self.entrants.items()
            if entrant.case == case and key != besides and entrant.rounds >= self.min_rounds
        ]
        return max(ranked, key=lambda pair: pair[0])[1] if ranked else None

    def equivalent(self, entrant: Entrant, leader: Entrant) -> float | None:
        """The resolution of the machine's noise where ``entrant`` lies closer to ``leader`` than it
        (``Noise.equivalent``); None where it does not, or without a probe."""
        if self.noise is None or not entrant.ratios or not leader.ratios:
            return None
        rounds = (leader.rounds, entrant.rounds)
        baselines = [*leader.baselines, *entrant.baselines]
        return self.noise.equivalent(
            leader.speedup, entrant.speedup, rounds, [*leader.times, *entrant.times], baselines
        )

    def observe(
        self,
        key: Hashable,
        ratios: Sequence[float],
        *,
        judge: bool = True,
        times: Sequence[float] = (),
        baselines: Sequence[float] = (),
    ) -> Event | None:
        """The paired speedups of ``key`` so far (and its timed runs and baselines, for the noise rule);
        returns the event when they eliminate it now (never without ``judge``: a cell that has stopped for
        another reason only informs the others)."""
        entrant = self.entrants.get(key)
        if entrant is None:
            return None
        entrant.ratios, entrant.times, entrant.baselines = tuple(ratios), tuple(times), tuple(baselines)
        self._lead(entrant.case)
        if not judge or entrant.rounds < self.min_rounds or entrant.eliminated is not None:
            return None
        rival = self.leader(entrant.case, besides=key)
        if rival is None or entrant.speedup >= self.entrants[rival].speedup:
            return None
        leader = self.entrants[rival]
        p = stats.slower_p(entrant.ratios, leader.ratios)
        if p > self.threshold(entrant.case) or self.equivalent(entrant, leader) is not None:
            return None
        entrant.eliminated = Event(entrant.label, entrant.rounds, "eliminated", leader.label, p, entrant.speedup)
        self.history.append(entrant.eliminated)
        return entrant.eliminated

    def _lead(self, case: Hashable) -> None:
        """Logs a change of the case's leader."""
        now = self.leader(case)
        before = self._leaders.get(case)
        if now is None or now == before:
            return
        self._leaders[case] = now
        entrant = self.entrants[now]
        displaced = self.entrants[before].label if before is not None else None
        self.history.append(Event(entrant.label, entrant.rounds, "leads", displaced, None, entrant.speedup))
