"""The noise probe: synthetic two-mode clocks for the analysis, a short real probe, and ``doctor``."""

import json
import math
import os
import random
import re

import pytest

from bench.host import noise
from bench.host.noise import Noise, analyse

FAST, SLOW = 0.004, 0.0068  # a spin's time at the two speeds, 1.7x apart


def clock(seconds, spell_s=None, jitter=0.01, seed=0, offset=0.0, slow_first=False):
    """Spins back to back for ``seconds``: at FAST, switching to SLOW and back every ``spell_s`` (from
    ``offset``), with a relative jitter."""
    rng = random.Random(seed)
    spins, t = [], 0.0
    while t < seconds:
        slow = False
        if spell_s is not None:
            slow = (int((t + offset) / spell_s) % 2 == 1) != slow_first
        duration = (SLOW if slow else FAST) * (1 + rng.gauss(0, jitter))
        spins.append((t, duration))
        t += duration
    return spins


def probed(samples, seconds):
    cores, together = analyse(samples, seconds)
    kept = {str(core): [list(spin) for spin in spins] for core, spins in samples.items()}
    return Noise("now", seconds, FAST, cores, together, 0.0, 0.0, kept)


def test_a_core_that_switches_shows_two_modes_its_spells_and_a_wide_spread():
    found = probed({0: clock(20, spell_s=2.0), 1: clock(20, seed=1)}, 20)
    switching, steady = found.cores
    assert [m["speed"] for m in switching.modes] == pytest.approx([1.0, FAST / SLOW], abs=0.02)
    # fast spins are more: 2 s holds 500 of them and 294 slow ones
    assert switching.modes[0]["share"] == pytest.approx(500 / 794, abs=0.03)
    assert switching.spell_s == pytest.approx(2.0, abs=0.1) and switching.switches == 9
    assert switching.run_spread > 0.15
    assert len(steady.modes) == 1 and steady.modes[0]["speed"] == pytest.approx(1.0, abs=0.02)
    assert steady.spell_s is None and steady.switches == 0 and steady.run_spread < 0.03
    assert found.two_modes and found.slowest == pytest.approx(FAST / SLOW, abs=0.02)


def test_cores_that_switch_together_or_independently_are_told_apart():
    together = probed({0: clock(20, 1.0), 1: clock(20, 1.0, seed=1)}, 20)
    apart = probed({0: clock(20, 1.0), 1: clock(20, 1.3, seed=1, offset=0.4)}, 20)
    assert together.together > 0.9
    assert abs(apart.together) < 0.5
    assert "together" in " ".join(together.lines()) and "independently" in " ".join(apart.lines())


def test_one_wide_mode_is_not_two():
    rng = random.Random(3)
    spins, t = [], 0.0
    while t < 10:
        d = FAST * math.exp(rng.gauss(0, 0.08))  # a lognormal spread: no gap between two groups
        spins.append((t, d))
        t += d
    found = probed({0: spins}, 10)
    assert len(found.cores[0].modes) == 1 and not found.two_modes


def test_a_noisier_machine_needs_more_rounds_spread_over_more_spells():
    quiet = probed({0: clock(20, seed=1), 1: clock(20, seed=2)}, 20)
    noisy = probed({0: clock(20, 2.0), 1: clock(20, 2.6, seed=1, offset=0.7)}, 20)
    quiet_rounds, quiet_minutes = quiet.rounds_needed(0.05)
    noisy_rounds, noisy_minutes = noisy.rounds_needed(0.05)
    assert quiet_rounds <= 4 and noisy_rounds > 5 * quiet_rounds
    assert noisy_minutes >= 10 * noisy.spell_s() / 60 and noisy.spell_s() == pytest.approx(2.3, abs=0.4)
    assert noisy.rounds_needed(0.10)[0] < noisy_rounds
    text = " ".join(noisy.lines())
    assert f"about {noisy_rounds} paired rounds" in text and "1.7x apart" in text
    assert f"about {noisy_rounds} paired rounds over" in noisy.summary()  # 20 s: long enough to say
    assert any("cpupower" in line for line in noisy.advice())
    assert not any("cpupower" in line for line in quiet.advice())


