"""Contract tests: every registered executor, several worker counts and chunk sizes."""

import contextlib
import itertools
import subprocess
import sys
import textwrap
import time

import pytest

import bench.executors
import workloads
from bench.data.chunks import auto_chunksize
from bench.data.schema import METHODS
from bench.executors.base import apply_chunk, batched
from bench.host.registry import Registry
from conftest import EXECUTOR_CONTRACT, unavailable
from tests.helpers import fail_on_13, nap, square

# mpi-comm runs only inside an mpiexec launch: tests/test_mpi.py covers it there.
EXECUTORS = [name for name in bench.executors.names() if bench.executors.get(name).unsupported(1) is None]
CASES = [
    (name, workers) for name in EXECUTORS for workers in (1, 2) if not bench.executors.get(name).unsupported(workers)
]


CONTRACT = EXECUTOR_CONTRACT


def test_the_contract_names_are_registered_in_order():
    assert bench.executors.names()[: len(CONTRACT)] == list(CONTRACT)


def test_every_executor_but_mpi_comm_is_tested_here_with_each_worker_count_it_takes():
    # mpi-comm needs an mpiexec launch (tests/test_mpi.py); serial is the one-worker baseline.
    expected = [(name, workers) for name in CONTRACT if name != "mpi-comm" for workers in (1, 2)]
    assert [case for case in expected if case != ("serial", 2)] == CASES


@pytest.fixture(scope="module", params=CASES, ids=[f"{name}-{workers}" for name, workers in CASES])
def pool(request):
    """One running instance per (executor, workers), shared by this module's tests."""
    name, workers = request.param
    backend = bench.executors.get(name)
    reason = backend.available()
    if reason and name == "dask-slurm":
        unavailable(reason)  # needs a running Slurm (the test command starts one)
    elif reason:
        pytest.fail(f"{name} must be available in the test environment: {reason}")
    with backend(workers) as running:
        yield running


@pytest.mark.slow
@pytest.mark.parametrize("chunksize", [1, 7, "auto"])
def test_fibprimes_known_answer(pool, chunksize, fib_oracle):
    w = workloads.get("fibprimes")
    size = 500  # F(431) the largest prime among them: the course's kind of answer, in a fraction of the time
    chunk = auto_chunksize(size, pool.workers) if chunksize == "auto" else chunksize
    answer = w.reduce(pool.map(w.task, w.items(size), chunksize=chunk))
    assert answer == fib_oracle(size)


@pytest.mark.parametrize("chunksize", [1, 3, 1000])
def test_map_keeps_item_order(pool, chunksize):
    assert pool.map(square, range(50), chunksize=chunksize) == [x * x for x in range(50)]


def test_noop_counts_every_task(pool):
    w = workloads.get("noop")
    assert w.verify(w.reduce(pool.map(w.task, w.items(300), chunksize=5)), 300)


#: Small cases of every workload: (size, params), each a fraction of a second serially.
TINY = {
    "fibprimes": (120, {"producer": "iterator"}),
    "fibprimes-first": (12, {}),
    "primes-range": (300, {}),
    "polyfit": (3, {"points": 300}),
    "linalg": (3, {"n": 40}),
    "noop": (60, {}),
    "sleep": (12, {"task_us": 200}),
    "spin": (12, {"task_us": 200}),
    "payload": (6, {"payload_bytes": 70000}),
    # the fault beyond the last task: the healthy path (tests/test_faults.py has the faults)
    "fault-raise": (16, {"at": 16}),
    "fault-exit": (16, {"at": 16}),
    "fault-segv": (16, {"at": 16}),
    "fault-hang": (16, {"at": 16}),
}


def test_every_workload_has_a_tiny_case():
    assert set(TINY) == set(workloads.names())


# fibprimes-first never runs under map (an endless stream): tests/test_plan.py checks that it is skipped.
@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "method"), [(name, method) for name in TINY for method in METHODS if method in workloads.get(name).methods]
)
def test_every_workload_verifies_under_every_method(pool, name, method):
    w = workloads.get(name)
    size, params = TINY[name]
    results = pool.method(method)(w.task, w.items(size, **params), chunksize=3, timeout=120)
    with contextlib.closing(results) if method != "map" else contextlib.nullcontext():
        answer = w.consume(results, size, **params)
    assert w.verify(answer, size, **params), answer


