"""The machine's noise: each core's speed over time, measured with short fixed spins pinned to each core.

A spin is the same few milliseconds of pure-Python work, again and again, on
every core this process may use at once (one process per core, pinned), for a
few seconds. Its time is the core's speed at that moment. From the spins:

- each core's **modes**: the speeds it runs at (a core that switches between
  two, as turbo, frequency scaling or a throttled virtual machine make it,
  has two), with the share of the time at each;
- its **spread**: how much a run of one second varies (the spins' times
  summed over one-second windows);
- how long a **spell** lasts: the time a core stays at one speed before it
  switches (of the spell a moment falls in, on average over the whole
  spells seen; "longer than the probe" when it never switched);
- whether the cores **move together** (the correlation of their speeds);
- the **steal** and the CPU other processes took meanwhile.

From these, what the machine allows: how many paired rounds it takes to tell
two configurations a given difference apart, and over how long they must be
spread so that they meet the machine's spells rather than one of them.

    noise = probe(seconds=20)           # every core, 20 s
    noise.run_spread()                  # a 1 s run varies up to +-this fraction
    noise.rounds_needed(0.05)           # (rounds, minutes) to tell 5% apart
    noise.to_json()                     # the journal's ``noise`` record's fields
"""

from __future__ import annotations

import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from bench.host import cpuload
from bench.host.provenance import available_cores, cpu_model

__all__ = ["CoreNoise", "Noise", "analyse", "doctor", "probe", "spin", "spins_for"]

#: How long one spin takes (at the speed measured when the probe starts).
SPIN_S = 0.004
#: Two speeds are two modes when the slower cluster's spins take this much longer, at least.
MODE_GAP = 1.12
#: ... and each holds at least this share of the spins.
MODE_SHARE = 0.04
#: A spin's speed, for telling spells apart, is the median over this many seconds around it.
SMOOTH_S = 0.05
#: The run whose spread the probe reports, in seconds.
RUN_S = 1.0
#: The shortest probe that tells how many rounds telling configurations apart takes (it must see spells come
#: and go); ``doctor`` probes 20 s.
LONG_PROBE_S = 10.0
#: The confidence of "telling apart".
Z95 = 1.959964

#: A spin: ``n`` additions, timed, as the probe's pinned processes run it (``spin`` is the same, in this process).
SPIN_FUNCTION = """
import time

def spin(n):
    t0 = time.monotonic()
    x = 0
    for i in range(n):
        x += i
    return time.monotonic() - t0
"""

#: What each pinned process runs: spins from ``start`` (a CLOCK_MONOTONIC time, the same in every process)
#: until ``end``; it prints each spin's start and duration. Standard library only, started with ``-I -S``, so
#: it costs milliseconds to start.
SPIN_CODE = (
    SPIN_FUNCTION
    + """
import json, os, sys

def main(core, start, end, n):
    os.sched_setaffinity(0, {core})
    clock = time.monotonic
    while clock() < start:
        time.sleep(0.0005)
    out = []
    while True:
        t0 = clock()
        if t0 >= end:
            break
        out.append((round(t0 - start, 6), round(spin(n), 7)))
    return out

json.dump(main(int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])), sys.stdout)
"""
)


def spin(n: int) -> float:
    """One spin of ``n`` additions, as the probe's processes run it (SPIN_FUNCTION, the same code: the suite
    evaluates no code it holds as text); its duration in seconds."""
    t0 = time.monotonic()
    x = 0
    for i in range(n):
        x += i
    return time.monotonic() - t0


def spins_for(seconds: float = SPIN_S, tries: int = 7) -> int:
    """The number of additions that takes ``seconds`` here now (at the fastest of a few tries)."""
    n = 20_000
    fastest = min(spin(n) for _ in range(tries))
    return max(1000, round(n * seconds / max(fastest, 1e-9)))


@dataclass(frozen=True)
class CoreNoise:
    """One core's spins and what they say."""

    core: int
    spins: int
    #: Each mode's speed relative to the fastest mode of any core (1.0), and its share of the spins,
    #: fastest first; one mode where the core kept one speed.
    modes: list[dict[str, float]]
    #: How much a run of RUN_S varied on this core: half the 95% range of the windows' times over their median.
    run_spread: float
    #: How long (s) the spell at one speed lasts that a moment falls in, on average over the whole spells
    #: seen; None where the core switched less than twice.
    spell_s: float | None
    #: How many times the core switched speed.
    switches: int
    #: The median spin's time (s).
    median_spin_s: float


