"""The cost model: the simulation against closed forms, fitting on measurements of known parameters,
calibrations (kept, found, refused for another environment), and ``model check``."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bench
from bench.data.environment import env_id
from bench.model import calibrate
from bench.model import cost as model
from bench.model.cost import PARAMS, Profile, Setting

ZERO = [0.0] * len(PARAMS)


def equal(n: int, seconds: float, nbytes: float = 0.0, outside: float = 0.0) -> Profile:
    return Profile(np.full(n, seconds), np.full(n, nbytes / 2), np.full(n, nbytes / 2), n * seconds + outside)


def params(**values: float) -> list[float]:
    return [values.get(name, 0.0) for name in PARAMS]


# -- the simulation against closed forms -----------------------------------------------


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), chunk=st.integers(1, 40), workers=st.integers(1, 16))
def test_equal_tasks_take_rounds_of_chunks(n, chunk, workers):
    """k workers, n equal tasks of t, chunks of c, nothing else to pay: ceil(n / (c k)) rounds of full
    chunks, the last round's chunk possibly shorter (then the longest chunk still sets the round)."""
    t = 1e-3
    rounds = math.ceil(n / (chunk * workers))
    last_round = math.ceil(n / chunk) - (rounds - 1) * workers  # chunks in the last round
    last_chunk = n - (math.ceil(n / chunk) - 1) * chunk  # items in the last chunk
    # a last round of one chunk lasts that chunk; of more, a full chunk
    expected = (rounds - 1) * chunk * t + (last_chunk if last_round == 1 else chunk) * t
    got = model.simulate(equal(n, t), ZERO, Setting(workers, chunk))
    assert got == pytest.approx(expected, rel=1e-9)
    if n % (chunk * workers) == 0:
        assert got == pytest.approx(n / (chunk * workers) * chunk * t)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 200), workers=st.integers(1, 32))
def test_a_free_executor_divides_the_serial_time(n, workers):
    """No dispatch costs, no contention, one item per chunk, n a multiple of k: the serial time over k."""
    n *= workers
    profile = equal(n, 2e-3, outside=0.0)
    assert model.simulate(profile, ZERO, Setting(workers, 1)) == pytest.approx(profile.wall_s / workers)


def test_one_dominant_item_sets_the_time_and_the_ceiling():
    seconds = np.full(100, 1e-3)
    seconds[0] = 0.5  # the first: started at once
    profile = Profile(seconds, np.zeros(100), np.zeros(100), float(seconds.sum()))
    # enough workers for the others to finish while the big one runs: the big one alone
    assert model.simulate(profile, ZERO, Setting(8, 1)) == pytest.approx(0.5)
    assert model.simulate(profile, ZERO, Setting(1024, 1)) == pytest.approx(0.5)
    assert profile.ceiling == pytest.approx(profile.wall_s / 0.5)
    # in one chunk with 15 others the big one's chunk is the run's floor
    assert model.simulate(profile, ZERO, Setting(64, 16)) == pytest.approx(0.5 + 15e-3)


def test_the_driver_bounds_the_rate():
    """Handing a chunk over costs the driver d: m chunks take at least m d, however many workers."""
    profile = equal(1000, 10e-6)
    slow = params(chunk_s=100e-6)
    for workers in (1, 4, 64):
        assert model.simulate(profile, slow, Setting(workers, 1)) == pytest.approx(1000 * 100e-6 + 10e-6)
    # per item and per byte alike: 10 chunks of 100 items of 1 kB
    heavy = equal(1000, 0.0, nbytes=1000)
    cost = params(chunk_s=1e-4, item_s=1e-6, byte_s=1e-9)
    assert model.simulate(heavy, cost, Setting(8, 100)) == pytest.approx(10 * (1e-4 + 100 * 1e-6 + 100 * 1000 * 1e-9))


