"""Rounds spread over blocks: each block of a cell on a fresh instance at another moment of the sweep, and
intervals that hold across blocks (a two-stage bootstrap), so that one run's interval holds the next run's
answer. The statistics are checked on synthetic machines whose state changes between blocks; the sweep on
real thread pools."""

import json
import math
import signal

import numpy as np
import pytest

import bench
from bench.data import stats
from bench.data.derived import pooled_blocks, pooled_stats
from bench.measuring.plan import Matrix, PlanError, blocks_asked, sweep_blocks
from bench.measuring.runner import Interrupted, Progress, resume


def machine_run(rng, blocks, per_block, between, within, two_modes=False):
    """Per-round speedups of one run on a synthetic machine whose true speedup is 1: each block meets the
    machine in a state of its own (a level, log-normal with ``between``), and each round varies about it
    (``within``); with ``two_modes``, a round meets one of two core speeds 1.25x apart, the share of slow
    rounds changing from block to block."""
    rounds = []
    for _ in range(blocks):
        level = rng.normal(0.0, between)
        noise = rng.normal(0.0, within, per_block)
        if two_modes:
            slow_share = rng.uniform(0.2, 0.8)
            noise = noise + np.where(rng.random(per_block) < slow_share, -0.11, 0.11)
        rounds.extend(np.exp(level + noise))
    return np.asarray(rounds)


def containment(rng, blocks, per_block, between, within, pairs=150, two_modes=False):
    """How often one run's interval holds the next run's median, and its own interval the truth (1)."""
    held = covered = 0
    for _ in range(pairs):
        a, b = (machine_run(rng, blocks, per_block, between, within, two_modes) for _ in range(2))
        first = stats.blocked_median_ci(a, [per_block] * blocks)
        second = stats.blocked_median_ci(b, [per_block] * blocks)
        held += first.low <= second.value <= first.high
        covered += first.low <= 1.0 <= first.high
    return held / pairs, covered / pairs


@pytest.mark.parametrize(
    ("between", "within", "two_modes"),
    [(0.035, 0.18, False), (0.0, 0.18, False), (0.05, 0.05, True)],
    ids=["this-machine", "no-block-effect", "two-modes"],
)
def test_blocked_intervals_hold_the_next_runs_answer_where_rounds_of_one_moment_do_not(between, within, two_modes):
    rng = np.random.default_rng(7)
    # 21 rounds in three blocks at three moments, against the same 21 rounds at one moment of the machine
    spread, spread_truth = containment(rng, 3, 7, between, within, two_modes=two_modes)
    together, together_truth = containment(rng, 1, 21, between, within, two_modes=two_modes)
    assert spread >= 0.9 and spread_truth >= 0.9
    if between:  # a moment's rounds share its state: their interval says nothing of the next moment's
        assert together < 0.85 and together_truth < spread_truth
    else:  # independent rounds: an interval of the median holds the next median about 83% of the time
        assert 0.75 < together < 0.92


def test_one_block_or_too_few_samples_is_the_order_statistic_interval():
    values = [1.0, 1.2, 0.9, 1.1, 1.05, 0.95, 1.15, 0.98]
    assert stats.blocked_median_ci(values, None) == stats.median_ci(values)
    assert stats.blocked_median_ci(values, [8]) == stats.median_ci(values)
    assert stats.blocked_median_ci(values, [3, 3]) == stats.median_ci(values)  # 6 of 8: not its blocks
    assert stats.blocked_median_ci(values[:4], [2, 2]) == stats.median_ci(values[:4])  # under 95%: as it is
    blocked = stats.blocked_median_ci(values, [3, 3, 2])
    plain = stats.median_ci(values)
    assert blocked.value == plain.value and blocked.low <= plain.low and blocked.high >= plain.high
    assert blocked == stats.blocked_median_ci(values, [3, 3, 2])  # seeded: one journal, one answer


def test_blocks_that_disagree_widen_the_interval_and_blocks_that_agree_hardly_do():
    rng = np.random.default_rng(3)
    agree = np.exp(rng.normal(0, 0.03, 12))
    disagree = agree * np.repeat([0.9, 1.0, 1.1], 4)
    plain = stats.median_ci(disagree)
    wide = stats.blocked_median_ci(disagree, [4, 4, 4])
    assert wide.low < 0.92 * plain.value < 1.08 * plain.value < wide.high
    assert stats.blocked_median_ci(agree, [4, 4, 4]).relative_half_width < 0.6 * wide.relative_half_width