def test_the_record_keeps_every_spin_and_loads_back():
    found = probed({0: clock(5, 1.0), 1: clock(5, seed=4)}, 5)
    data = json.loads(json.dumps(found.to_json()))
    assert sum(len(v) for v in data["samples"].values()) == sum(c.spins for c in found.cores)
    assert data["rounds_5pct"] == found.rounds_needed(0.05)[0]
    again = Noise.from_json(data)
    assert again.cores == found.cores and again.rounds_needed() == found.rounds_needed()


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="pins to cores")
def test_a_real_probe_spins_on_every_usable_core():
    found = noise.probe(seconds=1.5)
    usable = sorted(os.sched_getaffinity(0))
    assert [core.core for core in found.cores] == usable
    for core in found.cores:
        assert core.spins >= 10  # 4 ms spins for 1.5 s on a quiet core (a busy one takes longer, as it should)
        assert all(0 < mode["speed"] <= 1.0 for mode in core.modes)
        assert sum(mode["share"] for mode in core.modes) == pytest.approx(1.0, abs=0.01)
    assert max(mode["speed"] for core in found.cores for mode in core.modes) == 1.0


def test_doctor_says_what_the_machine_allows(run_bench, tmp_path):
    """docs/measuring.md's ``python -m bench doctor``, shorter."""
    done = run_bench("doctor", "--seconds", "2", "--json", "probe.json", module=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "A 1 s run here varies up to ±" in done.stdout
    assert "Telling configurations 5% apart takes about" in done.stdout and "What would help:" in done.stdout
    data = json.loads((tmp_path / "probe.json").read_text())
    assert data["seconds"] == 2 and len(data["cores"]) == len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--seconds", "0"], "the probe takes 0 < seconds <= 600, not 0"),
        (["--seconds", "x"], "argument --seconds: 'x' is not a number of seconds"),
        (["--cores", "9999"], "cores [9999] are not this process's"),
        (["--cores", "a"], "argument --cores: 'a' is not a core number"),
        (["--json", "kept.json"], "kept.json exists: the probe never replaces a file; name another"),
    ],
)
def test_doctor_refuses_bad_input_in_one_line_and_keeps_files(run_bench, tmp_path, args, error):
    (tmp_path / "kept.json").write_text("mine\n")
    done = run_bench("doctor", "--seconds", "1", *args, module=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("python -m bench doctor: error: ") and error in line
    assert (tmp_path / "kept.json").read_text() == "mine\n"


def test_a_sweep_probes_the_noise_first_and_says_it_last(run_bench, tmp_path):
    import bench

    args = ("--executors", "serial", "--workloads", "noop", "--workers", "1", "--repeats", "2", "--out", "out")
    done = run_bench(*args, "--noise", "1", "--trace", "off", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "noise (1 s probe before the sweep): a 1 s run varied up to ±" in done.stdout
    assert "a probe this short sees only a few of the machine's spells" in " ".join(done.stdout.split())
    journal = done.stdout.strip().splitlines()[-1]
    lines = [json.loads(line) for line in (tmp_path / journal).read_text().splitlines()]
    assert [line["kind"] for line in lines[:2]] == ["run", "noise"]
    results = bench.load(tmp_path / journal)
    [probe] = results.noise
    assert probe.run_id == results.runs[0].run_id and probe.seconds == 1
    assert len(probe.cores) == len(os.sched_getaffinity(0)) and probe.samples
    assert Noise.from_json(probe.to_json()).rounds_needed() == (
        probe.rounds_5pct,
        pytest.approx(probe.minutes_5pct, abs=0.01),
    )
    # the report's first screen says it too
    from bench.analysis.findings import analyse as analyse_journals

    [env] = analyse_journals(results).environments
    assert any(
        line.startswith(f"Noise (1 s probe before the run of {probe.created}): ") for line in env.recommendations
    )
    # 0 (as the tests' environment sets): no probe, and no line
    done = run_bench(*args, "--trace", "off", timeout=120)
    assert done.returncode == 0 and "noise (" not in done.stdout
    assert not bench.load(tmp_path / done.stdout.strip().splitlines()[-1]).noise


@pytest.mark.parametrize(
    ("args", "env", "error"),
    [
        (["--noise", "61"], {}, "the noise probe must be a number of seconds from 0 to 60, not 61.0"),
        ([], {"BENCH_NOISE_S": "soon"}, "BENCH_NOISE_S=soon is not a number of seconds"),
    ],
)
def test_a_bad_probe_length_is_one_line_and_exit_2(run_bench, tmp_path, args, env, error):
    done = run_bench("--executors", "serial", "--workloads", "noop", *args, "--out", "out", env=env, timeout=60)
    assert done.returncode == 2 and not (tmp_path / "out").exists()
    [line] = done.stderr.splitlines()
    assert line == f"python bench/run.py: error: {error}"


def test_configurations_closer_than_the_noise_are_equivalent_here_and_the_simplest_is_named(tmp_path):
    """Within one run the test calls 3% slower (12 tight rounds each); a machine whose cores switch between
    two speeds cannot tell 3% apart in 12 rounds: the report says so and names the plainer back-end."""
    import numpy as np

    import bench
    from bench.analysis.findings import analyse as analyse_journals
    from tests.journals import cell, write_journal

    rng = np.random.default_rng(7)
    cells = [
        cell("serial", 1, 1.0, rounds=12, rng=rng),
        cell("process-pool", 2, 1.80, rounds=12, spread=0.004, rng=rng),
        cell("multiprocessing", 2, 1.745, rounds=12, spread=0.004, rng=rng),
        cell("thread-pool", 1, 1.15, rounds=12, spread=0.004, rng=rng),  # a pool of one beating the loop
    ]
    quiet = write_journal(tmp_path / "quiet.jsonl", cells)
    [env] = analyse_journals(bench.load(quiet)).environments
    [case] = env.cases
    assert case.best.executor == "process-pool" and not case.runners_up and not case.equivalent
    assert case.recommendations[0].startswith("For fibprimes[2000] use process-pool x2, chunk 16")
    [above] = [note for note in case.notes if note.startswith("Efficiency wholly above 100% in 1 cell(s)")]
    assert "noise" not in above  # no probe: nothing to say it is the machine's

    noisy = probed({0: clock(10, 1.0), 1: clock(10, 1.3, seed=1, offset=0.4)}, 10)
    record = {"schema": 1, "kind": "noise", "run_id": "noisy", **noisy.to_json()}
    path = write_journal(tmp_path / "noisy.jsonl", cells)
    path.write_text(path.read_text() + json.dumps(record) + "\n")
    [env] = analyse_journals(bench.load(path)).environments
    [case] = env.cases
    [(other, resolution)] = case.equivalent
    assert other.executor == "multiprocessing" and 0.03 < resolution < 1
    first = case.recommendations[0]
    assert first.startswith("For fibprimes[2000] use multiprocessing x2, chunk 16: ")
    from bench.report.render import _answer

    assert case.recommended is other and (_answer(case)["executor"], _answer(case)["tied"]) == ("multiprocessing", 1)
    assert "It and 1 other configuration(s) are equivalent here: the fastest, process-pool x2" in first
    assert f"(±{resolution:.0%} here, from its noise probe and serial baselines)" in first
    assert any(line.startswith("Noise (10 s probe before the run of now)") for line in env.recommendations)
    [above] = [note for note in case.notes if note.startswith("Efficiency wholly above 100% in 1 cell(s)")]
    assert above.endswith("so here it is most likely noise, not a superlinear effect.")


def test_a_race_and_advise_take_the_reports_rule_for_what_the_noise_cannot_tell_apart(tmp_path):
    """The cells of the test above, raced and advised on: Welch's test on 12 rounds of one run eliminates
    multiprocessing (3% slower); on a machine whose noise cannot tell 3% apart in 12 rounds the race keeps it,
    and advise names the plainer of the two, as the report does, and says the other is equivalent here."""
    import numpy as np

    import bench
    from bench.measuring.race import Race
    from bench.model import advise
    from tests.journals import cell, write_journal

    rng = np.random.default_rng(7)
    cells = [
        cell("serial", 1, 1.0, rounds=12, rng=rng),
        cell("process-pool", 2, 1.80, rounds=12, spread=0.004, rng=rng),
        cell("multiprocessing", 2, 1.745, rounds=12, spread=0.004, rng=rng),
    ]
    records = [c for c in bench.load(write_journal(tmp_path / "raced.jsonl", cells)).cells if c.executor != "serial"]
    noisy = probed({0: clock(10, 1.0), 1: clock(10, 1.3, seed=1, offset=0.4)}, 10)

    def raced(noise):
        race = Race.of(((c.key, c.case, c.label()) for c in records), noise=noise)
        for c in records:  # the leader first, then the other, as a round tells them
            event = race.observe(c.key, c.ratios, times=c.times_s, baselines=c.baseline_s)
        return race, event

    race, event = raced(None)
    assert event is not None and event.what == "eliminated" and event.label.startswith("multiprocessing x2")
    race, event = raced(noisy)
    assert event is None and all(e.what != "eliminated" for e in race.history)
    best, others = advise.recommend(records, race, {})
    [other] = others
    assert (best["executor"], best["outcome"], best["equivalent"]) == ("multiprocessing", "recommended", 1)
    assert other["executor"] == "process-pool" and re.fullmatch(r"equivalent r12 ±\d+%", other["outcome"])
    # the plainest: fewer workers, then the registry's order, auto, then map, imap, imap_unordered
    from bench.executors import plainness

    order = [("serial", 1, "n/a", "map"), ("multiprocessing", 2, "auto", "map"), ("multiprocessing", 2, "32", "map")]
    order += [("multiprocessing", 2, "32", "imap"), ("multiprocessing", 2, "32", "imap_unordered")]
    order += [("process-pool", 2, "auto", "map"), ("serial", 4, "n/a", "map")]
    assert sorted(order, key=lambda c: plainness(*c)) == order
    # without a probe, advise keeps the fastest by the interval rule and the test calls the other slower
    best, [other] = advise.recommend(records, raced(None)[0], {})
    assert best["executor"] == "process-pool" and best["equivalent"] == 0 and other["outcome"].startswith("slower r12")


def test_the_serial_baselines_drift_widens_a_short_probes_resolution(tmp_path):
    """A 2 s probe that happened to see one speed, in a run whose serial baselines drifted by 15% (the pairs
    cancel it, so the rounds' test still calls a 3% gap): the baselines say what the probe missed."""
    import numpy as np

    import bench
    from bench.analysis.findings import analyse as analyse_journals
    from tests.journals import cell, write_journal

    quiet = probed({0: clock(2, seed=1), 1: clock(2, seed=2)}, 2)
    record = {"schema": 1, "kind": "noise", "run_id": "j", **quiet.to_json()}

    def journal(name, drift):
        rng = np.random.default_rng(11)
        cells = [
            cell("serial", 1, 1.0, rounds=12, rng=rng),
            cell("process-pool", 2, 1.80, rounds=12, spread=0.004, rng=rng),
            cell("multiprocessing", 2, 1.745, rounds=12, spread=0.004, rng=rng),
        ]
        factors = np.exp(rng.normal(0, drift, 12))  # the machine's state, round by round, for both sides
        for c in cells:
            c["times_s"] = (np.array(c["times_s"]) * factors).tolist()
            if c["baseline_s"]:
                c["baseline_s"] = (np.array(c["baseline_s"]) * factors).tolist()
        path = write_journal(tmp_path / f"{name}.jsonl", cells, run_id="j")
        path.write_text(path.read_text() + json.dumps(record) + "\n")
        [env] = analyse_journals(bench.load(path)).environments
        return env.cases[0]

    steady, drifting = journal("steady", 0.0), journal("drifting", 0.15)
    assert not steady.equivalent and steady.recommendations[0].startswith("For fibprimes[2000] use process-pool x2")
    [(other, resolution)] = drifting.equivalent
    assert other.executor == "multiprocessing" and resolution > 0.1
    assert drifting.recommendations[0].startswith("For fibprimes[2000] use multiprocessing x2")
