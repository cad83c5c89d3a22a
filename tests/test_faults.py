"""Faults in a sweep, executor by executor: a raising task, a worker that dies, a task that never returns.

Each sweep runs the three fault workloads and then a healthy one, with a cell
timeout, in a fresh process: the faulty cells are recorded (with the worker's
traceback), the broken executor is replaced, the healthy cell is measured,
and the run ends with exit 1 and one line per failed cell.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import bench
import bench.executors
from bench.executors.base import process_end
from bench.executors.local import Serial, alarm
from bench.host import slurm
from conftest import ROOT, left_after_an_abort, left_in, unavailable
from workloads import faults

FAULTS = ("fault-raise", "fault-exit", "fault-segv", "fault-hang")
TIMEOUT = "3"
#: What each executor records for fault-exit (exit status 13) and fault-segv (SIGSEGV): in the driver the task
#: raises; where the suite sees the worker process end, it says which and how.
CRASH_OUTCOME = {
    "serial": ("FaultInjected: fault-exit: task 8 runs in the driver process", "FaultInjected: fault-segv"),
    "thread-pool": ("FaultInjected: fault-exit: task 8 runs in the driver process", "FaultInjected: fault-segv"),
    "multiprocessing": ("exited with status 13 with work outstanding", "killed by SIGSEGV with work outstanding"),
    "process-pool": ("exited with status 13 with work outstanding", "killed by SIGSEGV with work outstanding"),
    "dask-local": ("exited with status 13 with work outstanding (KilledWorker)", "killed by SIGSEGV"),
    "dask-slurm": ("KilledWorker", "KilledWorker"),  # the nannies log in the jobs, not in the driver
    # n_jobs=1: joblib runs the calls in the driver
    "joblib": ("FaultInjected: fault-exit: task 8 runs in the driver process", "FaultInjected: fault-segv"),
    "ray": ("ActorDiedError", "ActorDiedError"),
}
#: Options for executors that need them: jobs start here within seconds, a fault should not wait 600 s.
OPTIONS = {"dask-slurm": ("--executor-option", "ready_timeout=60")}


def needs(executor):
    reason = bench.executors.get(executor).available()
    if reason:
        unavailable(reason)


def arguments(executor, workloads):
    return (
        *("--executors", executor, "--workloads", ",".join(workloads), "--workers", "1", "--chunksizes", "4"),
        *("--size", "16", "--repeats", "2", "--cell-timeout", TIMEOUT, "--out", "out", "--quiet"),
        *OPTIONS.get(executor, ()),
    )


def sweep(run_bench, executor, workloads, scratch, timeout=180):
    return run_bench(*arguments(executor, workloads), timeout=timeout, env={"TMPDIR": str(scratch)})


def mpi_sweep(tmp_path, workloads, scratch):
    """mpi-pool in its own session: when MPICH ends a job whose worker died or was left running, it kills
    the whole process group of the run, which must not be this test's."""
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), *arguments("mpi-pool", workloads)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        start_new_session=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )


def cells_of(tmp_path):
    [path] = (tmp_path / "out").glob("*.jsonl")
    return {cell.workload: cell for cell in bench.load(path).cells}