def test_how_many_blocks_a_sweep_spreads_rounds_over(monkeypatch):
    monkeypatch.delenv("BENCH_BLOCKS", raising=False)
    assert sweep_blocks(Matrix(repeats=8)) == 3  # the default
    assert sweep_blocks(Matrix(repeats=8, blocks=2)) == 2
    assert sweep_blocks(Matrix(repeats=3)) == 1  # two rounds a block at least
    assert sweep_blocks(Matrix(repeats="auto", max_repeats=20, blocks=5)) == 5
    assert sweep_blocks(Matrix(repeats="race", max_repeats=20, blocks=5)) == 5
    monkeypatch.setenv("BENCH_BLOCKS", "4")
    assert sweep_blocks(Matrix(repeats=8)) == 4 and sweep_blocks(Matrix(repeats=8, blocks=1)) == 1
    for value, env, message in [
        (0, None, "blocks must be a whole number from 1 to 20, not 0"),
        (21, None, "blocks must be a whole number from 1 to 20, not 21"),
        (None, "many", "BENCH_BLOCKS=many must be a whole number from 1 to 20, not 'many'"),
    ]:
        monkeypatch.setenv("BENCH_BLOCKS", env or "3")
        with pytest.raises(PlanError, match=f"^{message}$"):
            blocks_asked(Matrix(blocks=value))


def test_a_bad_blocks_option_is_one_line_and_exit_2(run_bench):
    for args, message in [(("--blocks", "0"), "'0' is not a positive integer"), (("--blocks", "99"), "from 1 to 20")]:
        done = run_bench("--executors", "serial", "--workloads", "noop", "--dry-run", *args)
        assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr


#: Two groups (x1, x2) of thread pools on a short sleep workload: 6 rounds in 3 blocks.
SWEEP = {
    "executors": ("thread-pool",),
    "workloads": ("sleep",),
    "sizes": (4,),
    "params": {"task_us": ("2000",)},
    "workers": (1, 2),
    "chunksizes": ("1", "2"),
    "repeats": 6,
    "trace": False,
    "blocks": 3,
}


def test_each_block_runs_every_group_on_a_fresh_instance_and_the_records_keep_them(tmp_path):
    results = bench.sweep(Matrix(**SWEEP), tmp_path)
    cells = [cell for cell in results.cells if cell.executor == "thread-pool"]
    assert len(cells) == 4 and all(cell.ok and cell.rounds == 6 and cell.paired for cell in cells)
    for cell in cells:
        assert [block["rounds"] for block in cell.blocks] == [2, 2, 2] == cell.block_sizes
        assert cell.instance == cell.blocks[-1]["instance"]
    # the groups take turns: every group's first block before any group's second, each a new instance
    instances = {(cell.workers, i): block["instance"] for cell in cells for i, block in enumerate(cell.blocks)}
    order = [instances[(workers, i)] for i in range(3) for workers in (1, 2)]
    assert order == sorted(order) and len(set(order)) == 6
    # the cells of one group share each block's instance and each round's paired baseline
    x2 = [cell for cell in cells if cell.workers == 2]
    assert x2[0].blocks == x2[1].blocks and x2[0].baseline_s == x2[1].baseline_s
    # the intervals are the blocked ones, from the journal alike
    [journal] = tmp_path.glob("*.jsonl")
    again = bench.load(journal).cells
    for cell, loaded in zip(results.cells, again, strict=True):
        assert loaded.stats == cell.stats
    cell = cells[0]
    expected = stats.paired_speedup(cell.baseline_s, cell.times_s, blocks=[2, 2, 2])
    assert cell.stats.speedup == expected != stats.paired_speedup(cell.baseline_s, cell.times_s)
    # two runs' records of a cell pool as blocks of one another
    assert pooled_blocks([cell, cell]) == [2, 2, 2, 2, 2, 2]
    assert pooled_stats([cell]).speedup == expected


def test_one_block_is_the_sweep_as_before(tmp_path):
    results = bench.sweep(Matrix(**{**SWEEP, "blocks": 1}), tmp_path)
    cells = [cell for cell in results.cells if cell.executor == "thread-pool"]
    assert all(cell.ok and cell.rounds == 6 and cell.blocks is None and cell.block_sizes == [6] for cell in cells)
    assert len({cell.instance for cell in cells}) == 2


class _StopAtBlock(Progress):
    """A real SIGINT as the sweep's second block starts its first group (its serial baseline's warm-up)."""

    def __init__(self):
        self.groups = 0

    def run_started(self, label, phase):
        if label.startswith("serial baseline") and phase == "warm-up":
            self.groups += 1
            if self.groups == 3:  # two groups' first blocks are done
                signal.raise_signal(signal.SIGINT)


def test_an_interrupt_between_blocks_keeps_every_cells_rounds_and_resume_completes_them(tmp_path):
    with pytest.raises(Interrupted) as stopped:
        bench.sweep(Matrix(**SWEEP), tmp_path, progress=_StopAtBlock())
    kept = [cell for cell in stopped.value.results.cells if cell.executor == "thread-pool"]
    # all four cells waited for their second block: each kept with its first block's rounds, to go on from
    assert len(kept) == 4 and all(cell.ok and cell.interrupted and cell.rounds == 2 for cell in kept)
    assert all(cell.stopped == "interrupted" and cell.blocks is None for cell in kept)
    [journal] = tmp_path.glob("*.jsonl")
    done = resume(journal)
    cells = [cell for cell in done.cells if cell.executor == "thread-pool" and not cell.interrupted]
    assert len(cells) == 4 and all(cell.ok and cell.rounds == 6 and cell.prior_rounds == 2 for cell in cells)
    for cell, before in zip(sorted(cells, key=str), sorted(kept, key=str), strict=True):
        assert cell.times_s[:2] == before.times_s
        # the rounds before the interrupt are a block of their own: another process, another moment
        assert [block["rounds"] for block in cell.blocks] == [2, 2, 2]
        assert cell.blocks[0]["instance"] == before.instance != cell.blocks[1]["instance"]
    kinds = [json.loads(line)["kind"] for line in journal.read_text().splitlines()]
    assert kinds == ["run", *["cell"] * 4, "resume", *["cell"] * 4]  # cut short, then completed


