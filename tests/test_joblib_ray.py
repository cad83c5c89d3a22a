"""joblib and Ray beside the others: the ``native`` chunk spec, joblib's options and batching, and Ray
joining a running cluster (a head and a worker node started here by the test)."""

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

import bench
import bench.executors
from bench.analysis.findings import analyse
from bench.data.schema import METHODS
from bench.host.scratch import WATCHER
from bench.measuring import plan
from tests.helpers import ray_folders_left, square

#: The ``native`` chunk size each back-end resolves to for 1000 items on 2 workers, by method; None: the
#: library sizes chunks as it runs. Pool.map's rule is ceil(1000 / (4 x 2)) = 125.
NATIVE = {
    ("serial", "map"): None,  # does not chunk: one cell, "n/a"
    ("thread-pool", "map"): 1,
    ("multiprocessing", "map"): 125,
    ("multiprocessing", "imap"): 1,
    ("process-pool", "map"): 1,
    ("mpi-pool", "map"): 1,
    ("dask-local", "map"): 1,
    ("joblib", "map"): None,
    ("joblib", "imap"): None,
    ("ray", "map"): 125,
    ("ray", "imap"): 1,
}


def needs(name):
    reason = bench.executors.get(name).available()
    if reason:
        pytest.fail(f"{name} must be available in the test environment: {reason}")


def test_native_resolves_to_each_librarys_own_rule():
    for (name, method), expected in NATIVE.items():
        backend = bench.executors.get(name)
        matrix = plan.Matrix(
            executors=(name,),
            workers=(2,) if name != "serial" else (1,),
            workloads=("noop",),
            sizes=(1000,),
            chunksizes=("native", "4"),
            methods=(method,),
            repeats=1,
        )
        cells = [cell for group in plan.build(matrix) for cell in group.cells]
        if not backend.chunked:
            assert [cell.chunksize_spec for cell in cells] == ["n/a"]
            continue
        native = next(cell for cell in cells if cell.chunksize_spec == "native")
        assert backend.native_chunksize(1000, 2, method) == expected, name
        assert native.chunksize == (expected or 1) and native.adaptive == (expected is None), name
        assert native.asked_chunksize is None and native.label().endswith(
            f"chunk=native->{expected or 1}" + ("" if method == "map" else f" {method}")
        )


def test_a_ray_cluster_is_not_held_to_this_machines_cores():
    matrix = plan.Matrix(
        executors=("ray",), workers=(64,), workloads=("noop",), executor_options={"address": "10.0.0.5:6379"}
    )
    [group] = plan.build(matrix)  # the local limit (4 per core) would refuse 64 workers here
    assert not any(cell.oversubscribed for cell in group.cells)
    with pytest.raises(plan.PlanError, match="ray with 64 workers exceeds the limit"):
        plan.build(plan.Matrix(executors=("ray",), workers=(64,), workloads=("noop",)))


@pytest.mark.slow  # a local Ray starts and stops: seconds
def test_a_second_ray_in_the_process_is_refused_and_the_first_goes_on():
    needs("ray")
    Ray = bench.executors.get("ray")
    with Ray(1) as first:
        with pytest.raises(RuntimeError, match="one Ray instance per process"):
            Ray(1).__enter__()
        assert first.map(square, range(6), chunksize=2) == [x * x for x in range(6)]


def test_a_bad_chunk_spec_names_native_too(run_bench):
    done = run_bench("--executors", "process-pool", "--chunksizes", "nativ")
    assert done.returncode == 2 and "'nativ' is not a positive integer, 'auto' or 'native'" in done.stderr