@dataclass(frozen=True)
class Noise:
    """A probe's result: the ``noise`` record's fields (``to_json``), and what they allow (plain words)."""

    created: str
    seconds: float
    spin_s: float
    cores: list[CoreNoise]
    #: The correlation of the cores' speeds over time (-1..1); None with one core, or no core switching.
    together: float | None
    #: CPU other processes took meanwhile (in cores) and the share of the cores' time stolen.
    other_cores: float | None = None
    steal: float | None = None
    #: Each core's spins: (start s from the probe's start, duration s), kept for the record.
    samples: dict[str, list[list[float]]] = field(default_factory=dict, repr=False)
    #: The spread (standard deviation of the log) of a paired ratio of two RUN_S runs back to back
    #: (``paired_sigma``); None: computed from ``samples``.
    paired: float | None = None
    #: The machine: host name and CPU model.
    host: str | None = None
    cpu: str | None = None

    # -- what it allows ----------------------------------------------------------------------------
    @property
    def two_modes(self) -> bool:
        return any(len(core.modes) > 1 for core in self.cores)

    @property
    def slowest(self) -> float:
        """The slowest mode's speed relative to the fastest (1.0 when one speed)."""
        return min((mode["speed"] for core in self.cores for mode in core.modes), default=1.0)

    def run_spread(self) -> float:
        """How much a run of RUN_S varies here: the largest of the cores' spreads (a fraction)."""
        return max((core.run_spread for core in self.cores), default=0.0)

    def _spread_text(self) -> str:
        spread = self.run_spread()
        return f"{spread:.0%}" if spread >= 0.01 else f"{spread:.1%}"

    def spell_s(self) -> float | None:
        """How long the machine stays at one speed: the median of the cores' spell lengths."""
        spells = [core.spell_s for core in self.cores if core.spell_s is not None]
        return statistics.median(spells) if spells else None

    def resolution(self, rounds_a: int, rounds_b: int, run_s: float = RUN_S, at_least: float = 0.0) -> float:
        """The smallest relative difference between two configurations' paired speedups that this machine
        lets ``rounds_a`` and ``rounds_b`` paired rounds (of runs of ``run_s``) tell apart at 95%; ``at_least``:
        a paired spread measured otherwise (a probe of a few seconds sees few spells), used where larger."""
        sigma = paired_sigma(self, run_s) if self.samples else self.paired
        if sigma is None:
            sigma = paired_sigma(self)
        sigma = max(sigma, at_least)
        return math.expm1(Z95 * sigma * math.sqrt(1 / max(rounds_a, 1) + 1 / max(rounds_b, 1)))

    def resolution_between(
        self, rounds_a: int, rounds_b: int, times_s: Sequence[float], baselines_s: Sequence[float]
    ) -> float:
        """:meth:`resolution` for two configurations measured here: runs of the median of their ``times_s``,
        and at least the spread of a paired ratio that their serial ``baselines_s`` show (they vary with the
        machine alone, never with a back-end, all through the run: a paired ratio of two of them spreads by
        sqrt(2) times their spread). The one rule for "closer than this machine's noise lets their rounds
        tell apart", in a report and in a race alike."""
        run_s = statistics.median(times_s) if times_s else RUN_S
        serial = [math.log(b) for b in baselines_s if b > 0]
        floor = math.sqrt(2) * statistics.stdev(serial) if len(serial) >= 3 else 0.0
        return self.resolution(rounds_a, rounds_b, run_s, at_least=floor)

    def equivalent(
        self,
        faster: float,
        slower: float,
        rounds: tuple[int, int],
        times_s: Sequence[float],
        baselines_s: Sequence[float],
    ) -> float | None:
        """Whether the paired speedup ``slower`` lies closer to ``faster`` than this machine lets their
        ``rounds`` tell apart (:meth:`resolution_between`): that resolution where it does (the two are
        equivalent here), else None. Rounds of one run share the machine's spells, so a test on them alone
        calls differences that the next run does not repeat."""
        resolution = self.resolution_between(*rounds, times_s, baselines_s)
        gap = faster / slower - 1 if slower > 0 else math.inf
        return resolution if gap < resolution else None

    def rounds_needed(self, difference: float = 0.05) -> tuple[int, float]:
        """Paired rounds (of RUN_S runs) to tell two configurations ``difference`` apart at 95%, and the
        minutes to spread them over (ten of the machine's spells at least, since rounds within one
        spell share it)."""
        sigma = self.paired if self.paired is not None else paired_sigma(self)
        rounds = max(3, math.ceil(2 * (Z95 * sigma / math.log1p(difference)) ** 2))
        spell = self.spell_s()
        span_s = rounds * 2 * RUN_S
        if spell is not None:
            span_s = max(span_s, 10 * spell)
        elif self.two_modes:  # it switched, but no spell was seen whole: they last about the probe
            span_s = max(span_s, 10 * self.seconds)
        return rounds, span_s / 60

    def lines(self) -> list[str]:
        """What the machine allows, in plain words."""
        rounds, minutes = self.rounds_needed(0.05)
        said = [f"A {RUN_S:g} s run here varies up to ±{self._spread_text()} (95% of runs, {self.seconds:g} s probed)."]
        if self.two_modes:
            spell = self.spell_s()
            how_long = f"about {spell:.1f} s at a time" if spell is not None else "longer than the probe"
            moving = ""
            if self.together is not None:
                moving = " together" if self.together > 0.5 else " independently"
            said.append(
                f"The cores switch between speeds {1 / self.slowest:.1f}x apart, {how_long},{moving}: "
                "rounds in one spell share it, so intervals must span several."
            )
        short = (
            f" (at least: a probe of {self.seconds:g} s sees only a few spells; {LONG_PROBE_S:g} s or more tells)"
            if self.seconds < LONG_PROBE_S
            else ""
        )
        said.append(
            f"Telling configurations 5% apart takes about {rounds} paired rounds spread over "
            f"{_minutes(minutes)}; 10% apart, about {self.rounds_needed(0.10)[0]}{short}."
        )
        return said

    def summary(self) -> str:
        """One line for the end of a run: what the probe found and what it allows."""
        modes = f"; the cores switched between speeds {1 / self.slowest:.1f}x apart" if self.two_modes else ""
        found = (
            f"noise ({self.seconds:g} s probe before the sweep): a {RUN_S:g} s run varied up to "
            f"±{self._spread_text()}{modes}"
        )
        if self.seconds < LONG_PROBE_S:  # it sees a few spells at most, never how they come and go
            return (
                f"{found}; a probe this short sees only a few of the machine's spells, so how many rounds telling "
                f"configurations apart takes is left to python -m bench doctor ({LONG_PROBE_S:g} s or more)"
            )
        rounds, minutes = self.rounds_needed(0.05)
        return (
            f"{found}; telling configurations 5% apart takes about {rounds} paired rounds over {_minutes(minutes)} "
            "(python -m bench doctor says more)"
        )

    def advice(self) -> list[str]:
        """What would help, for what the probe found."""
        found = []
        if self.two_modes:
            found.append(
                "Fix the cores' speed where you can (turbo off, `cpupower frequency-set -g performance`); "
                "on a cluster, ask for a whole node (`sbatch --exclusive`)."
            )
        if self.together is not None and self.together < 0.5 and len(self.cores) > 1:
            found.append(
                "The cores change speed independently: a run on k cores waits for the slowest of k, so "
                "compare configurations with the same worker count where you can."
            )
        if (self.steal or 0.0) > cpuload.BUSY_SHARE / 2:
            found.append(f"The hypervisor took {self.steal:.0%} of the CPU (steal): a dedicated host would help.")
        if (self.other_cores or 0.0) > cpuload.BUSY_SHARE * len(self.cores):
            found.append(f"Other processes used {self.other_cores:.1f} cores meanwhile: stop them, or run elsewhere.")
        found.append(
            "Let `--repeats auto` decide the rounds (it stops at the precision the noise allows), "
            "and compare runs with `compare`, which allows for drift."
        )
        return found

    # -- the record ---------------------------------------------------------------------------------
    def to_json(self, samples: bool = True) -> dict[str, Any]:
        data = asdict(self)
        if not samples:
            data.pop("samples")
        data["run_spread"] = round(self.run_spread(), 4)
        rounds, minutes = self.rounds_needed(0.05)
        data["rounds_5pct"], data["minutes_5pct"] = rounds, round(minutes, 2)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Noise:
        cores = [CoreNoise(**core) for core in data.get("cores", [])]
        keep = {"created", "seconds", "spin_s", "together", "other_cores", "steal", "samples", "paired", "host", "cpu"}
        return cls(cores=cores, **{k: v for k, v in data.items() if k in keep})