def test_blocked_intervals_are_never_narrower_than_the_rounds_own():
    rng = np.random.default_rng(11)
    for _ in range(50):
        blocks = [int(n) for n in rng.integers(2, 8, rng.integers(2, 5))]
        values = np.exp(rng.normal(0, 0.2, sum(blocks)))
        blocked, plain = stats.blocked_median_ci(values, blocks), stats.median_ci(values)
        assert blocked.low <= plain.low and blocked.high >= plain.high and blocked.value == plain.value
        assert math.isfinite(blocked.low) and blocked.low > 0


def test_the_run_says_its_intervals_hold_across_blocks(run_bench, tmp_path):
    done = run_bench(
        *("--executors", "thread-pool", "--workloads", "sleep", "--size", "4", "--param", "task_us=2000"),
        *("--workers", "2", "--chunksizes", "2", "--repeats", "4", "--blocks", "2", "--trace", "off", "--out", "out"),
    )
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "intervals: each cell's rounds in up to 2 blocks, each on a fresh instance" in text
    [journal] = (tmp_path / "out").glob("*.jsonl")
    [cell] = [cell for cell in bench.load(journal).cells if cell.executor == "thread-pool"]
    assert cell.block_sizes == [2, 2] and bench.load(journal).runs[0].matrix.blocks == 2
    # --blocks 1: as before, and not said
    done = run_bench(
        *("--executors", "thread-pool", "--workloads", "sleep", "--size", "4", "--param", "task_us=2000"),
        *("--workers", "2", "--chunksizes", "2", "--repeats", "4", "--blocks", "1", "--trace", "off", "--out", "one"),
    )
    assert done.returncode == 0 and "blocks" not in done.stdout, done.stdout


def test_cells_that_ran_out_of_rounds_are_told_what_their_precision_would_take(tmp_path):
    from bench.cli.run import precision_line
    from tests.journals import cell, write_journal

    rng = np.random.default_rng(5)
    cells = [
        {**cell("process-pool", 2, 1.8, rounds=20, spread=0.2, rng=rng), "precision": 0.03, "precision_reached": False},
        {**cell("thread-pool", 2, 1.1, rounds=20, spread=0.1, rng=rng), "precision": 0.03, "precision_reached": False},
        {**cell("process-pool", 1, 0.9, rounds=8, spread=0.01, rng=rng), "precision": 0.03, "precision_reached": True},
    ]
    records = bench.load(write_journal(tmp_path / "j.jsonl", cells)).cells
    line = precision_line(records)
    short = [r for r in records if r.precision_reached is False]
    needed = sorted(stats.rounds_for(r.stats.estimate, 0.03) for r in short)
    assert needed[0] > 20 and line.startswith(">: 2 cell(s) ran out of rounds (20) before ±3%; ")
    assert f"that takes about {needed[0]} to {needed[1]} rounds (--max-repeats)" in line
    # half the width takes four times the rounds
    wide = short[0].stats.estimate
    assert stats.rounds_for(wide, wide.relative_half_width / 2) == pytest.approx(4 * wide.n, abs=1)
    assert precision_line(records[2:]) is None


def test_a_race_goes_on_across_blocks_and_a_budget_spent_between_them_keeps_the_rounds():
    from bench.measuring import measure, runner
    from bench.measuring.plan import build

    matrix = Matrix(
        executors=("thread-pool",), workloads=("noop",), workers=(2, 1), chunksizes=("16",), sizes=(50,),
        repeats="race", max_repeats=6, trace=False, blocks=2,
    )  # fmt: skip
    groups, rounds, now = build(matrix), runner.rounds_of(matrix), [0.0]
    race = runner.race_of(groups, rounds, budget_s=10.0, clock=lambda: now[0])
    assert rounds.blocks == 2

    class Spend(measure.NullReporter):
        """The budget is spent as the second block's first group warms its baseline up."""

        warmed = 0

        def run_started(self, label, phase):
            if label.startswith("serial baseline") and phase == "warm-up":
                self.warmed += 1
                if self.warmed == 3:
                    now[0] = 60.0

    records = runner.run_groups(groups, "r", rounds, reporter=Spend(), race=race)
    cells = [record for record in records if record.kind == "cell"]
    # each had its first block's three rounds: the one measured when the budget ran out, and the one waiting
    assert sorted(cell.workers for cell in cells) == [1, 2]
    assert all(cell.ok and cell.stopped == "budget" and len(cell.times_s) == 3 for cell in cells)
    assert race.entrants and all(entrant.rounds == 3 for entrant in race.entrants.values())
