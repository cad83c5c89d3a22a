"""compare: asv's rule on synthetic journals with known answers, the gate's exit status, drift and
--relative, Markdown, bad input, and two real runs of the quick preset with a planted slowdown."""

import json
import re

import numpy as np
import pytest

import bench
from bench.analysis import compare as comparison
from tests.journals import RNG_SEED, cell, write_journal

ROUNDS = 8


def cells(rounds=ROUNDS, seed=RNG_SEED):
    """A serial cell and process-pool at 1 and 2 workers, 1% scatter, one instance each."""
    rng = np.random.default_rng(seed)
    return [
        cell("serial", 1, 1.0, chunk="n/a", rounds=rounds, rng=rng, instance=0),
        cell("process-pool", 1, 0.95, rounds=rounds, rng=rng, instance=1),
        cell("process-pool", 2, 1.8, rounds=rounds, rng=rng, instance=2),
    ]


def scaled(records, factor, *, executor="process-pool", workers=2, baseline=False):
    """Copies of ``records`` with one executor's times (and with ``baseline`` its serial baselines) scaled."""
    out = []
    for record in records:
        record = dict(record)
        if record["executor"] == executor and record["workers"] == workers:
            record["times_s"] = [t * factor for t in record["times_s"]]
            if baseline and record["baseline_s"]:
                record["baseline_s"] = [t * factor for t in record["baseline_s"]]
        out.append(record)
    return out


def run_compare(run_bench, *args):
    return run_bench("compare", *map(str, args), module=True, timeout=120)


@pytest.mark.slow
def test_a_planted_slowdown_is_slower_with_its_p_value_and_fails_the_gate(tmp_path, run_bench):
    a = write_journal(tmp_path / "a.jsonl", cells(), run_id="run-a")
    b = write_journal(tmp_path / "b.jsonl", scaled(cells(), 1.3), run_id="run-b")
    result = comparison.compare(bench.load(a), bench.load(b))
    verdicts = {change.label: change for change in result.changes}
    slow = verdicts["process-pool x2 fibprimes[2000] chunk=16"]
    assert slow.verdict == "slower" and slow.ratio == pytest.approx(1.3, rel=0.03)
    assert slow.p is not None and slow.p < comparison.ALPHA  # 8 against 8, apart: p = 2 / C(16, 8)
    assert slow.interval.low < 1.3 < slow.interval.high and slow.text == f"{slow.ratio:.2f}x slower"
    assert [c.verdict for c in result.changes if c is not slow] == ["not significant"] * 2
    done = run_compare(run_bench, a, b, "--fail-above", "5%")
    assert done.returncode == 1, done.stderr
    assert re.search(r"process-pool x2 .*1\.\d\dx slower", done.stdout)
    assert "FAIL: 1 cell(s) significantly slower by more than 5%: process-pool x2 fibprimes[2000] chunk=16 (1.3" in (
        done.stdout
    )
    # above the gate: still reported, exit 0
    done = run_compare(run_bench, a, b, "--fail-above", "50%")
    assert done.returncode == 0 and "1.30x slower" in done.stdout and "OK: no cell significantly slower" in done.stdout


@pytest.mark.slow
def test_the_same_run_and_a_faster_one(tmp_path, run_bench):
    a = write_journal(tmp_path / "a.jsonl", cells())
    same = comparison.compare(bench.load(a), bench.load(a))
    assert same.same_runs and {c.verdict for c in same.changes} == {"not significant"}
    assert all(c.p == pytest.approx(1.0) for c in same.changes)
    done = run_compare(run_bench, a, a)
    assert done.returncode == 0 and "A and B hold the same run" in done.stdout
    b = write_journal(tmp_path / "b.jsonl", scaled(cells(), 0.7), run_id="run-b")
    done = run_compare(run_bench, a, b)
    assert done.returncode == 0 and "1.43x faster" in done.stdout and "1 faster" in done.stdout


