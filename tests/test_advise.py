"""``advise``: the candidate grid, who enters the race, and the whole advice on a user's workload from a
file with real process pools; the advice record through ``bench.load``; bad inputs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import bench
from bench.data import stats
from bench.data.chunks import chunk_grid
from bench.model import advise
from bench.model.cost import PARAMS, ExecutorModel, Profile
from tests.docs import example

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"

pytestmark = pytest.mark.slow


def fitted(executor: str, chunk_s: float, contention: float = 0.0) -> ExecutorModel:
    value = dict(zip(PARAMS, (1e-3, chunk_s, 1e-6, 0.0, 1e-5, contention), strict=True))
    params = tuple(value[name] for name in PARAMS)
    return ExecutorModel(executor, params, params, params, (), cores=2)


def test_every_candidate_is_predicted_and_the_race_takes_each_executors_best_and_those_the_model_cannot_rule_out():
    profile = Profile(np.full(100, 1e-3), np.zeros(100), np.zeros(100), 0.11)
    models = {"cheap": fitted("cheap", 1e-5), "dear": fitted("dear", 5e-3)}
    ranked = advise.candidates(models, profile, 2, ["map", "imap"], cores=2)
    grid = len(chunk_grid(100, 1)) + len(chunk_grid(100, 2))
    assert len(ranked) == 2 * grid * 2  # executors x (workers 1 and 2: their chunk grids) x methods
    speedups = [c.predicted.value for c in ranked]
    assert speedups == sorted(speedups, reverse=True)
    best = ranked[0]
    assert best.executor == "cheap" and best.workers == 2  # 2 workers on 2 cores, cheap hand-overs
    racing = advise.entrants(ranked)
    assert racing[0] == best and len(racing) <= advise.ENTRANTS_MOST
    assert {c.executor for c in racing} == {"cheap", "dear"}  # each executor's best enters
    # without parameter draws a prediction has no width: beside each executor's best, only ties with the best
    firsts = {c.executor: c for c in reversed(ranked)}
    assert all(c in firsts.values() or c.predicted.value == best.predicted.value for c in racing)
    assert advise.entrants(ranked, most=1) == [best]


UNEVEN = ROOT / "examples" / "uneven.py"


def docs_advise_command() -> list[str]:
    """The advise command of docs/advise.md ("Which configuration for my function?")."""
    return example("docs/advise.md", "command", "python -m bench advise").argv


def test_advise_on_a_users_workload_from_a_file_with_real_process_pools(calibrated, tmp_path, run_bench):
    """The documentation's command (with two executors, a short budget and this test's folder), end to end."""
    out, _ = calibrated
    results_dir = tmp_path / "out"
    shutil.copytree(out / "calibration", results_dir / "calibration")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    command = docs_advise_command()
    assert command[:4] == ["python", "-m", "bench", "advise"] and command[4].startswith("examples/")
    extra = ["--size", "120", "--executors", "thread-pool,process-pool", "--budget", "25", "--out", str(results_dir)]
    result = run_bench(*command[3:], *extra, module=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    journal = Path(lines[-1])
    assert journal.parent == results_dir and journal.is_file()
    assert any(line.startswith("use ") for line in lines) and any("ceiling" in line for line in lines)
    assert "forecast by the cost model" in result.stdout and "model parameters from" in result.stdout
    loaded = bench.load(journal)
    (record,) = loaded.advice  # the advice record, after the raced cells, through bench.load
    assert record.workload == "examples/uneven.py:Uneven" and record.size == 120 and record.budget_s == 25
    best = record.recommendation
    assert set(best) >= {"executor", "workers", "chunksize", "method", "threads", "speedup", "predicted"}
    assert best["executor"] in ("thread-pool", "process-pool") and 1 <= best["workers"] <= 2
    # every candidate was predicted; those that entered raced as normal cells, verified
    grid = len(chunk_grid(120, 1)) + len(chunk_grid(120, 2))
    assert len(record.candidates) == 2 * grid * 3  # two executors, workers 1..2, three map methods
    entered = [c for c in record.candidates if c["entered"]]
    assert {(c.executor, c.workers, c.chunksize, c.method) for c in loaded.cells} == {
        (c["executor"], c["workers"], c["chunksize"], c["method"]) for c in entered
    }
    ok = [c for c in loaded.cells if c.ok]
    assert ok and all(c.verified for c in ok)
    assert all(c.stopped in ("precision", "rounds", "eliminated", "budget") for c in ok)
    # the recommendation is the best of the cells that were not eliminated by the suite's one rule (the
    # report's): the highest lower end of the paired speedup's 95% interval
    kept = [c for c in ok if c.stopped != "eliminated"]
    leader = max(kept, key=lambda c: stats.paired_speedup(c.baseline_s, c.times_s).low)
    assert (best["executor"], best["workers"], best["chunksize"], best["method"]) == (
        leader.executor,
        leader.workers,
        leader.chunksize,
        leader.method,
    )
    assert len(record.runner_ups) == len(loaded.cells) - 1
    for row in record.runner_ups:
        # a cell whose group the spent budget left unmeasured is skipped, and says so
        outcomes = r"(eliminated r\d+ p=|slower r\d+ p=|not told apart r\d+|budget spent r\d+|skipped: not measured"
        outcomes += r"|equivalent r\d+ ±\d+%)"
        assert re.match(outcomes, row["outcome"]), row["outcome"]
    assert [row["scale"] for row in record.forecast] == list(advise.FORECAST_SCALES)
    assert record.ceiling and record.ceiling > 1
    # the report shows the race and the forecast
    report = run_bench("report", str(journal), "-o", str(tmp_path / "report"), module=True)
    assert report.returncode == 0, report.stderr
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert (
        "## Advice for examples/uneven.py:Uneven[120]: the race" in summary and "Forecast by the cost model" in summary
    )
    # a journal of an advise run cannot be resumed: its race cannot go on
    resumed = run_bench("--resume", str(journal), timeout=60)
    assert resumed.returncode == 2 and "advise run" in resumed.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["nosuch"], "unknown workload 'nosuch'"),
        (["fibprimes", "--budget", "0"], "budget must be a number of seconds above 0"),
        (["fibprimes", "--budget", "-5"], "budget must be a number of seconds above 0"),
        (["fibprimes", "--max-workers", "0"], "argument --max-workers: '0' is not a positive integer"),
        (["fibprimes", "--budget", "nan"], "budget must be a number of seconds above 0"),
        (["fibprimes", "--executors", "nosuch"], "unknown executor 'nosuch'"),
        (["fibprimes", "--methods", "scatter"], "cannot run under 'scatter'"),
        (["fibprimes", "--param", "nosuch=1"], "takes no parameter 'nosuch'"),
        (["noop"], "a probe of the executors' own costs"),
        (["raising_workload.py:Raising"], "the serial run of raising_workload.py:Raising[20] failed: ValueError"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_and_nothing_written(args, message, run_bench, tmp_path):
    shutil.copy(ROOT / "tests" / "raising_workload.py", tmp_path)
    result = run_bench("advise", *args, "--out", str(tmp_path / "out"), module=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_python_api_refuses_what_the_command_line_does():
    with pytest.raises(bench.PlanError, match="budget"):
        bench.advise("fibprimes", budget=0)
    with pytest.raises(bench.PlanError, match="max workers"):
        bench.advise("fibprimes", max_workers=0)


def test_an_advice_record_round_trips_through_json():
    from bench.data.schema import AdviceRecord, parse

    record = AdviceRecord(
        run_id="r",
        workload="w.py:W",
        size=10,
        budget_s=5.0,
        spent_s=4.2,
        recommendation={"executor": "process-pool", "workers": 2, "chunksize": 4, "method": "map", "threads": "auto"},
        forecast=[{"scale": 2, "workers": 4}],
    )
    assert parse(json.loads(json.dumps(record.to_json()))) == record


def test_a_racing_sweep_stops_a_clearly_slower_cell_and_says_so(run_bench, tmp_path):
    """``--repeats race`` with real process pools: one task per chunk loses clearly to 64 per chunk."""
    result = run_bench(
        "--executors", "process-pool", "--workloads", "fibprimes", "--size", "300", "--workers", "2",
        "--chunksizes", "1,64", "--repeats", "race", "--precision", "5%", "--max-repeats", "10",
        "--trace", "off", "--out", "out", timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    journal = Path(result.stdout.split()[-1])
    cells = {cell.chunksize: cell for cell in bench.load(tmp_path / journal).cells}
    slow, fast = cells[1], cells[64]
    assert slow.stopped == "eliminated" and len(slow.times_s) == 3 and slow.precision_reached is None
    assert slow.eliminated_by["leader"] == fast.label() and slow.eliminated_by["round"] == 3
    assert slow.eliminated_by["p"] <= 0.05  # one comparison in the case: no correction
    assert fast.stopped in ("precision", "rounds") and len(fast.times_s) >= 6
    assert " e " in result.stdout or "e\n" in result.stdout or "[e]" in result.stdout
    assert "eliminated by the race" in result.stdout  # the mark's note under the table


def test_once_the_budget_is_spent_no_group_starts_and_its_cells_say_why():
    from bench.measuring import measure, runner
    from bench.measuring.plan import build

    matrix = bench.Matrix(
        executors=("thread-pool",), workloads=("noop",), workers=(2, 1), chunksizes=("16",), sizes=(50,),
        repeats="race", max_repeats=6, trace=False,
    )  # fmt: skip
    groups, rounds, now = build(matrix), runner.rounds_of(matrix), [0.0]
    race = runner.race_of(groups, rounds, budget_s=10.0, clock=lambda: now[0])

    def spend(record):  # the first group's record arrives once it is measured: the budget is then spent
        now[0] = 60.0

    records = runner.run_groups(groups, "r", rounds, reporter=measure.NullReporter(), on_record=spend, race=race)
    first, second = [r for r in records if r.kind == "cell"]
    assert first.ok and first.stopped in ("precision", "rounds") and len(first.times_s) >= 3
    assert second.status == "skipped" and second.error == "not measured: the race's time budget was spent"
    assert race.spent and race.spent_s == 60.0
