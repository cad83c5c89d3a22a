"""One rule for each value derived from the records, owned by the data: every consumer (the summary, the
report and its model, calibrations, compare, advise) gives the same answer on the same journal, old
journals included."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import bench
from bench.analysis.compare import compare
from bench.analysis.findings import analyse
from bench.cli.compare import rows
from bench.cli.summary import summary_rows, summary_table
from bench.data import format, stats
from bench.data.chunks import auto_chunksize, chunk_grid
from bench.data.derived import case_baselines, case_level, pooled_stats, rounds_once
from bench.data.environment import env_id, identity
from bench.measuring import plan
from bench.model import advise, calibrate, cost
from bench.model.forecast import best_at
from tests.journals import ENV, cell, write_journal

# -- chunk sizes: the auto rule and one grid --------------------------------------------------------


@pytest.mark.parametrize(
    "items, workers, grid",
    [
        (1500, 2, [1, 2, 4, 8, 16, 32, 64, 128, 188, 256, 512, 750]),
        (400, 3, [1, 2, 4, 8, 16, 32, 34, 64, 128, 134]),
        (64, 1, [1, 2, 4, 8, 16, 32, 64]),
        (5, 1, [1, 2, 4, 5]),
        (3, 4, [1]),
        (0, 2, [1]),
    ],
)
def test_the_chunk_grid_runs_in_powers_of_two_to_one_chunk_per_worker_with_autos_size(items, workers, grid):
    assert chunk_grid(items, workers) == grid
    assert min(auto_chunksize(items, workers), grid[-1]) in grid


def test_plan_model_forecast_and_advise_share_the_auto_rule_and_the_grid():
    [group] = plan.build(plan.Matrix(executors=("process-pool",), workers=(3,), chunksizes=("auto",), sizes=(1000,)))
    assert group.cells[0].chunksize == auto_chunksize(1000, 3) == math.ceil(1000 / 12)
    profile = cost.Profile(np.linspace(1e-4, 3e-3, 400), np.full(400, 100.0), np.full(400, 100.0), 0.7)
    values = (1e-3, 60e-6, 4e-6, 1e-9, 40e-6, 0.05)
    fitted = cost.ExecutorModel("process-pool", values, values, values, (), cores=2)
    ranked = advise.candidates({"process-pool": fitted}, profile, 4, ["map"], cores=2)
    for workers in (1, 2, 3, 4):
        assert sorted({c.chunksize for c in ranked if c.workers == workers}) == chunk_grid(400, workers)
        best = cost.best_chunk(fitted, profile, cost.Setting(workers, 1, "map", None, 2))
        assert best in chunk_grid(400, workers)
    forecast = advise.forecast({"process-pool": fitted}, profile, "map", cores=2)
    assert [row["workers"] for row in forecast] == [4, 16, 128]
    for row in forecast:  # advise's forecast and the report's name the same best chunk size
        assert row["chunksize"] == best_at(fitted, profile, "map", row["workers"], 2, None)[0]


# -- a case's serial baseline: each round once --------------------------------------------------------


def test_rounds_shared_by_the_cells_of_a_group_count_once():
    rounds = [1.0, 1.1, 1.2, 1.3]
    resumed = [1.0, 1.1, 2.0, 2.1]  # an interrupted record's two rounds, then two of its resumed run
    assert rounds_once([rounds, rounds[:2], rounds, resumed]) == [1.0, 1.1, 1.2, 1.3, 2.0, 2.1]
    assert rounds_once([]) == []


def _shared_rounds_journal(tmp_path):
    """Two executor groups of one case; in the first, three cells hold copies of its 8 rounds' baselines:
    one stopped after 5 rounds, one went on after a restart (another instance number)."""
    rng = np.random.default_rng(7)
    first, second = (1.0 + rng.uniform(0, 0.2, 8)).tolist(), (1.3 + rng.uniform(0, 0.2, 8)).tolist()

    def pooled(executor, chunk, baselines, rounds=8, instance=1):
        found = cell(executor, 2, 1.6, size=300, chunk=chunk, rounds=rounds, instance=instance)
        found["baseline_s"] = baselines[:rounds]
        found["times_s"] = [b / (1.6 + 0.01 * i) for i, b in enumerate(baselines[:rounds])]
        return found

    cells = [
        pooled("process-pool", "1", first),
        pooled("process-pool", "16", first, rounds=5),
        pooled("process-pool", "64", first, instance=2),
        pooled("multiprocessing", "16", second, instance=3),
    ]
    return write_journal(tmp_path / "shared.jsonl", cells), first + second


def test_every_consumer_counts_each_round_of_a_cases_baseline_once(tmp_path):
    journal, rounds = _shared_rounds_journal(tmp_path)
    results = bench.load(journal)
    case = results.cells[0].case
    assert case_baselines(results.cells) == {case: rounds}
    level = float(np.median(rounds))
    assert case_level(results.cells, case) == pytest.approx(level)
    # compare: the drift of the serial baseline rests on 16 samples, not on the 29 copies
    (baseline,) = compare(results, results).baselines
    assert baseline.estimate_a.n == 16 and baseline.median_a == pytest.approx(level)
    # the report: the serial level of every configuration of the case
    points = [point for found in analyse(results).cases for point in found.points]
    assert len(points) == 4 and [point.serial_level for point in points] == pytest.approx([level] * 4)
    # calibrations and model checks: the case's level in its run
    profiles = calibrate.Profiles(results)
    assert profiles.of_case(results.cells[0])[1] == pytest.approx(level)


# -- a cell's statistics ----------------------------------------------------------------------------------


def test_a_cells_statistics_are_the_same_wherever_they_are_shown(tmp_path):
    rng = np.random.default_rng(3)
    cells = [cell("serial", 1, 1.0, chunk="n/a", rng=rng)] + [
        cell(name, 2, speedup, rng=rng, spread=0.05) for name, speedup in (("process-pool", 1.8), ("thread-pool", 0.9))
    ]
    results = bench.load(write_journal(tmp_path / "a.jsonl", cells))
    frame = results.to_dataframe().set_index("executor")
    points = {point.record.key: point for found in analyse(results).cases for point in found.points}
    table = {record.key: found for record, found, _ in summary_rows(results.cells)}
    changes = {change.a.key: change for change in compare(results, results, relative=True).changes}
    checked = 0
    for record in results.cells:
        found = record.stats
        assert found is not None and found == pooled_stats([record])
        assert points[record.key].cell == found and table[record.key] == found
        if record.executor == "serial":
            assert found.speedup is None and record.ratios is None
            continue
        assert found.speedup == stats.median_ci(record.ratios or [])
        assert frame.loc[record.executor, "speedup"] == found.speedup.value
        assert changes[record.key].estimate_a == found.speedup  # compare --relative, on the same ratios
        checked += 1
    assert checked == 2


GOLDEN = sorted((Path(__file__).parent / "data").glob("schema1-*.jsonl"))


@pytest.mark.parametrize("journal", GOLDEN, ids=lambda path: path.stem)
@pytest.mark.filterwarnings("ignore::bench.data.journal.JournalWarning")  # the torn line of the resumed one
def test_every_consumer_agrees_on_the_golden_journals(journal):
    """Old journals too: each consumer's statistics, keys and baselines are the data's."""
    results = bench.load(journal)
    frame = results.to_dataframe()
    rows = {record.key: found for record, found, _ in summary_rows(results.cells)}
    points = {point.record.key: point for found in analyse(results).cases for point in found.points}
    assert len(frame) == len(results.cells) > 0
    for index, record in enumerate(results.cells):
        assert rows[record.key] == record.stats
        if record.stats is not None:
            assert frame.loc[index, "median_s"] == record.stats.time.value
        point = points[record.key]
        assert point.cell == pooled_stats(point.records)
        assert point.serial_level == case_level(results.cells, record.case)
    keys = [(record.run_id, record.key) for record in results.cells]
    assert len(keys) == len(set(keys))  # the newest record of each cell of a run, by its completed key


def test_a_cell_measured_in_two_runs_pools_its_pairs(tmp_path):
    rng = np.random.default_rng(5)
    one = write_journal(tmp_path / "one.jsonl", [cell("process-pool", 2, 1.7, rng=rng)], run_id="r1")
    two = write_journal(tmp_path / "two.jsonl", [cell("process-pool", 2, 1.9, rng=rng)], run_id="r2")
    results = bench.load(one, two)
    (point,) = [p for found in analyse(results).cases for p in found.points]
    first, second = results.cells
    times, baselines = first.times_s + second.times_s, (first.baseline_s or []) + (second.baseline_s or [])
    # each run's rounds shared its moment: the runs are blocks of the pooled rounds
    pooled = stats.cell_stats(times, baselines, 2, [len(first.times_s), len(second.times_s)])
    assert len(point.records) == 2 and point.cell == pooled == pooled_stats(results.cells)
    assert point.ratios == (first.ratios or []) + (second.ratios or [])
    alike = stats.cell_stats(times, baselines, 2)  # as if all rounds were of one moment: narrower
    assert pooled.speedup.low <= alike.speedup.low and pooled.speedup.high >= alike.speedup.high


# -- a cell's identity ----------------------------------------------------------------------------------


def _old_and_new(tmp_path):
    """The same cell, recorded before fibprimes had its ``producer`` parameter and inner threads were set,
    and after."""
    old = cell("process-pool", 2, 1.5, size=200, params={"order": "ascending"})
    new = {**cell("process-pool", 2, 1.5, size=200), "threads": "default"}
    new["params"] = {"order": "ascending", "producer": "generator"}
    matrix = {"executors": ["process-pool"], "workers": [2], "chunksizes": ["16"], "sizes": [200]}
    first = write_journal(tmp_path / "old.jsonl", [old], run_id="old")
    lines = first.read_text().splitlines()
    lines[0] = json.dumps({**json.loads(lines[0]), "matrix": matrix})  # a journal that resume can read
    first.write_text("\n".join(lines) + "\n")
    return first, write_journal(tmp_path / "new.jsonl", [new], run_id="new")


def test_a_cell_recorded_before_a_parameter_or_inner_threads_existed_is_the_same_cell_everywhere(tmp_path):
    old_path, new_path = _old_and_new(tmp_path)
    old, new = bench.load(old_path), bench.load(new_path)
    assert old.cells[0].key == new.cells[0].key
    assert (
        old.cells[0].key[5] == (("order", "ascending"), ("producer", "generator")) and old.cells[0].key[-1] == "default"
    )
    assert old.cells[0].case == new.cells[0].case
    comparison = compare(old, new)
    assert len(comparison.changes) == 1 and not comparison.only_a and not comparison.only_b
    (point,) = [p for found in analyse(bench.load(old_path, new_path)).cases for p in found.points]
    assert len(point.records) == 2  # the report pools them, as compare matches them
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = bench.resume(old_path)  # the planned cell is the recorded one: nothing to measure
    assert resumed.cells == old.cells and any("nothing to resume" in str(w.message) for w in caught)


def test_a_users_workload_keeps_the_parameters_it_recorded(tmp_path):
    journal = write_journal(tmp_path / "mine.jsonl", [cell("process-pool", 2, 1.5, workload="mine.py:Mine")])
    (record,) = bench.load(journal).cells
    assert record.key[2] == "mine.py:Mine" and record.key[5] == () and record.case[2] == ()


# -- an environment's identity ---------------------------------------------------------------------------


def test_one_definition_of_an_environment_for_reports_compare_and_calibrations(tmp_path):
    mpich = {"mpi_library": "MPICH Version: 4.2.0\nMPICH Release date: ...", "packages": {"numpy": "2.0"}}
    openmpi = {**mpich, "mpi_library": "Open MPI v5.0.3"}
    other_commit = {**mpich, "git_commit": "abc1234"}
    paths = [
        write_journal(tmp_path / f"{name}.jsonl", [cell("process-pool", 2, 1.5)], env=env, run_id=name)
        for name, env in (("a", mpich), ("b", openmpi), ("c", other_commit))
    ]
    envs = [bench.load(path).runs[0].env for path in paths]
    assert identity(envs[0])["MPI"] == "MPICH 4.2.0" and identity(envs[1])["MPI"] == "Open MPI v5.0.3"
    assert identity(envs[0]) == identity(envs[2]) and identity(envs[0]) != identity(envs[1])
    # calibrations: one id per environment
    assert env_id(envs[0]) == env_id(envs[2]) != env_id(envs[1])
    # the report pools runs of one environment only
    names = [len(env.env.runs) for env in analyse(bench.load(*paths)).environments]
    assert sorted(names) == [1, 2]
    # compare names what differs, and nothing for runs of one environment
    assert compare(bench.load(paths[0]), bench.load(paths[1])).differences["MPI"] == ("MPICH 4.2.0", "Open MPI v5.0.3")
    assert compare(bench.load(paths[0]), bench.load(paths[2])).differences == {}
    assert identity({**ENV, "packages": {"numpy": "1.26"}})["numpy"] == "1.26"


# -- one formatting module ----------------------------------------------------------------------------------


def test_every_face_writes_a_speedup_as_the_formatting_module_does(tmp_path):
    rng = np.random.default_rng(11)
    cells = [cell("serial", 1, 1.0, chunk="n/a", rng=rng), cell("process-pool", 2, 1.8, rng=rng, spread=0.03)]
    cells.append(cell("process-pool", 2, 1.7, rng=rng, method="imap_unordered"))
    results = bench.load(write_journal(tmp_path / "f.jsonl", cells))
    record = results.cells[1]
    speedup = record.stats.speedup
    table = summary_table(results.cells)
    shown = [str(value) for column in table.columns for value in column._cells]
    assert "imap-u" in shown and format.speedup_text(speedup) in shown
    (found,) = analyse(results).cases
    assert any(format.speedup_interval(found.best.speedup) in text for text in found.recommendations)
    assert (
        found.best.config()
        == found.best.record.config()
        == format.config_text("process-pool", 2, "16", found.best.record.method, found.best.record.threads_phrase())
    )
    changes = rows(compare(results, results))
    assert {row["a"] for row in changes} >= {format.duration_text(record.stats.time.value)}