@pytest.mark.slow
def test_a_significant_change_within_the_factor_counts_only_under_a_lower_fail_above(tmp_path, run_bench):
    a = write_journal(tmp_path / "a.jsonl", cells())
    b = write_journal(tmp_path / "b.jsonl", scaled(cells(), 1.05), run_id="run-b")
    result = comparison.compare(bench.load(a), bench.load(b))
    change = next(c for c in result.changes if c.a.workers == 2)
    assert change.p < comparison.ALPHA and change.verdict == "within" and change.text == "within 1.1x"
    assert result.failures() == [] and run_compare(run_bench, a, b).returncode == 0
    gated = bench.compare(bench.load(a), bench.load(b), fail_above=0.03)  # the same gate from Python
    assert gated.factor == pytest.approx(1.03) and [c.label for c in gated.failures()] == [change.label]
    done = run_compare(run_bench, a, b, "--fail-above", "3%")  # lowers the factor to 1.03
    assert done.returncode == 1 and "1.05x slower" in done.stdout
    assert "beyond 1.03x" in done.stdout and "--fail-above 3% lowers the factor from 1.1x to 1.03x" in done.stdout


def test_too_few_rounds_are_said_never_called_a_change(tmp_path, run_bench):
    a = write_journal(tmp_path / "a.jsonl", cells(rounds=6))
    b = write_journal(tmp_path / "b.jsonl", scaled(cells(rounds=6), 1.3), run_id="run-b")
    result = comparison.compare(bench.load(a), bench.load(b))
    assert {c.verdict for c in result.changes} == {"too few rounds"} and all(c.p is None for c in result.changes)
    done = run_compare(run_bench, a, b)
    # nothing could be tested: the table is shown, and the gate refuses to pass
    assert done.returncode == 2 and "3 cell(s) in both, 0 tested: 3 too few rounds." in done.stdout
    assert "3 cell(s) have too few rounds for the test to ever reject at p < 0.002" in done.stdout
    assert "about 7 rounds" in done.stdout and "--repeats 8" in done.stdout and "OK" not in done.stdout
    assert "no cell of the 3 in both has enough rounds to be tested" in done.stderr and done.stderr.count("\n") == 1
    assert comparison.min_rounds() == 7


@pytest.mark.slow
def test_drift_of_the_machine_shows_in_the_baselines_and_relative_cancels_it(tmp_path, run_bench):
    a = write_journal(tmp_path / "a.jsonl", cells())
    # everything 20% slower, the serial baselines too: the machine, not the executor
    drifted = scaled(scaled(cells(), 1.2, workers=1, baseline=True), 1.2, workers=2, baseline=True)
    drifted = scaled(drifted, 1.2, executor="serial", workers=1)
    b = write_journal(tmp_path / "b.jsonl", drifted, run_id="run-b")
    raw = comparison.compare(bench.load(a), bench.load(b))
    assert {c.verdict for c in raw.changes} == {"slower"}
    (base,) = raw.baselines
    assert base.verdict == "slower" and base.ratio == pytest.approx(1.2, rel=0.02)
    done = run_compare(run_bench, a, b)
    assert done.returncode == 1
    assert "The serial baseline moved (fibprimes[2000]): raw times carry that. --relative" in done.stdout
    relative = comparison.compare(bench.load(a), bench.load(b), relative=True)
    measures = {c.a.executor: (c.measure, c.verdict) for c in relative.changes}
    assert measures == {"serial": ("time", "slower"), "process-pool": ("speedup", "not significant")}
    # a slower executor stays visible relative to its own rounds' baseline
    slower = write_journal(tmp_path / "c.jsonl", scaled(drifted, 1.3), run_id="run-c")
    relative = comparison.compare(bench.load(a), bench.load(slower), relative=True)
    change = next(c for c in relative.changes if c.a.workers == 2)
    assert change.verdict == "slower" and change.ratio == pytest.approx(1.3, rel=0.03)
    done = run_compare(run_bench, a, slower, "--relative")
    assert done.returncode == 1 and "paired speedups over the serial baseline" in done.stdout
    # the serial cell's times carry the drift: shown as slower, not judged by the gate
    done = run_compare(run_bench, a, b, "--relative")
    assert done.returncode == 0 and "1.20x slower" in done.stdout and "OK: no cell significantly slower" in done.stdout