@pytest.mark.parametrize("chunksize", [1, 4])
def test_imap_reads_an_endless_input_only_a_window_ahead(pool, chunksize):
    taken = []

    def endless():
        for n in itertools.count():
            taken.append(n)
            yield n

    stream = pool.imap(square, endless(), chunksize=chunksize, timeout=60)
    first = list(itertools.islice(stream, 10))
    if not pool.window_bounds_input:  # joblib reads on as its workers finish chunks; closing stops it
        stream.close()
        closed = len(taken)
        time.sleep(0.2)
        assert first == [n * n for n in range(10)] and len(taken) == closed
        assert pool.map(square, range(5), chunksize=2) == [0, 1, 4, 9, 16]
        return
    time.sleep(0.2)  # a feeder thread that read ahead unbounded would show it now
    stream.close()
    assert first == [n * n for n in range(10)]
    # taken: the chunks the 10 results came in, the window refilled behind them, and one chunk
    # a feeder may hold while it waits for room
    bound = chunksize * (-(-10 // chunksize) + pool.window + 1)
    assert len(taken) <= bound, (len(taken), bound)
    assert pool.map(square, range(5), chunksize=2) == [0, 1, 4, 9, 16]  # the pool still serves


@pytest.mark.parametrize("name", ["thread-pool", "multiprocessing", "process-pool"])
def test_a_stream_left_open_does_not_block_the_shutdown(name):
    import threading

    backend = bench.executors.get(name)
    exited = threading.Event()

    def leave_a_stream_open():
        with backend(1) as pool:
            stream = pool.imap(square, itertools.count(), chunksize=1)
            assert next(stream) == 0  # the stream stays open: its feeder may be waiting for room
        exited.set()

    thread = threading.Thread(target=leave_a_stream_open, daemon=True)
    thread.start()
    assert exited.wait(60), f"{name} did not shut down with a stream left open"


def test_imap_unordered_yields_every_result_once(pool):
    assert sorted(pool.imap_unordered(square, iter(range(40)), chunksize=3, timeout=60)) == [n * n for n in range(40)]


def test_streaming_errors_reach_the_consumer(pool):
    with pytest.raises(ValueError, match="unlucky 13"):
        list(pool.imap(fail_on_13, range(20), chunksize=4, timeout=60))
    assert list(pool.imap(square, [], chunksize=2)) == []


def test_unknown_method_is_refused(pool):
    with pytest.raises(ValueError, match="method must be one of map, imap, imap_unordered"):
        pool.method("starmap")


def test_map_of_nothing(pool):
    assert pool.map(square, [], chunksize=4) == []


def test_submit_returns_a_future(pool):
    assert pool.submit(square, 12).result(timeout=60) == 144


def test_task_errors_reach_the_caller(pool):
    with pytest.raises(ValueError, match="unlucky 13"):
        pool.map(fail_on_13, range(20), chunksize=4)


def test_bad_chunksize_is_refused(pool):
    with pytest.raises(ValueError, match="chunksize must be >= 1"):
        pool.map(square, range(3), chunksize=0)


# dask-slurm's is in tests/test_slurm.py: here this module's pools may hold every Slurm CPU.
@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
# ray's is in tests/test_joblib_ray.py: one Ray runs per process, and this module's pools hold one.
@pytest.mark.parametrize("name", [name for name in EXECUTORS if name not in ("dask-slurm", "ray")])
def test_timeout_then_abort_stops_quickly(name, method):
    backend = bench.executors.get(name)
    workers = 1
    pool = backend(workers).__enter__()
    try:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            list(pool.method(method)(nap, [0.5] * 8, chunksize=1, timeout=0.2))
        pool.abort()
        # The abandoned tasks (4 s of sleep in all) are not waited for.
        assert time.monotonic() - start < 3.5
    finally:
        pool.abort()


@pytest.mark.parametrize("name", EXECUTORS)
def test_metadata_names_the_installed_versions(name):
    import json
    from importlib.metadata import version

    backend = bench.executors.get(name)
    metadata = json.loads(json.dumps(backend.metadata()))  # survives a journal line unchanged
    assert set(metadata["packages"]) == set(backend.packages)
    for package in backend.packages:
        assert metadata["packages"][package] == version(package)
    if name in ("multiprocessing", "process-pool"):
        assert metadata["start_method"] == "forkserver"
    if name == "mpi-pool":
        assert metadata["mpi_library"].startswith("MPICH") and metadata["mpi_launch"] == "singleton"


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers must be >= 1"):
        bench.executors.get("process-pool")(0)


def test_serial_has_one_worker():
    serial = bench.executors.get("serial")
    assert serial.unsupported(2) and serial.unsupported(1) is None


def test_unknown_executor_names_the_known_ones():
    with pytest.raises(KeyError, match="unknown executor 'mpi-magic'; known: serial, thread-pool"):
        bench.executors.get("mpi-magic")


def test_batched_and_apply_chunk():
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert apply_chunk(square, [1, 2, 3]) == [1, 4, 9]


def test_third_party_backends_register_through_entry_points(tmp_path):
    """A package installed with a ``bench.executors`` entry point is found and runs."""
    (tmp_path / "extra_backend.py").write_text(
        textwrap.dedent(
            """
            from bench.executors.local import ThreadPool

            class Lazy(ThreadPool):
                name = "lazy-threads"
            """
        )
    )
    dist = tmp_path / "extra_backend-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: extra-backend\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[bench.executors]\nlazy-threads = extra_backend:Lazy\n")
    code = textwrap.dedent(
        """
        import bench.executors
        from tests.helpers import square
        assert "lazy-threads" in bench.executors.names(), bench.executors.names()
        with bench.executors.get("lazy-threads")(2) as pool:
            print(pool.map(square, range(4), chunksize=2))
        """
    )
    env_path = f"{tmp_path}:{bench.executors.__file__.rsplit('/bench/', 1)[0]}"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={"PYTHONPATH": env_path}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 1, 4, 9]"


def test_registry_survives_a_broken_plugin(recwarn):
    registry = Registry("executor", "no.such.group", {"good": "bench.executors.local:Serial", "bad": "no_such_mod:X"})
    loaded = registry.load_all()
    assert list(loaded) == ["good"]
    assert "bad" in str(recwarn.pop(UserWarning).message)