@pytest.mark.slow
@pytest.mark.parametrize(
    "executor",
    [
        "serial",
        "thread-pool",
        "multiprocessing",
        "process-pool",
        pytest.param("dask-local", marks=pytest.mark.dask),
        pytest.param("dask-slurm", marks=pytest.mark.slurm),
        "joblib",
        "ray",
    ],
)
def test_every_fault_is_recorded_and_the_sweep_goes_on(run_bench, tmp_path, scratch, executor, request):
    if executor == "dask-slurm":
        request.getfixturevalue("slurm_nodes")
    needs(executor)
    done = sweep(run_bench, executor, [*FAULTS, "noop"], scratch)
    assert done.returncode == 1, done.stderr
    cells = cells_of(tmp_path)
    raised = cells["fault-raise"]
    assert raised.status == "error" and raised.error.startswith("FaultInjected: fault-raise: task 8 raised")
    # the worker's own frames: the task that raised, in the module that defines it
    assert 'faults.py", line' in raised.traceback and "in raise_task" in raised.traceback
    # a crashed worker fails its cell at once, well within the 3 s cell timeout, saying how it ended
    for name, text in zip(("fault-exit", "fault-segv"), CRASH_OUTCOME[executor], strict=True):
        assert cells[name].status == "error" and text in cells[name].error, cells[name].error
    hung = cells["fault-hang"]
    assert hung.status == "timeout" and hung.error.startswith(f"exceeded the cell timeout of {TIMEOUT} s")
    if executor == "thread-pool":  # a thread cannot be stopped: said in the record, and the run still ends
        assert "1 thread(s) of thread-pool x1 left running" in hung.error
        assert "ending without waiting for work left running" in done.stderr
    # the broken executor was replaced: the healthy cell after the faults ran on a new instance
    healthy = cells["noop"]
    assert healthy.ok and healthy.verified and healthy.instance > raised.instance
    assert all(cells[name].baseline_s is None for name in FAULTS)  # no serial baseline to pair
    failed = [line for line in done.stderr.splitlines() if line.startswith(("error: ", "timeout: "))]
    assert len(failed) == 4 and all(executor in line for line in failed)
    if executor == "dask-slurm":  # every job of every instance was cancelled, the hung one's too
        jobs = [job["job_id"] for cell in cells.values() for job in cell.slurm_jobs]
        assert len(set(jobs)) == 5 == len({cell.instance for cell in cells.values()})
        slurm.wait(jobs, timeout=20, poll_s=0.2)
    # nothing left in the temporary folder: no pymp-*, no Dask scratch space (the jobs' own included)
    assert left_in(scratch, wait_s=20) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "executor", ["multiprocessing", "process-pool", pytest.param("dask-local", marks=pytest.mark.dask)]
)
def test_a_crashed_worker_fails_its_cell_at_once_without_a_cell_timeout(run_bench, tmp_path, scratch, executor):
    """multiprocessing.Pool loses the task of a worker that died: without the suite's watch the cell
    would wait for ever. Two workers, so that one lives on."""
    needs(executor)
    done = run_bench(
        *("--executors", executor, "--workloads", "fault-segv,noop", "--workers", "2", "--chunksizes", "4"),
        *("--size", "16", "--repeats", "2", "--out", "out", "--quiet"),
        timeout=120,
        env={"TMPDIR": str(scratch)},
    )
    assert done.returncode == 1, done.stderr
    cells = cells_of(tmp_path)
    crashed = cells["fault-segv"]
    assert crashed.status == "error" and "killed by SIGSEGV with work outstanding" in crashed.error
    assert cells["noop"].ok and cells["noop"].instance > crashed.instance
    assert left_in(scratch, wait_s=20) == []


@pytest.mark.slow
def test_mpi_pool_records_a_raise_and_leaves_a_hung_task_behind_then_ends(tmp_path, scratch):
    needs("mpi-pool")
    done = mpi_sweep(tmp_path, ["fault-raise", "fault-hang", "noop"], scratch)
    assert done.returncode != 0, done.stderr  # MPICH ends the spawned job, this process included
    cells = cells_of(tmp_path)  # the journal is complete before that
    # mpi4py.futures passes the exception on without the worker's frames
    raised = cells["fault-raise"]
    assert raised.status == "error" and raised.traceback.endswith(
        "FaultInjected: fault-raise: task 8 raised, as planned"
    )
    assert cells["fault-hang"].status == "timeout" and "still run a task" in cells["fault-hang"].error
    assert cells["noop"].ok and cells["noop"].verified
    assert "ending without waiting for work left running: the workers of mpi-pool x1" in done.stderr
    assert left_after_an_abort(scratch) == []  # and MPI's files with the folders


@pytest.mark.slow
def test_a_worker_that_dies_under_mpi_pool_costs_its_cell_and_the_sweep_goes_on(tmp_path, scratch):
    """MPICH ends the spawned job, the measuring process with it: the command measures in a child, which
    it starts again on the journal with the cell recorded as crashed."""
    needs("mpi-pool")
    done = mpi_sweep(tmp_path, ["fault-exit", "noop"], scratch)
    assert done.returncode == 1, done.stderr
    cells = cells_of(tmp_path)
    crashed = cells["fault-exit"]
    assert crashed.status == "error" and crashed.crashed["in"] == "workers", crashed
    assert "a task crashed its run in " in crashed.error and "mpi-pool x1 fault-exit[16]" in crashed.error
    assert cells["noop"].ok and cells["noop"].verified
    assert left_after_an_abort(scratch) == []