def test_other_machines_are_said_first_and_cells_in_one_or_not_ok_are_listed(tmp_path, run_bench):
    a = write_journal(tmp_path / "a.jsonl", cells())
    others = cells()
    others[1] = {
        **others[1],
        "status": "error",
        "error": "BrokenProcessPool: a worker died",
        "times_s": [],
        "baseline_s": None,
    }
    others.append(cell("thread-pool", 2, 1.0, rounds=ROUNDS))
    b = write_journal(tmp_path / "b.jsonl", others[:1] + others[1:2] + others[3:], env={"cpu": "Other CPU"})
    done = run_compare(run_bench, a, b)
    first = done.stdout.splitlines()[0]
    assert first.startswith("A and B come from different environments (CPU Test CPU vs Other CPU)")
    assert "Only in A: 1 cell(s): process-pool x2 fibprimes[2000] chunk=16." in done.stdout
    assert "Only in B: 1 cell(s): thread-pool x2 fibprimes[2000] chunk=16." in done.stdout
    assert (
        "Not compared, not ok in A or B: 1 cell(s): process-pool x1 fibprimes[2000] chunk=16 (ok in A, error in B)"
        in (done.stdout)
    )
    assert done.returncode == 1
    assert (
        "FAIL: 1 cell(s) ok in A failed in B: process-pool x1 fibprimes[2000] chunk=16 (error: BrokenProcessPool"
        in (done.stdout)
    )


def test_cells_recorded_before_a_parameter_existed_match_their_defaults(tmp_path):
    old = [dict(c, params={}) for c in cells()]
    new = [dict(c, params={"order": "ascending", "producer": "generator"}) for c in cells()]
    result = comparison.compare(
        bench.load(write_journal(tmp_path / "old.jsonl", old)),
        bench.load(write_journal(tmp_path / "new.jsonl", new, run_id="new")),
    )
    assert len(result.changes) == 3 and not result.only_a and not result.only_b


def test_markdown_for_a_pull_request_escapes_what_the_journal_says(tmp_path, run_bench):
    records = [dict(c, params={"tag": "a|b <i> [x](y)"}, workload="mine.py:Kernel") for c in cells()]
    a = write_journal(tmp_path / "a.jsonl", records)
    b = write_journal(tmp_path / "b.jsonl", scaled(records, 1.3), run_id="run-b")
    done = run_compare(run_bench, a, b, "--format", "md")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "### 3 cell(s) in both, 3 tested: 1 slower, 2 not significant."
    header = lines.index("| workload | executor | chunk | method | A | B | B/A | p | verdict |")
    rows = lines[header + 2 : header + 5]
    assert all(row.count(" | ") == 8 for row in rows)  # the | of the parameter is escaped
    assert "mine.py:Kernel\\[2000\\] tag=a\\|b &lt;i&gt; \\[x\\](y)" in rows[0] and "**1.30x slower**" in rows[2]
    assert re.search(r"\| 1 s \[0\.99, 1\.01\] \| 1 s \[0\.99, 1\.01\] \|", rows[0])  # medians, their intervals
    assert "**FAIL: 1 cell(s) significantly slower" in done.stdout


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "cannot read"),
        ("{not json\n", "not a journal"),
        ('{"schema": 99, "kind": "run", "run_id": "x", "started": "t"}\n', "schema 99 is not supported"),
    ],
)
def test_bad_journals_are_one_line_and_exit_2(tmp_path, run_bench, content, message):
    good = write_journal(tmp_path / "good.jsonl", cells())
    bad = tmp_path / "bad.jsonl"
    if content is not None:
        bad.write_text(content)
    for args in ((good, bad), (bad, good)):
        done = run_compare(run_bench, *args)
        assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_nothing_in_common_and_bad_options_are_exit_2(tmp_path, run_bench):
    a = write_journal(tmp_path / "a.jsonl", cells())
    b = write_journal(tmp_path / "b.jsonl", [dict(c, size=3000) for c in cells()], run_id="run-b")
    done = run_compare(run_bench, a, b)
    assert done.returncode == 2 and "no cell in common between" in done.stderr and done.stderr.count("\n") == 1
    for option in (("--fail-above", "-5%"), ("--fail-above", "5"), ("--factor", "0.9"), ("--format", "html")):
        done = run_compare(run_bench, a, a, *option)
        assert done.returncode == 2 and option[0] in done.stderr