def test_the_imap_window():
    """A window of w chunks in flight runs at most w at once; one chunk in flight runs them one by one,
    and imap_unordered refills from the first finished where imap waits for the oldest."""
    profile = equal(60, 1e-3)
    assert model.simulate(profile, ZERO, Setting(8, 1, "imap", window=1)) == pytest.approx(60e-3)
    assert model.simulate(profile, ZERO, Setting(8, 1, "imap", window=4)) == pytest.approx(15e-3)
    assert model.simulate(profile, ZERO, Setting(8, 1, "imap_unordered", window=4)) == pytest.approx(15e-3)
    assert model.simulate(profile, ZERO, Setting(8, 1, "map")) == pytest.approx(math.ceil(60 / 8) * 1e-3)
    # a long first item holds imap's window while imap_unordered goes on around it
    seconds = np.full(40, 1e-3)
    seconds[0] = 20e-3
    skewed = Profile(seconds, np.zeros(40), np.zeros(40), float(seconds.sum()))
    ordered = model.simulate(skewed, ZERO, Setting(4, 1, "imap", window=4))
    unordered = model.simulate(skewed, ZERO, Setting(4, 1, "imap_unordered", window=4))
    assert unordered == pytest.approx(20e-3)  # three workers take the 39 short items meanwhile
    assert ordered == pytest.approx(20e-3 + 36e-3 / 4)  # the other three wait for the first to be taken


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1e-2), st.floats(0, 1e-1)), min_size=1, max_size=40),
    st.sampled_from([1, 2, 3, 1000]),
)
def test_the_closed_forms_of_dispatch_play_as_the_chunks_do(chunks, workers):
    """One worker, or a worker for every chunk: the closed forms give the time of playing chunk by chunk."""
    send, work = [c[0] for c in chunks], [c[1] for c in chunks]
    played = model._dispatch_played(send, work, workers, "map", None)
    assert model.dispatch(np.array(send), np.array(work), workers) == pytest.approx(played, rel=1e-12, abs=1e-15)
    if workers == 1 or workers >= len(chunks):  # the cases the closed forms take
        assert model._dispatch_closed(np.array(send), np.array(work), workers) == pytest.approx(played, rel=1e-12)


def test_a_profiles_chunks_are_made_once_and_cannot_be_changed():
    profile = equal(10, 1e-3)
    counts, seconds, _ = model.chunk_costs(profile, 4)
    assert counts.tolist() == [4, 4, 2] and model.chunk_costs(profile, 4)[0] is counts
    with pytest.raises(ValueError):
        seconds[0] = 1.0
    assert model.chunk_costs(profile.scaled(2 * profile.wall_s), 4)[1].sum() == pytest.approx(2 * seconds.sum())


def test_contention_and_the_gil():
    profile = equal(64, 1e-3)
    # under the GIL, contention 1 makes threads no faster than one
    assert model.simulate(profile, params(contention=1.0), Setting(4, 1), gil=True) == pytest.approx(64e-3)
    # processes' contention stops growing at the cores it was measured on; more workers than cores share them
    assert model.inflation(0.1, 16, saturate=2) == pytest.approx(1.1)
    assert model.inflation(0.1, 16, saturate=2, cores=8) == pytest.approx(1.1 * 2)
    assert model.inflation(0.5, 4, gil=True) == pytest.approx(2.5)


# -- fitting ---------------------------------------------------------------------------------


TRUE = params(run_s=2e-3, chunk_s=60e-6, item_s=4e-6, byte_s=0.5e-9, worker_s=150e-6, contention=0.08)


def probe_observations(truth, noise=0.01, seed=1):
    """What a calibration measures (noop, payload, spin at 1 and 2 workers, chunks 1 and 32), simulated
    with ``truth`` and a relative noise."""
    rng = np.random.default_rng(seed)
    cases = [equal(1000, 1e-6), equal(32, 1e-6, nbytes=2 * 2**20), equal(100, 1e-3)]
    found = []
    for profile in cases:
        for workers in (1, 2):
            for chunk in (1, 32):
                setting = Setting(workers, chunk, cores=2)
                measured = model.simulate(profile, truth, setting, saturate=2) * (1 + rng.normal(0, noise))
                found.append(model.Observation(profile, setting, measured, noise))
    return found


