"""Fair conditions: inner threads set alike on every back-end (and recorded), a busy machine noticed,
interrupted cells kept and completed, leftovers of killed runs removed, cases that would outgrow the
machine refused."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

import bench
import workloads
from bench.cli.summary import summary_notes
from bench.host import cpuload, scratch
from bench.host import inner_threads as inner
from bench.host.provenance import available_cores
from bench.measuring import preflight as estimate
from bench.measuring.plan import Matrix
from bench.measuring.runner import Interrupted, Progress
from conftest import ROOT, WATCHED_S, left_in
from tests.helpers import still_running
from tests.test_mpi import journal_of, mpiexec

CORES = available_cores()
#: Each of two workers' share of the cores: what --threads auto gives it.
SHARE = max(1, CORES // 2)
#: The environment of a user who set no thread variables.
CLEAN_ENV = {name: value for name, value in os.environ.items() if name not in inner.ENV_VARIABLES}
LOCAL = "thread-pool,multiprocessing,process-pool,mpi-pool,dask-local"
#: No traced or memory run: what these tests check (inner threads) is the same in every run of a cell.
LINALG = ("--workloads", "linalg", "--size", "16", "--chunksizes", "8", "--repeats", "1", "--trace", "off")
LINALG += ("--memory", "off", "--quiet")


def sweep(*args, cwd, env=None, timeout=300):
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), *args, "--out", "out"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**CLEAN_ENV, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return bench.load(cwd / done.stdout.strip().splitlines()[-1]).cells


def library_default():
    """The threads OpenBLAS takes in a fresh process of this environment when nothing sets them."""
    code = "import numpy, threadpoolctl; print(max(p['num_threads'] for p in threadpoolctl.threadpool_info()))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=CLEAN_ENV, timeout=60)
    return int(done.stdout)


def pool_threads(cell):
    return {pool["num_threads"] for pool in cell.threadpools}


@pytest.mark.slow
@pytest.mark.dask
def test_inner_threads_are_set_alike_on_every_back_end_and_recorded(tmp_path):
    cells = sweep("--executors", LOCAL, "--workers", "2", "--threads", "default,auto", *LINALG, cwd=tmp_path)
    assert {(cell.executor, cell.threads) for cell in cells} == {
        (name, spec) for name in LOCAL.split(",") for spec in ("default", "auto")
    }
    assert all(cell.ok and cell.verified for cell in cells), [cell.error for cell in cells]
    for cell in cells:
        assert cell.baseline_threads == CORES  # the serial baseline: one process with every core
        assert cell.threadpools and all(pool["internal_api"] for pool in cell.threadpools)
        if cell.threads == "auto":  # every back-end, Dask included: each of 2 workers gets its share
            assert cell.threads_per_worker == SHARE and pool_threads(cell) == {SHARE}, cell.label()
            assert not cell.threads_oversubscribed
    default = {cell.executor: cell for cell in cells if cell.threads == "default"}
    assert default["dask-local"].threads_per_worker == 1  # Dask's own setting, recorded as it was
    chosen = library_default()
    for name in ("thread-pool", "multiprocessing", "process-pool", "mpi-pool"):  # as the library starts
        cell = default[name]
        assert cell.threads_per_worker == chosen and pool_threads(cell) == {chosen}, cell.label()
        # two workers with a thread per core each oversubscribe the cores, and the table says so
        assert cell.threads_oversubscribed == (2 * chosen > CORES)
    if CORES >= 2 and chosen == CORES:
        assert any(note.startswith("t workers x inner threads exceed the cores") for note in summary_notes(cells))


@pytest.mark.slow
@pytest.mark.dask
def test_dask_own_thread_default_changes_only_the_default_cells(tmp_path):
    """A user's Dask configuration that gives its workers 2 BLAS threads: under auto the suite's rule
    still holds (so the recommendation cannot change with it); under default Dask's own is recorded."""
    config = tmp_path / "dask"
    config.mkdir()
    variables = "".join(f"      {name}: 2\n" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"))
    (config / "threads.yaml").write_text(f"distributed:\n  nanny:\n    pre-spawn-environ:\n{variables}")
    env = {"DASK_CONFIG": str(config)}
    args = ("--executors", "dask-local", "--workers", "2", "--threads", "default,auto", *LINALG)
    cells = sweep(*args, cwd=tmp_path, env=env)
    by_spec = {cell.threads: cell for cell in cells}
    assert by_spec["auto"].threads_per_worker == SHARE and pool_threads(by_spec["auto"]) == {SHARE}
    assert by_spec["default"].threads_per_worker == 2 and pool_threads(by_spec["default"]) == {2}


def test_a_number_of_threads_is_set_in_the_driver_and_restored():
    """serial and thread-pool cells run in the driver: their threads are set around each run, and the
    driver's own are as they were afterwards."""
    matrix = Matrix(
        executors=("serial", "thread-pool"), workloads=("linalg",), workers=(1,), sizes=(4,), chunksizes=(2,),
        threads=(1, "auto"), repeats=1,
    )  # fmt: skip
    before = inner.pools()
    cells = bench.sweep(matrix).cells
    assert [(cell.executor, cell.threads, cell.threads_per_worker) for cell in cells] == [
        ("serial", "1", 1), ("serial", "auto", CORES), ("thread-pool", "1", 1), ("thread-pool", "auto", CORES)
    ]  # fmt: skip
    assert all(pool_threads(cell) == {cell.threads_per_worker} for cell in cells)
    assert inner.pools() == before


@pytest.mark.slow
def test_mpi_comm_ranks_take_the_threads_of_each_executor(tmp_path):
    done = mpiexec(3, "--executors", "mpi-comm", "--workers", "1,2", "--threads", "auto", *LINALG, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    cells = {cell.workers: cell for cell in journal_of(done, tmp_path).cells}
    assert pool_threads(cells[1]) == {CORES} and pool_threads(cells[2]) == {SHARE}


class _Burner(Progress):
    """Starts a CPU burner, outside the run's processes, while the ``target`` executor's group runs."""

    def __init__(self, target):
        self.target, self.pid, self.done = target, None, False

    def run_started(self, label, phase):
        if label.startswith(self.target) and self.pid is None and not self.done:
            # started by a shell that exits at once: the burner is no descendant of the driver
            loop = f"{sys.executable} -c 'while True: pass' >/dev/null 2>&1 & echo $!"
            self.pid = int(subprocess.run(["sh", "-c", loop], capture_output=True, text=True, timeout=30).stdout)

    def cell_finished(self, record):
        if record.executor_label() == self.target:
            self.stop()

    def stop(self):
        if self.pid is not None:
            try:
                burner = psutil.Process(self.pid)
                burner.kill()
                burner.wait(10)
            except psutil.NoSuchProcess:
                pass
            self.pid, self.done = None, True


@pytest.mark.alone  # it measures the machine: by itself
@pytest.mark.slow
def test_a_cpu_burner_marks_exactly_the_cells_it_overlapped(tmp_path):
    matrix = Matrix(
        executors=("serial", "thread-pool", "process-pool"), workloads=("spin",), workers=(1,), sizes=(12,),
        chunksizes=(4,), params={"task_us": ("10000",)}, threads=("auto",), repeats=4,
    )  # fmt: skip
    expected = [("serial", False), ("thread-pool", True), ("process-pool", False)]
    for attempt in range(3):  # a process outside the test may load the machine too: then the sweep runs again
        burner = _Burner("thread-pool x1")
        try:
            results = bench.sweep(matrix, tmp_path / str(attempt), progress=burner)
        finally:
            burner.stop()
        cells = results.cells
        assert cells[1].busy, cells[1].load  # the burner's cell, every time
        if [(cell.executor, cell.busy) for cell in cells] == expected:
            break
    assert [(cell.executor, cell.busy) for cell in cells] == expected, [cell.load for cell in cells]
    burned = cells[1].load
    assert burned["other_cores"] > cpuload.BUSY_SHARE * CORES and burned["seconds"] > 0
    line = cpuload.busy_line(cells)
    assert line.startswith("the machine was busy during 1 cell (other processes used ") and "run again" in line
    assert any(note.startswith("b busy") for note in summary_notes(cells))
    # the report says it, and so does a comparison with it
    from bench.analysis import findings as analysis
    from bench.analysis.compare import compare
    from bench.cli.compare import header

    notes = [note for case in analysis.analyse(results).cases for note in case.notes]
    assert any("The machine was busy while 1 cell(s) ran" in note for note in notes)
    quiet = bench.load(results.path)
    assert any(line.startswith("Warning: in B, the machine was busy") for line in header(compare(quiet, results)))


class _StopInRound(Progress):
    """A real SIGINT at the ``round``-th timed run of the first cell of ``group``."""

    def __init__(self, group, round_):
        self.group, self.round = group, round_

    def run_started(self, label, phase):
        if label.startswith(self.group) and phase == f"run {self.round}":
            signal.raise_signal(signal.SIGINT)


def test_an_interrupted_group_keeps_its_rounds_and_resume_completes_them(tmp_path):
    matrix = Matrix(
        executors=("serial", "thread-pool"), workloads=("fibprimes",), workers=(1,), sizes=(300,),
        chunksizes=(8, 16), threads=("auto",), repeats=6,
    )  # fmt: skip
    with pytest.raises(Interrupted) as stopped:
        bench.sweep(matrix, tmp_path, progress=_StopInRound("thread-pool x1", 4))
    kept = stopped.value.results.cells
    # the serial group finished; both thread-pool cells were measured for 3 rounds, and are kept so
    assert [(cell.executor, cell.stopped, len(cell.times_s)) for cell in kept] == [
        ("serial", "rounds", 6), ("thread-pool", "interrupted", 3), ("thread-pool", "interrupted", 3)
    ]  # fmt: skip
    assert all(cell.ok and cell.verified for cell in kept) and all(cell.paired for cell in kept[1:])
    [journal] = tmp_path.glob("*.jsonl")
    assert bench.load(journal).cells == kept
    resumed = bench.resume(journal)
    final = resumed.cells
    assert [(cell.executor, cell.stopped, len(cell.times_s), cell.prior_rounds) for cell in final] == [
        ("serial", "rounds", 6, None), ("thread-pool", "rounds", 6, 3), ("thread-pool", "rounds", 6, 3)
    ]  # fmt: skip
    for before, after in zip(kept[1:], final[1:], strict=True):  # the rounds it had open the completed record
        assert after.times_s[:3] == before.times_s and after.baseline_s[:3] == before.baseline_s
    # a complete journal: nothing to resume, nothing appended
    size = journal.stat().st_size
    with pytest.warns(UserWarning, match="nothing to resume: every cell of .* is complete"):
        again = bench.resume(journal)
    assert journal.stat().st_size == size and again.cells == final


#: A process that makes its temporary folder, lists two files as its own (one that it may own, one that it may
#: not), and is killed with SIGKILL: nothing of it can run at its end.
KILLED = """
import os, signal, sys
from pathlib import Path
from bench.host import scratch
folder = scratch.folder()
(folder / "dask-xyz").mkdir()
mine, theirs = Path(sys.argv[1]) / "mpich_shm_Ab12Cd", Path(sys.argv[1]) / "precious.txt"
mine.write_text("segment")
theirs.write_text("not ours")
scratch.own([mine, theirs])
print(folder, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_folder_of_a_killed_process_goes_with_its_watcher_at_once(tmp_path, scratch):
    done = subprocess.run(
        [sys.executable, "-c", KILLED, str(tmp_path)],
        env={**os.environ, "TMPDIR": str(scratch), "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout.startswith(f"{scratch}/bench-")
    assert left_in(scratch, wait_s=WATCHED_S) == []  # its folder, without a next sweep
    assert not (tmp_path / "mpich_shm_Ab12Cd").exists()  # and what it listed that it may own
    assert (tmp_path / "precious.txt").read_text() == "not ours"


def test_leftovers_of_killed_runs_are_removed_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"bench-{dead.pid}-abcd1234"
    (stale / "dask-xyz").mkdir(parents=True)
    hydra = tmp_path / "hydra_hwloc_xmlfile_Ab12Cd"
    hydra.write_text("<topology/>")
    others = [tmp_path / "hydra_hwloc_xmlfile_Zz99Yy", tmp_path / "precious.txt"]
    for other in others:
        other.write_text("not ours")
    (stale / "owned").write_text(f"{hydra}\n{others[1]}\n")  # a listed file that no helper writes: kept
    alive = tmp_path / f"bench-{os.getpid()}-live"
    alive.mkdir()
    unrelated = tmp_path / "bench-notes"
    unrelated.mkdir()
    assert scratch.remove_stale() == [stale]
    assert not stale.exists() and not hydra.exists()
    assert all(path.exists() for path in [*others, alive, unrelated])


@pytest.mark.slow
@pytest.mark.dask
def test_kill_9_of_the_driver_leaves_nothing_behind_and_resume_completes(tmp_path, scratch):
    # runs of 0.4 s: long enough to be killed in, short enough to resume
    command = [sys.executable, str(ROOT / "bench" / "run.py"), "--executors", "dask-local", "--workloads", "spin"]
    command += ["--size", "4", "--param", "task_us=100000", "--workers", "1", "--chunksizes", "1", "--repeats", "3"]
    command += ["--trace", "off"]
    env = {**os.environ, "TMPDIR": str(scratch), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*command, "--out", "out"], cwd=tmp_path, env=env, start_new_session=True, stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not any(path.name.startswith("dask-") for path in scratch.glob("bench-*/*")):
            assert process.poll() is None and time.monotonic() < deadline, "no Dask scratch space"
            time.sleep(0.1)
        time.sleep(1)
        workers = psutil.Process(process.pid).children(recursive=True)
        process.kill()  # the driver alone, without a word: its helpers see it go and end
        process.communicate()
        assert still_running(workers, wait_s=30) == []
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    # the folder's watcher removed it as the driver ended (Dask's scratch space with it)
    assert left_in(scratch, wait_s=WATCHED_S) == []
    [journal] = (tmp_path / "out").glob("*.jsonl")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--resume", str(journal), "--quiet"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert left_in(scratch, wait_s=10) == []


def test_case_estimates():
    fib = estimate.probe("fibprimes", 300, {"order": "ascending", "producer": "generator"}, "fib", None)
    assert fib.exact and fib.probed_size == 300 and fib.peak_bytes is None  # it ran whole: it fits
    noop = estimate.probe("noop", 10**12, {}, "noop[10^12]", None)
    assert not noop.exact and noop.exponent >= 1 and noop.probed_size < 10**12
    # memory grows with the items: a trillion results cannot fit any machine of today
    assert noop.peak_bytes > 10**12 and "of memory" in estimate.refusal(noop, None, 10**12)
    assert estimate.refusal(fib, 1e6, 10**12) is None
    assert estimate.probe("fault-raise", 16, {}, "f", None) is None  # fails on purpose: not probed
    assert "fault-hang" in workloads.names()


@pytest.mark.parametrize("spec", ["auto", "default", "1", "4096"])
def test_threads_specs(spec):
    assert inner.check(spec) == spec
    assert inner.per_worker("auto", 3) == 3 and inner.per_worker("default", 3) is None
    assert inner.per_worker("2", 3) == 2


def test_the_job_environment_of_dask_slurm_carries_the_threads():
    from bench.executors.dask import DaskSlurm

    lines = DaskSlurm(1, threads=1).thread_prologue()
    assert "export OMP_NUM_THREADS=1" in lines and "export OPENBLAS_NUM_THREADS=1" in lines
    [inherit] = [line for line in lines if line.startswith("export DASK_INTERNAL_INHERIT_CONFIG=")]
    import dask.config

    config = dask.config.deserialize(inherit.split("=", 1)[1].strip("'"))
    assert config["distributed"]["nanny"]["pre-spawn-environ"]["OMP_NUM_THREADS"] == "1"
    assert DaskSlurm(1).thread_prologue() == []  # default: Dask's own


def test_a_journal_from_before_inner_threads_loads_as_default(tmp_path):
    from tests.journals import cell, write_journal

    path = write_journal(tmp_path / "old.jsonl", [cell("process-pool", 2, 1.5)])
    [old] = bench.load(path).cells
    assert old.threads is None and old.threads_label() == "" and old.threadpools is None
    assert json.loads(path.read_text().splitlines()[1]).get("threads") is None