QUICK = ("--preset", "quick", "--executors", "serial,process-pool", "--workloads", "fibprimes", "--workers", "2")
QUICK += ("--chunksizes", "16,auto", "--trace", "off", "--memory", "off")  # compare reads the timed rounds only


@pytest.mark.alone  # it measures the machine: by itself
@pytest.mark.slow
def test_two_honest_quick_runs_and_a_planted_slowdown(tmp_path, run_bench):
    """The quick preset (8 rounds) twice: verdicts with p-values; honest runs pass the gate, and a cell
    slowed in a copy of the second journal (by 30%, or by more than its own spread) fails it, in raw times
    and in paired speedups."""
    journals = []
    for _ in range(2):
        done = run_bench(*QUICK, "--out", "runs", "--quiet", timeout=300)
        assert done.returncode == 0, done.stderr
        journals.append(done.stdout.strip().splitlines()[-1])
    a, b = (tmp_path / journal for journal in journals)
    result = comparison.compare(bench.load(a), bench.load(b))
    assert len(result.changes) == 2 and all(c.p is not None for c in result.changes)
    # back to back, honest runs differ by the machine's state: the paired speedups of --relative cancel its
    # drift, and a gate of 25% passes them (docs/compare.md's gate for CI); raw times carry it whole, up to
    # the two speeds of this machine's cores, 1.7x apart (python -m bench doctor): only such a margin passes
    for mode, margin in ((("--relative",), 25), ((), 70)):
        done = run_compare(run_bench, a, b, "--fail-above", f"{margin}%", *mode)
        assert done.returncode == 0, done.stdout
        assert "2 cell(s) in both, 2 tested" in done.stdout
        assert f"OK: no cell significantly slower by more than {margin}%." in done.stdout
    planted = tmp_path / "planted.jsonl"
    lines = [json.loads(line) for line in b.read_text().splitlines()]
    target = next(x for x in lines if x.get("workers") == 2 and x["chunksize_spec"] == "16")
    times = target["times_s"]
    speedups = [serial / t for serial, t in zip(target["baseline_s"], times, strict=True)]
    # beyond the cell's own spread, every slowed sample is slower than every measured one: the test must
    # reject, whatever noise this machine put into 8 rounds (30% alone did not, once, at p = 0.002)
    slowdown = 1.05 * max(1.3, max(times) / min(times), max(speedups) / min(speedups))
    target["times_s"] = [t * slowdown for t in times]
    planted.write_text("".join(json.dumps(line) + "\n" for line in lines))
    label = next(c.label() for c in bench.load(planted).cells if c.workers == 2 and c.chunksize_spec == "16")
    for args in ((b, planted, "--fail-above", "25%"), (b, planted, "--relative")):
        done = run_compare(run_bench, *args)
        assert done.returncode == 1, done.stdout
        (failed,) = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
        shown = re.search(rf"{re.escape(label)} \(([0-9.]+) \[", failed)
        assert shown and float(shown.group(1)) == pytest.approx(slowdown, abs=0.006), failed