CRASHY = """
# A user's function that ends the process it runs in on one item, as a broken C extension does.
import ctypes
import os

from workloads import from_function


def square(item):
    if item == 5:
        {crash}
    return item * item


def check(results, size):
    return sorted(results) == [item * item for item in range(size)]


Crashy = from_function(square, items=range, verify=check, default_size=40)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "crash, how, executors, options, where",
    [
        # no option: the estimate probe runs the case first, in the driver
        ("ctypes.string_at(0)", "killed by SIGSEGV", "multiprocessing,thread-pool", (), "the estimate probe of"),
        ("os._exit(13)", "exited with status 13", "multiprocessing", ("--max-case-time", "off"), "the serial baseline"),
        ("ctypes.string_at(0)", "killed by SIGSEGV", "serial,process-pool", ("--max-case-time", "off"), "of serial x1"),
    ],
)
def test_a_user_task_that_crashes_the_measuring_process_costs_its_case_only(
    run_bench, tmp_path, scratch, crash, how, executors, options, where
):
    (tmp_path / "crashy.py").write_text(CRASHY.format(crash=crash))
    done = run_bench(
        *("--executors", executors, "--workloads", "crashy.py:Crashy,noop", "--workers", "1", "--repeats", "2"),
        *(*options, "--out", "out", "--quiet"),
        timeout=120,
        env={"TMPDIR": str(scratch)},
    )
    assert done.returncode == 1, done.stderr
    said = [line for line in done.stderr.splitlines() if "the sweep goes on" in line]
    assert len(said) == 1 and where in said[0] and how in said[0], done.stderr
    [path] = (tmp_path / "out").glob("*.jsonl")
    results = bench.load(path)
    crashy = [cell for cell in results.cells if cell.workload.endswith("Crashy") and cell.status != "skipped"]
    assert crashy and all(cell.status == "error" and cell.crashed["how"] == how for cell in crashy)
    assert all(cell.crashed["in"] == "driver" and where in cell.error for cell in crashy)
    noop = [cell for cell in results.cells if cell.workload == "noop" and cell.status != "skipped"]
    assert noop and all(cell.ok and cell.verified for cell in noop)
    again = run_bench("--resume", str(path), "--quiet", env={"TMPDIR": str(scratch)})
    assert "nothing to resume" in again.stderr and len(bench.load(path).cells) == len(results.cells)
    assert left_in(scratch, wait_s=10) == []


@pytest.mark.slow
def test_a_hang_needs_a_cell_timeout_and_a_fault_beyond_the_last_task_is_no_fault(run_bench, tmp_path):
    done = run_bench("--executors", "serial", "--workloads", "fault-hang", "--out", "out")
    assert done.returncode == 2 and not (tmp_path / "out").exists()
    assert done.stderr.strip().endswith("fault-hang never finishes without a cell timeout; --cell-timeout allows it")
    done = run_bench(
        *("--executors", "serial,thread-pool", "--workers", "1", "--workloads", ",".join(FAULTS)),
        *("--param", "at=16", "--size", "16", "--repeats", "1", "--cell-timeout", "30", "--out", "out", "--quiet"),
    )
    assert done.returncode == 0, done.stderr
    [path] = (tmp_path / "out").glob("*.jsonl")
    ran = [cell for cell in bench.load(path).cells if cell.status != "skipped"]
    assert ran and all(cell.ok and cell.verified for cell in ran)


def test_the_serial_loop_is_stopped_inside_a_task_that_never_returns():
    items = [(index, 2, 0) for index in range(4)]
    previous = signal.getsignal(signal.SIGALRM)
    start = time.monotonic()
    with Serial(1) as pool, pytest.raises(TimeoutError, match="SIGALRM"):
        pool.map(faults.hang_task, items, timeout=0.5)
    assert time.monotonic() - start < 30  # it did return (the task alone would sleep for an hour)
    assert signal.getsignal(signal.SIGALRM) == previous and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    with alarm(5):  # an alarm that does not fire leaves nothing behind
        pass
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.slow
def test_resume_runs_the_failed_cells_again_and_not_the_ok_ones(run_bench, tmp_path):
    done = run_bench(
        *("--executors", "serial", "--workers", "1", "--workloads", "fault-raise,noop", "--size", "16"),
        *("--repeats", "1"),
        *("--out", "out", "--quiet"),
    )
    assert done.returncode == 1
    [path] = (tmp_path / "out").glob("*.jsonl")
    done = run_bench("--resume", str(path), "--quiet")
    assert done.returncode == 1
    records = [record for record in map(json.loads, path.read_text().splitlines()) if record["kind"] != "trace"]
    kinds = [(record["kind"], record.get("workload")) for record in records]
    assert kinds == [
        ("run", None),
        ("cell", "fault-raise"),
        ("cell", "noop"),
        ("resume", None),
        ("cell", "fault-raise"),
    ]


def test_how_a_process_ended_is_said_in_words():
    assert process_end(13) == "exited with status 13"
    assert process_end(-signal.SIGSEGV) == "killed by SIGSEGV"
    assert process_end(-signal.SIGKILL) == "killed by SIGKILL"
    assert process_end(-200) == "killed by signal 200"