def test_fitting_recovers_known_parameters_within_their_intervals():
    fitted = model.fit("process-pool", probe_observations(TRUE), cores=2)
    for name, truth in zip(PARAMS, TRUE, strict=True):
        value, low, high = fitted.param(name)
        assert low <= truth <= high, (name, truth, (value, low, high))
    # what the probes determine well, they determine closely
    assert fitted.param("chunk_s")[0] == pytest.approx(60e-6, rel=0.15)
    assert fitted.param("byte_s")[0] == pytest.approx(0.5e-9, rel=0.15)
    assert fitted.param("contention")[0] == pytest.approx(0.08, abs=0.03)
    # and predict a configuration never measured within their interval
    target = equal(500, 2e-3)
    truth = model.simulate(target, TRUE, Setting(2, 8, cores=2), saturate=2)
    assert model.predict(fitted, target, Setting(2, 8, cores=2)).covers(truth)


def test_a_round_trip_through_json_keeps_the_model():
    fitted = model.fit("thread-pool", probe_observations(params(chunk_s=20e-6, contention=0.9)), cores=2)
    again = model.ExecutorModel.from_json("thread-pool", json.loads(json.dumps(fitted.to_json())))
    assert again.gil and again.cores == 2 and np.allclose(again.draws, fitted.draws, rtol=1e-5)
    assert again.value == pytest.approx(fitted.value, rel=1e-5)
    with pytest.raises(ValueError, match="incomplete"):
        model.ExecutorModel.from_json("x", {"params": {}})


def test_startup_line():
    fitted = model.fit_startup([(1, 0.11), (2, 0.21), (1, 0.09), (2, 0.19), (4, 0.41)])
    assert fitted["base_s"] == pytest.approx(0.0, abs=0.02)
    assert fitted["per_worker_s"] == pytest.approx(0.1, rel=0.1)
    assert fitted["low"][1] <= 0.1 <= fitted["high"][1]
    assert model.fit_startup([(1, 0.1), (2, 0.2)])["low"] is None  # two points: no interval


# -- journals, calibrations and model check ----------------------------------------------------

GOLDEN = Path(__file__).parent / "data" / "schema1-model.jsonl"


def lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.strip()]


@pytest.mark.slow  # two fits of every executor's model on the journal's probes
def test_model_check_on_a_golden_journal(run_bench):
    """Fitted on the journal's probes (and traces), every other parallel cell is predicted."""
    result = run_bench("model", "check", str(GOLDEN), module=True)
    assert result.returncode == 0, result.stderr
    results = bench.load(GOLDEN)
    predicted = [c for c in results.cells if c.ok and c.executor != "serial" and not calibrate.is_probe(c)]
    last = lines(result)[-1]
    assert last.startswith("median absolute error: ") and last.endswith(f"% over {len(predicted)} cells"), last
    error = float(last.split(": ")[1].split("%")[0])
    assert 0 < error < 25  # the model follows the measurements it was not fitted on
    assert "parameters from the probes" in result.stdout
    assert "worst predicted (5):" in result.stdout
    paired = [c for c in predicted if c.stats.speedup is not None]
    [said] = [line for line in lines(result) if line.startswith("paired speedups: median absolute error")]
    assert f"% over {len(paired)} cells; " in said and "lie within their measured interval" in said
    # fitted on the cells at 1 worker too: the 2-worker cells are predicted, and only they
    result = run_bench("model", "check", str(GOLDEN), "--fit-workers", "1", module=True)
    assert result.returncode == 0, result.stderr
    at_two = [c for c in predicted if c.workers == 2]
    assert lines(result)[-1].endswith(f"% over {len(at_two)} cells")


def test_the_speedup_check_says_how_much_of_the_error_the_noise_explains():
    from bench.data.stats import Estimate

    def checked(speedup, low, high, predicted_s):  # a serial level of 1 s: the predicted speedup is 1 / time
        return calibrate.Checked(
            None, Estimate(1 / speedup, 0, 9, 0.95, 8), model.Prediction(predicted_s, predicted_s, predicted_s),
            1.0, None, "trace", 2, True, Estimate(speedup, low, high, 0.95, 8), 1.0,
        )  # fmt: skip

    cells = [
        checked(2.0, 1.8, 2.2, 1 / 2.1),  # +5%, within the measured interval
        checked(1.5, 1.4, 1.6, 1 / 1.8),  # +20%, beyond it
        checked(1.0, 0.9, 1.1, 1 / 0.92),  # -8%, within
    ]
    assert [c.within_noise for c in cells] == [True, False, True]
    found = calibrate.speedup_check(cells)
    assert (found.cells, found.within) == (3, 2)
    assert found.error == pytest.approx(0.08) and found.beyond == pytest.approx(0.20)
    assert found.noise == pytest.approx(0.10)
    assert found.line().endswith("; the other 1: median error 20.0%")
    assert calibrate.speedup_check(cells[:1]).line().endswith(": the noise explains every error")