def _minutes(minutes: float) -> str:
    if minutes < 1:
        return f"{max(minutes * 60, 1):.0f} s"
    return f"{minutes:.0f} minute{'s' if round(minutes) != 1 else ''}"


# -- analysis -----------------------------------------------------------------------------------


def _split(logs: Sequence[float]) -> float | None:
    """The threshold between two modes of ``logs`` (log spin times), or None where they have one.

    The best split of the sorted values into two groups (least squares within the groups, as 1-D k-means
    finds it exactly), kept where the groups are far apart and each holds MODE_SHARE of the values."""
    import numpy as np

    values = np.sort(np.asarray(logs, dtype=float))
    n = len(values)
    low = max(1, math.ceil(MODE_SHARE * n))
    if n < 20 or n - low <= low:
        return None
    csum, csq = np.cumsum(values), np.cumsum(values**2)
    total_ss = csq[-1] - csum[-1] ** 2 / n
    if total_ss <= 0:
        return None
    k = np.arange(low, n - low + 1)  # the first group is values[:k]
    left = csq[k - 1] - csum[k - 1] ** 2 / k
    right = (csq[-1] - csq[k - 1]) - (csum[-1] - csum[k - 1]) ** 2 / (n - k)
    best = int(k[np.argmin(left + right)])
    fast, slow = values[:best], values[best:]
    if float(np.median(slow) - np.median(fast)) < math.log(MODE_GAP):
        return None
    within = float(np.min(left + right))
    if within > 0.35 * total_ss:  # not two groups, one wide spread
        return None
    return float((values[best - 1] + values[best]) / 2)