@pytest.mark.slow
def test_joblib_native_records_the_batches_it_dispatched_and_the_report_compares_it(tmp_path):
    needs("joblib")
    matrix = plan.Matrix(
        executors=("joblib",),
        workers=(2,),
        workloads=("noop",),
        sizes=(1200,),
        chunksizes=("1", "64", "native"),
        repeats=6,
    )
    results = bench.sweep(matrix, tmp_path)
    cells = {cell.chunksize_spec: cell for cell in results.cells}
    assert all(cell.ok and cell.verified for cell in cells.values())
    native = cells["native"]
    # one entry per timed round, every item dispatched; joblib grows its batches from one item
    assert len(native.native_chunks) == len(native.times_s) == 6
    assert all(run["items"] == 1200 and 1 <= run["chunks"] <= 1200 for run in native.native_chunks)
    mean = sorted(run["items"] / run["chunks"] for run in native.native_chunks)
    assert native.chunksize == max(1, round((mean[2] + mean[3]) / 2)) and native.chunksize > 1
    assert cells["64"].native_chunks is None and cells["64"].chunksize == 64
    # the journal keeps it; the report says how the library's own batching does against 1 and 64
    [loaded] = [c for c in bench.load(results.path).cells if c.chunksize_spec == "native"]
    assert loaded.native_chunks == native.native_chunks
    notes = [note for case in analyse(bench.load(results.path)).cases for note in case.notes]
    [said] = [note for note in notes if note.startswith("joblib's own chunking")]
    assert f"(native->{native.chunksize}) reaches" in said and "of its best measured chunk size" in said
    # traced: where joblib sized the chunks, a chunk is the items one worker ran back to back
    traces = {t.chunksize_spec: t for t in bench.load(results.path).traces if t.role == "cell"}
    assert native.pop is not None and 0 < native.pop["parallel"] <= 1
    chunks = traces["native"].chunks
    assert sum(chunks["items"]) == 1200 and 1 < len(chunks["items"]) < 1200
    assert len(traces["64"].chunks["items"]) == -(-1200 // 64)
    # and compare reads such journals as any other
    done = subprocess.run(
        [sys.executable, "-m", "bench", "compare", str(results.path), str(results.path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    row = next(line for line in done.stdout.splitlines() if line.startswith("joblib x2") and " n " in line)
    assert f"{native.chunksize} n" in row and "n: the library's own chunking" in done.stdout, done.stdout


@pytest.mark.slow
def test_joblib_takes_its_backend_as_an_option(run_bench, tmp_path):
    needs("joblib")
    done = run_bench(
        "--executors",
        "joblib",
        "--executor-option",
        "backend=threading",
        "--workloads",
        "noop",
        "--workers",
        "2",
        "--size",
        "200",
        "--chunksizes",
        "8",
        "--repeats",
        "2",
        "--out",
        "out",
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    [path] = (tmp_path / "out").glob("*.jsonl")
    [cell] = bench.load(path).cells
    assert cell.ok and cell.verified and cell.options == {"backend": "threading"}
    # joblib's multiprocessing back-end, with the suite's start method (joblib's own default would fork)
    done = run_bench(
        *("--executors", "joblib", "--executor-option", "backend=multiprocessing", "--workloads", "noop"),
        *("--workers", "2", "--size", "200", "--chunksizes", "8", "--repeats", "2", "--out", "mp", "--quiet"),
    )
    assert done.returncode == 0, done.stderr
    [path] = (tmp_path / "mp").glob("*.jsonl")
    [cell] = bench.load(path).cells
    assert cell.ok and cell.verified and cell.options == {"backend": "multiprocessing"}
    wrong = run_bench("--executors", "joblib", "--executor-option", "backend=dask")
    assert wrong.returncode == 2
    assert "joblib: option backend: 'dask' is not one of loky, multiprocessing, threading" in wrong.stderr


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ray(*args, env, timeout=120):
    ray = Path(sys.executable).parent / "ray"
    return subprocess.run([str(ray), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _stop_cluster(folder):
    """End every process of the test's cluster: those whose command line names its folder, and theirs."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(folder in part for part in process.info["cmdline"] or ()):
                found += [process, *process.children(recursive=True)]
        except psutil.Error:
            continue
    for process in found:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(found, timeout=20)


@pytest.mark.slow
def test_ray_joins_a_running_cluster_of_a_head_and_a_worker_node(run_bench, tmp_path, scratch):
    needs("ray")
    # the cluster a user starts on a login node and on compute nodes (docs/joblib-ray.md): here two
    # nodes of one CPU each on this machine, protected by a token of their own
    folder = tempfile.mkdtemp(prefix="bench-raytest-", dir="/tmp")  # Ray's socket paths must stay short
    port = _free_port()
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    try:
        head = _ray(
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=1",
            f"--temp-dir={folder}",
            "--include-dashboard=false",
            "--disable-usage-stats",
            env=env,
        )
        assert head.returncode == 0, head.stderr
        worker = _ray("start", f"--address=127.0.0.1:{port}", "--num-cpus=1", f"--temp-dir={folder}", env=env)
        assert worker.returncode == 0, worker.stderr
        done = run_bench(
            "--executors",
            "ray",
            "--executor-option",
            f"address=127.0.0.1:{port}",
            "--workloads",
            "fibprimes",
            "--workers",
            "1,2",
            "--size",
            "600",
            "--chunksizes",
            "8",
            "--repeats",
            "2",
            "--out",
            "out",
            "--quiet",
            env={"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": env["RAY_AUTH_TOKEN"], "TMPDIR": str(scratch)},
        )
        assert done.returncode == 0, done.stderr
        [path] = (tmp_path / "out").glob("*.jsonl")
        cells = bench.load(path).cells
        assert [(c.workers, c.ok, c.verified) for c in cells] == [(1, True, True), (2, True, True)]
        assert all(c.options == {"address": f"127.0.0.1:{port}"} and len(c.nodes) == c.workers for c in cells)
        # the run left the cluster as it found it: its actors gone (the cluster ends them), every CPU free again
        deadline = time.monotonic() + 30
        while "0.0/2.0 CPU" not in (status := _ray("status", f"--address=127.0.0.1:{port}", env=env)).stdout:
            assert time.monotonic() < deadline, status.stdout
            time.sleep(1)
        # a cluster that does not answer: a clear error, in the cell, and the run ends 1
        gone = run_bench(
            "--executors",
            "ray",
            "--executor-option",
            "address=127.0.0.1:1",
            "--workloads",
            "noop",
            "--workers",
            "1",
            "--size",
            "10",
            "--chunksizes",
            "1",
            "--repeats",
            "1",
            "--out",
            "gone",
            "--quiet",
            timeout=60,
        )
        assert gone.returncode == 1
        assert "ray x1 noop[10] chunk=1: start-up failed: ConnectionError: no Ray cluster answers at 127.0.0.1:1" in (
            gone.stderr
        )
    finally:
        _stop_cluster(folder)
        shutil.rmtree(folder, ignore_errors=True)
    assert list(scratch.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_ray_stops_quickly_after_a_timeout(method):
    from tests.test_executors import test_timeout_then_abort_stops_quickly

    needs("ray")
    test_timeout_then_abort_stops_quickly("ray", method)


@pytest.mark.slow  # two local Rays and a loky pool start and stop
def test_the_loky_workers_rays_processes_and_their_folders_end_with_the_instance():
    token = Path.home() / ".ray" / "auth_token"
    had_token = token.exists()
    before = set(Path("/tmp").glob("bench-ray-*"))
    ray_own = Path("/tmp/ray").exists()
    for name in ("joblib", "ray"):
        needs(name)
        earlier = {child.pid for child in psutil.Process().children(recursive=True)}  # other tests' helpers
        with bench.executors.get(name)(2) as pool:
            assert pool.map(square, range(20), chunksize=None) == [x * x for x in range(20)]
            # the workers run at the driver's priority (Ray's own default would be niceness 15)
            assert set(pool.map(os.nice, [0] * 8, chunksize=1)) == {os.nice(0)}, name
            folder = Path(getattr(pool, "folder", None) or pool.scratch)
            assert folder.is_dir()
            started = [
                child
                for child in psutil.Process().children(recursive=True)
                if child.pid not in earlier
                # loky's resource tracker, as multiprocessing's, ends with this process, as does the watcher of
                # its temporary folder
                and not any(helper in " ".join(child.cmdline()) for helper in ("resource_tracker", WATCHER))
            ]
            assert len(started) >= 2, name  # the workers at least
        _, alive = psutil.wait_procs(started, timeout=20)
        assert alive == [] and not folder.exists(), name
    # nothing in Ray's own places: no token saved for the user, no /tmp/ray
    assert ray_folders_left(before) == [] and Path("/tmp/ray").exists() == ray_own
    assert token.exists() == had_token


def test_without_the_library_the_back_end_says_how_to_install_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("joblib", "ray") else real(name))
    assert bench.executors.get("joblib").available() == "joblib is not installed (pip install -e '.[joblib]')"
    assert bench.executors.get("ray").available() == "ray is not installed (pip install -e '.[ray]')"


@pytest.mark.slow
def test_joblib_with_worker_processes_survives_a_dead_worker_and_a_hung_task(run_bench, tmp_path, scratch):
    # one worker runs in the driver (tests/test_faults.py); two are loky processes
    needs("joblib")
    done = run_bench(
        *("--executors", "joblib", "--workloads", "fault-exit,fault-hang,noop", "--workers", "2", "--chunksizes", "4"),
        *("--size", "16", "--repeats", "2", "--cell-timeout", "3", "--out", "out", "--quiet"),
        env={"TMPDIR": str(scratch)},
    )
    assert done.returncode == 1, done.stderr
    [path] = (tmp_path / "out").glob("*.jsonl")
    cells = {cell.workload: cell for cell in bench.load(path).cells}
    assert cells["fault-exit"].status == "error" and "TerminatedWorkerError" in cells["fault-exit"].error
    assert cells["fault-hang"].status == "timeout"
    assert cells["noop"].ok and cells["noop"].verified and cells["noop"].instance > cells["fault-hang"].instance
    assert list(scratch.iterdir()) == []