def test_the_golden_journals_profiles_and_fits():
    results = bench.load(GOLDEN)
    profiles = calibrate.Profiles(results, here=False)
    cell = next(c for c in results.cells if c.workload == "fibprimes" and c.ok and c.executor != "serial")
    profile = profiles.at_level(cell)
    assert profile is not None and profile.items == cell.items and profile.source == "trace"
    # the costliest items are the Fibonacci primes (a composite fails its first test), the largest of them
    # among the costliest, and sets the ceiling (OEIS A001605: 131 and 137 are the last indices below 300)
    costliest = {int(i) + 1 for i in np.argsort(profile.item_s)[-3:]}
    assert costliest & {131, 137} and costliest <= {3, 4, 5, 7, 11, 13, 17, 23, 29, 43, 47, 83, 131, 137}
    assert profile.ceiling and 2 < profile.ceiling < profile.items
    fitted = calibrate.fit_cells(results, [c for c in results.cells if calibrate.is_probe(c) and c.ok], profiles)
    assert {"thread-pool", "process-pool"} <= set(fitted)
    # threads share the GIL: their computation scales worse than processes'
    assert fitted["thread-pool"].param("contention")[0] > fitted["process-pool"].param("contention")[0]
    assert fitted["thread-pool"].gil and not fitted["process-pool"].gil


def calibration_copy(source: Path, folder: Path, **env: str) -> Path:
    """The calibration journal ``source`` with its environment changed, under the environment's name."""
    records = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    for record in records:
        if record["kind"] in ("run", "calibration"):
            record["env"].update(env)
        if record["kind"] == "calibration":
            record["env_id"] = env_id(record["env"])
    path = folder / "calibration" / f"{env_id(records[-1]['env'])}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def test_calibrate_writes_a_calibration_record_that_the_checks_find(calibrated, tmp_path, run_bench):
    out, path = calibrated
    results = bench.load(path)
    env = results.runs[0].env
    assert path == out / "calibration" / f"{env_id(env)}.jsonl"
    (record,) = results.calibrations
    assert set(record.executors) == {"thread-pool", "process-pool"} and record.cores >= 1
    models = calibrate.models_of(record)
    assert len(models) == 2
    for fitted in models.values():
        for name in PARAMS:
            value, low, high = fitted.param(name)
            assert 0 <= low <= value <= high
        assert model.DRAWS // 4 <= len(fitted.draws) <= model.DRAWS and fitted.startup is not None
    # its probe cells are real cells: report, compare and export read the journal as any other
    assert {c.workload for c in results.cells} == set(calibrate.PROBES)
    assert all(c.ok and c.verified for c in results.cells)
    # traced (the model reads the traces), but no memory run: the model has no use for it
    assert results.traces and results.runs[0].matrix.memory is False
    assert all(c.driver_peak_bytes is None and c.memory_error is None for c in results.cells)
    # the machine's noise while the probes ran: the journal's noise record, and in the calibration without spins
    [probe] = results.noise
    assert record.noise is not None and record.noise["seconds"] == probe.seconds == 1
    assert "samples" not in record.noise and record.noise["rounds_5pct"] == probe.rounds_5pct
    # a journal of this environment without probes finds the calibration beside it and uses it alone
    journal = tmp_path / "results" / "work.jsonl"
    journal.parent.mkdir()
    run = json.loads(path.read_text().splitlines()[0])
    golden = [json.loads(line) for line in GOLDEN.read_text().splitlines()[1:]]
    work = [r for r in golden if r.get("workload") not in ("noop", "payload", "spin", "sleep")]
    journal.write_text("".join(json.dumps(r) + "\n" for r in [run, *[{**r, "run_id": run["run_id"]} for r in work]]))
    shutil.copytree(out / "calibration", tmp_path / "results" / "calibration")
    result = run_bench("model", "check", str(journal), module=True)
    assert result.returncode == 0, result.stderr
    assert "parameters from calibration" in result.stdout and lines(result)[-1].startswith("median absolute error")
    # a calibration of another host (or CPU, cores, Python, library versions) is refused, in one line
    other = calibration_copy(path, tmp_path / "elsewhere", hostname="elsewhere")
    result = run_bench("model", "check", str(journal), "--calibration", str(other), module=True)
    assert result.returncode == 2 and result.stdout == "" and len(result.stderr.splitlines()) == 1
    assert "calibrates another environment (host elsewhere" in result.stderr
    # and not found beside a journal of this one
    shutil.rmtree(tmp_path / "results" / "calibration")
    shutil.copytree(other.parent, tmp_path / "results" / "calibration")
    result = run_bench("model", "check", str(journal), module=True)
    assert result.returncode == 2 and "no probe cells in the journals and no calibration" in result.stderr