def _spells(starts: Sequence[float], slow: Sequence[bool]) -> tuple[list[float], int]:
    """The lengths (s) of the whole spells at one speed (the first and last are cut by the probe), and
    how many switches there were."""
    bounds = [i for i in range(1, len(slow)) if slow[i] != slow[i - 1]]
    lengths = [starts[b] - starts[a] for a, b in zip(bounds, bounds[1:], strict=False)]
    return lengths, len(bounds)


def _weighted_spell(lengths: Sequence[float]) -> float:
    """How long the spell lasts that a moment falls in, on average (spells weighted by their length: a
    long spell holds more of the rounds than a short one)."""
    total = sum(lengths)
    return sum(length * length for length in lengths) / total if total > 0 else 0.0


def _windows(durations: Sequence[float], per_window: int) -> list[float]:
    """The time of each run of ``per_window`` consecutive spins (every start)."""
    import numpy as np

    if len(durations) < per_window or per_window < 1:
        return []
    csum = np.concatenate([[0.0], np.cumsum(durations)])
    return list(csum[per_window:] - csum[:-per_window])


def _spread(windows: Sequence[float]) -> float:
    import numpy as np

    if len(windows) < 2:
        return 0.0
    lo, mid, hi = np.percentile(windows, [2.5, 50, 97.5])
    return float((hi - lo) / 2 / mid)


def analyse(samples: dict[int, list[tuple[float, float]]], seconds: float) -> tuple[list[CoreNoise], float | None]:
    """Each core's modes, spread and spells, and how much the cores move together."""
    import numpy as np

    spins_of: dict[int, tuple[list[float], list[float]]] = {}
    for core, spins in sorted(samples.items()):
        kept = [(t, d) for t, d in spins if d > 0]
        if len(kept) >= 5:
            spins_of[core] = ([t for t, _ in kept], [d for _, d in kept])
    logs_of = {core: np.log(durations) for core, (_, durations) in spins_of.items()}
    splits = {core: _split(logs.tolist()) for core, logs in logs_of.items()}
    if not splits:
        return [], None
    # the fastest mode of any core is 1.0: the median spin of the fast group (or of all, with one mode)
    reference = min(
        float(np.exp(np.median(logs[logs <= splits[core]] if splits[core] is not None else logs)))
        for core, logs in logs_of.items()
    )
    cores: list[CoreNoise] = []
    for core, (starts, durations) in spins_of.items():
        logs, cut = logs_of[core], splits[core]
        groups = [logs] if cut is None else [logs[logs <= cut], logs[logs > cut]]
        modes = [
            {"speed": round(reference / float(np.exp(np.median(g))), 3), "share": round(len(g) / len(logs), 3)}
            for g in groups
        ]
        # a spell is a run of spins at one speed: each spin's speed is the median of its neighbours' within
        # SMOOTH_S, so that one spin that a tick of the kernel slowed does not end a spell
        median_spin = float(np.median(durations))
        half = max(1, round(SMOOTH_S / median_spin / 2))
        smooth = [float(np.median(logs[max(0, i - half) : i + half + 1])) for i in range(len(logs))]
        slow = [x > cut for x in smooth] if cut is not None else [False] * len(logs)
        spells, switches = _spells(starts, slow)
        per_window = max(1, round(RUN_S / median_spin))
        cores.append(
            CoreNoise(
                core=core,
                spins=len(durations),
                modes=modes,
                run_spread=round(_spread(_windows(durations, per_window)), 4),
                spell_s=round(_weighted_spell(spells), 3) if spells and switches >= 2 else None,
                switches=switches,
                median_spin_s=round(median_spin, 6),
            )
        )
    return cores, _together(samples, seconds)


