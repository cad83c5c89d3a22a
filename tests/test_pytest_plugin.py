"""The pytest plugin: a user's own test timed on every executor through pytest-benchmark, run as a user would."""

import json
import subprocess
import sys

import pytest

from tests.helpers import user_environ

SAMPLE = """
import os

import numpy


def square(x):
    return x * x


def pid_of(x):
    return os.getpid()


def test_square(executor_benchmark):
    result = executor_benchmark(square, range(200), chunksize=16, rounds=3)
    assert result == [x * x for x in range(200)]


def test_streamed(executor_benchmark):
    executor_benchmark(square, iter(range(50)), chunksize=4, method="imap_unordered", rounds=2, timeout=60)


def test_answer_that_depends_on_the_process(executor_benchmark):
    executor_benchmark(pid_of, range(8), rounds=1)


def scaled(x):
    return numpy.arange(3.0) * x


def test_arrays(executor_benchmark):
    result = executor_benchmark(scaled, range(20), rounds=1)
    assert numpy.array_equal(result[19], [0.0, 19.0, 38.0])


def test_zz_after_the_benchmarks_no_executor_runs(request):
    from bench.pytest_plugin import POOLS

    assert request.config.stash[POOLS].key is None
"""


def run_pytest(tmp_path, *args, timeout=240):
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_sample.py", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=user_environ(),
    )


@pytest.mark.slow
def test_a_users_test_runs_on_each_executor_and_is_stored_by_pytest_benchmark(tmp_path):
    done = run_pytest(
        tmp_path,
        "--bench-executors",
        "serial,thread-pool,process-pool",
        "--bench-workers",
        "1,2",
        "--benchmark-json",
        "out.json",
        "-v",
        "-rf",
    )
    assert done.returncode == 1, done.stdout + done.stderr  # the process-dependent answers fail
    assert "test_zz_after_the_benchmarks_no_executor_runs PASSED" in done.stdout
    failed = {line.split()[1] for line in done.stdout.splitlines() if line.startswith("FAILED")}
    assert failed == {f"test_sample.py::test_answer_that_depends_on_the_process[process-pool-{n}]" for n in (1, 2)}, (
        done.stdout
    )
    assert "process-pool x1 answered differently from the serial loop: 8 of 8 results differ" in done.stdout
    benchmarks = json.loads((tmp_path / "out.json").read_text())["benchmarks"]
    passed = [b["name"] for b in benchmarks]
    # serial has one worker only; the failed tests store nothing
    ids = ["serial-1", "thread-pool-1", "thread-pool-2", "process-pool-1", "process-pool-2"]
    expected = [f"{test}[{i}]" for i in ids for test in ("test_square", "test_streamed", "test_arrays")]
    expected += [f"test_answer_that_depends_on_the_process[{i}]" for i in ids[:3]]
    assert sorted(passed) == sorted(expected)
    # run executor by executor: each one's tests together, in the order asked for
    order = [b["extra_info"]["executor"] + f"-{b['extra_info']['workers']}" for b in benchmarks]
    assert [key for i, key in enumerate(order) if i == 0 or order[i - 1] != key] == ids
    square = {b["name"]: b for b in benchmarks if b["name"].startswith("test_square")}
    for entry in square.values():
        assert entry["group"] == "test_square"
        assert entry["stats"]["rounds"] == 3 and len(entry["stats"]["data"]) == 3
        assert entry["extra_info"]["verified"] is True and entry["extra_info"]["items"] == 200
        assert entry["extra_info"]["chunksize"] == 16 and entry["extra_info"]["serial_s"] > 0
    streamed = {b["name"]: b for b in benchmarks if b["name"].startswith("test_streamed")}
    # one executor instance serves every test of its (executor, workers): one start-up, recorded once
    for i in ids:
        assert (
            square[f"test_square[{i}]"]["extra_info"]["startup_s"]
            == (streamed[f"test_streamed[{i}]"]["extra_info"]["startup_s"])
        )
    # then pytest-benchmark's own command line reads what it stored
    shown = subprocess.run(
        [sys.executable, "-m", "pytest_benchmark", "compare", "out.json", "--group-by", "group"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0 and "test_square[process-pool-2]" in shown.stdout, shown.stdout + shown.stderr


@pytest.mark.slow
def test_the_default_executors_are_the_local_ones_available_here_and_a_bad_name_is_a_usage_error(tmp_path):
    from bench.pytest_plugin import default_executors

    names = default_executors()
    assert names[:4] == ["serial", "thread-pool", "multiprocessing", "process-pool"]
    assert "dask-slurm" not in names and "mpi-comm" not in names  # not local / needs an mpiexec launch
    done = run_pytest(tmp_path, "--collect-only", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    collected = [line for line in done.stdout.splitlines() if line.startswith("test_sample.py::test_square")]
    assert collected == [
        f"test_sample.py::test_square[{n}-{w}]" for n in names for w in (1, 2) if n != "serial" or w == 1
    ]
    done = run_pytest(tmp_path, "--bench-executors", "serial,nosuch", "--collect-only", "-q")
    assert done.returncode == 4 and "--bench-executors: unknown executor 'nosuch'" in done.stderr
    done = run_pytest(tmp_path, "--bench-workers", "0", "--collect-only", "-q")
    assert done.returncode == 4 and "--bench-workers: '0' is not a list of positive integers" in done.stderr


@pytest.mark.slow
def test_joblib_and_ray_serve_a_users_test_too(tmp_path):
    done = run_pytest(
        tmp_path,
        "--bench-executors",
        "joblib,ray",
        "--bench-workers",
        "2",
        "-k",
        "square or streamed or arrays or zz",
        "--benchmark-json",
        "out.json",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    benchmarks = json.loads((tmp_path / "out.json").read_text())["benchmarks"]
    assert sorted(b["name"] for b in benchmarks) == sorted(
        f"{test}[{name}-2]" for name in ("joblib", "ray") for test in ("test_square", "test_streamed", "test_arrays")
    )
    assert all(b["extra_info"]["verified"] is True for b in benchmarks)