def test_a_second_calibration_keeps_the_first(calibrated, monkeypatch, tmp_path):
    out, path = calibrated
    folder = tmp_path / "results"
    shutil.copytree(out / "calibration", folder / "calibration")
    first = bench.load(folder / "calibration" / path.name).runs[0].run_id
    monkeypatch.setattr(calibrate, "PROBES", {"noop": 40, "payload": 4, "spin": 10})
    final, record, _ = calibrate.calibrate(["thread-pool"], folder)
    assert final == folder / "calibration" / path.name and set(record.executors) == {"thread-pool"}
    kept = folder / "calibration" / f"{path.stem}-{first}.jsonl"
    assert kept.is_file() and bench.load(kept).calibrations
    assert len(list((folder / "calibration").iterdir())) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["model", "check", "nosuch.jsonl"], "cannot read"),
        (["model", "check", "plain.jsonl"], "no probe cells in the journals and no calibration"),
        (["model", "check", "future.jsonl"], "schema 99 is not supported"),
        (["model", "check", "plain.jsonl", "--fit-workers", "8"], "no cell at 8 workers"),
        (["model", "check", str(GOLDEN), "--fit-workers", "1", "--calibration", str(GOLDEN)], "exclude each other"),
        (["model", "check", str(GOLDEN), "--calibration", str(GOLDEN)], "no calibration record"),
        (["calibrate", "--executors", "nosuch"], "unknown executor 'nosuch'"),
        (["calibrate", "--executors", "serial"], "nothing to calibrate"),
    ],
)
def test_bad_input_is_one_line_and_status_2(run_bench, tmp_path, args, message):
    from tests.journals import cell, write_journal

    write_journal(tmp_path / "plain.jsonl", [cell("serial", 1, 1.0), cell("process-pool", 2, 1.8)])
    run = json.dumps({"schema": 99, "kind": "run", "run_id": "x", "started": "now"})
    (tmp_path / "future.jsonl").write_text(run + "\n")
    result = run_bench(*args, module=True)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "results").exists()


def test_a_forecast_from_python_as_the_readme_shows(calibrated):
    out, path = calibrated
    models = calibrate.models_of(calibrate.newest_calibration(path))
    results = bench.load(GOLDEN)
    cell = next(c for c in results.cells if c.ok and c.executor == "process-pool" and c.workload == "fibprimes")
    profile = calibrate.Profiles(results).at_level(cell)
    speedups = [
        model.predict(models["process-pool"], profile, Setting(w, 16)).speedup(profile.wall_s) for w in (16, 64)
    ]
    for speedup in speedups:
        assert 0 < speedup.low <= speedup.value <= speedup.high
        assert speedup.value <= profile.ceiling * 1.01  # no back-end passes the workload's own ceiling


def test_a_users_workload_named_in_a_journal_is_never_imported(tmp_path):
    """The model reads journals (in reports too): it finds probes and makes profiles of registered workloads
    only, and never imports a file a journal names."""
    marker = tmp_path / "imported"
    (tmp_path / "mine.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    from tests.journals import cell, write_journal

    journal = write_journal(
        tmp_path / "user.jsonl", [cell("process-pool", 2, 1.5, workload=f"{tmp_path}/mine.py:Mine")]
    )
    (record,) = bench.load(journal).cells
    assert not calibrate.is_probe(record)
    assert calibrate.profile_here(record)[0] is None
    assert not marker.exists()