def _together(samples: dict[int, list[tuple[float, float]]], seconds: float, bin_s: float = 0.25) -> float | None:
    """The mean correlation, over pairs of cores, of their speeds in bins of ``bin_s``."""
    import numpy as np

    if len(samples) < 2:
        return None
    bins = max(2, int(seconds / bin_s))
    series = []
    for spins in samples.values():
        sums, counts = np.zeros(bins), np.zeros(bins)
        for start, duration in spins:
            index = min(int(start / bin_s), bins - 1)
            if duration > 0:
                sums[index] += math.log(duration)
                counts[index] += 1
        with np.errstate(invalid="ignore", divide="ignore"):
            series.append(sums / counts)
    matrix = np.vstack(series)
    keep = np.all(np.isfinite(matrix), axis=0)
    matrix = matrix[:, keep]
    if matrix.shape[1] < 4 or np.any(np.std(matrix, axis=1) == 0):
        return None
    corr = np.atleast_2d(np.corrcoef(matrix))
    pairs = [float(corr[i, j]) for i in range(len(matrix)) for j in range(i + 1, len(matrix))]
    return round(float(np.mean(pairs)), 3)


def paired_sigma(noise: Noise, run_s: float = RUN_S) -> float:
    """The spread (standard deviation of the log) of a paired ratio: a run of ``run_s`` against the next one,
    on the same core or another, from the probe's spins (runs longer than half the probe: as long as that)."""
    import numpy as np

    ratios: list[float] = []
    cores = {int(core): [(t, d) for t, d in spins if d > 0] for core, spins in noise.samples.items()}
    series = {}
    for core, spins in cores.items():
        durations = [d for _, d in spins]
        if len(durations) < 4:
            continue
        length = min(run_s, noise.seconds / 2)
        per_window = max(1, round(length / float(np.median(durations))))
        series[core] = (np.asarray(_windows(durations, per_window)), per_window)
    for wa, step in series.values():
        for wb, _ in series.values():
            n = min(len(wa) - step, len(wb) - step)
            if n <= 0:
                continue
            ratios.extend(np.log(wa[:n] / wb[step : step + n]).tolist())
    if len(ratios) < 2:
        return max((core.run_spread for core in noise.cores), default=0.0) / Z95
    return float(np.std(ratios, ddof=1))


# -- the probe ----------------------------------------------------------------------------------

#: The longest probe ``doctor`` takes.
MAX_SECONDS = 600.0


def doctor(seconds: float = 20.0, cores: Sequence[int] | None = None) -> Noise:
    """The machine's noise, as ``python -m bench doctor`` measures it: ``probe`` with its input checked
    (ValueError says what is wrong)."""
    if not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"the probe takes 0 < seconds <= {MAX_SECONDS:g}, not {seconds:g}")
    usable = set(_usable_cores())
    if cores is not None and not set(cores) <= usable:
        raise ValueError(f"cores {sorted(set(cores) - usable)} are not this process's (it may use {sorted(usable)})")
    return probe(seconds, cores)


def probe(seconds: float = 20.0, cores: Sequence[int] | None = None, spin_s: float = SPIN_S) -> Noise:
    """Spin on every core (or ``cores``) at once for ``seconds``, one pinned process each."""
    chosen = sorted(cores if cores is not None else _usable_cores())
    n = spins_for(spin_s)
    meter = cpuload.Meter()
    before = meter.snapshot()
    start = time.monotonic() + 0.2 + 0.02 * len(chosen)  # every process has started by then
    end = start + seconds
    processes = [
        subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", SPIN_CODE, str(core), repr(start), repr(end), str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for core in chosen
    ]
    samples: dict[int, list[tuple[float, float]]] = {}
    try:
        for core, process in zip(chosen, processes, strict=True):
            out, err = process.communicate(timeout=seconds + 30)
            if process.returncode != 0:
                raise RuntimeError(f"the probe on core {core} failed: {err.strip().splitlines()[-1:] or '?'}")
            samples[core] = [(float(t), float(d)) for t, d in json.loads(out)]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    load = meter.record(before, meter.snapshot())
    found, together = analyse(samples, seconds)
    made = Noise(
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        seconds=seconds,
        spin_s=spin_s,
        cores=found,
        together=together,
        other_cores=load["other_cores"],
        steal=load["steal"],
        samples={str(core): [[t, d] for t, d in spins] for core, spins in samples.items()},
        host=socket.gethostname(),
        cpu=cpu_model(),
    )
    return replace(made, paired=round(paired_sigma(made), 5))


def _usable_cores() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(available_cores()))
