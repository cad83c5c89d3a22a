"""export: a journal in pytest-benchmark's format, read back by pytest-benchmark's own command line."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.journals import RNG_SEED, cell, write_journal


def journal(tmp_path, name="a", slower=1.0):
    rng = np.random.default_rng(RNG_SEED)
    cells = [
        cell("serial", 1, 1.0, chunk="n/a", rounds=8, rng=rng),
        cell("process-pool", 2, 1.8 / slower, rounds=8, rng=rng),
        cell("process-pool", 2, 1.5, chunk="auto", chunksize=250, rounds=8, rng=rng, instance=2),
        cell("thread-pool", 2, 1.0, status="error", error="boom"),
    ]
    env = {"git_commit": "0123456789abcdef", "platform": "Linux-6.1.0-x86_64-with-glibc2.36", "machine": "x86_64"}
    return write_journal(tmp_path / f"{name}.jsonl", cells, env=env)


def bench_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "bench", *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def pytest_benchmark(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "pytest_benchmark", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.mark.slow
def test_the_export_is_read_by_pytest_benchmarks_compare_and_histogram(tmp_path):
    a, b = journal(tmp_path, "a"), journal(tmp_path, "b", slower=1.3)
    for path in (a, b):
        done = bench_cli("export", path, "--to", "pytest-benchmark", "-o", path.with_suffix(".json"), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == str(path.with_suffix(".json"))
        assert "3 benchmark(s)" in done.stderr and "1 cell(s) not ok, left out" in done.stderr
    document = json.loads((tmp_path / "a.json").read_text())
    assert document["commit_info"]["id"] == "0123456789abcdef"
    assert document["machine_info"]["node"] == "node1" and document["machine_info"]["cpu"]["brand_raw"] == "Test CPU"
    assert document["machine_info"]["release"] == "6.1.0" and document["datetime"].startswith("2026-11-22")
    pool = next(x for x in document["benchmarks"] if x["name"] == "process-pool x2 chunk=16")
    source = [json.loads(line) for line in a.read_text().splitlines()][2]
    assert pool["group"] == "fibprimes[2000]" and pool["stats"]["data"] == source["times_s"]
    assert pool["stats"]["rounds"] == 8 and pool["stats"]["median"] == np.median(source["times_s"])
    assert pool["extra_info"]["speedup_low"] < 1.8 < pool["extra_info"]["speedup_high"]
    assert pool["extra_info"]["baseline_s"] == source["baseline_s"]
    shown = pytest_benchmark("compare", "a.json", "b.json", "--group-by", "group", "--columns", "median", cwd=tmp_path)
    assert shown.returncode == 0 and "Failed to load" not in shown.stdout + shown.stderr, shown.stderr
    rows = [line for line in shown.stdout.splitlines() if line.startswith("process-pool x2 chunk=16")]
    assert len(rows) == 2, shown.stdout  # one per file, the slower one (B) second
    medians = [float(row.split()[-2]) for row in rows]
    assert medians[1] / medians[0] > 1.2
    drawn = pytest_benchmark("compare", "a.json", "--histogram", "hist", cwd=tmp_path)
    assert drawn.returncode == 0, drawn.stderr
    (svg,) = tmp_path.glob("hist*.svg")
    assert "<svg" in svg.read_text()[:2000] and "process-pool x2 chunk=16" in svg.read_text()


@pytest.mark.slow
def test_an_export_never_replaces_a_file_and_bad_input_is_exit_2(tmp_path):
    a = journal(tmp_path)
    (tmp_path / "taken.json").write_text("mine")
    done = bench_cli("export", a, "--to", "pytest-benchmark", "-o", "taken.json", cwd=tmp_path)
    assert done.returncode == 2 and "taken.json exists; an export never replaces a file" in done.stderr
    assert (tmp_path / "taken.json").read_text() == "mine"
    two = tmp_path / "two.jsonl"
    two.write_text(a.read_text() + a.read_text().replace('"run_id": "a"', '"run_id": "c"'))
    for args, message in (
        ((two, "--to", "pytest-benchmark", "-o", "x.json"), "export takes the journal of one run, not of 2 (a, c)"),
        ((tmp_path / "missing.jsonl", "--to", "pytest-benchmark", "-o", "x.json"), "cannot read"),
        ((a, "--to", "asv", "-o", "x.json"), "invalid choice: 'asv'"),
    ):
        done = bench_cli("export", *args, cwd=tmp_path)
        assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "x.json").exists()
