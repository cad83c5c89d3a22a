"""Real MPI: mpiexec (MPICH from the wheel) started by the tests, always with a timeout."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import bench
from bench.host.scratch import WATCHER
from conftest import ROOT, left_after_an_abort
from tests.helpers import command_line, still_running

MPIEXEC = Path(sys.executable).parent / "mpiexec"
RUN = [sys.executable, "-m", "mpi4py", str(ROOT / "bench" / "run.py")]


def mpiexec(n, *args, cwd, timeout=240, env=None, runner=RUN, watch=None):
    """Run ``mpiexec -n N python -m mpi4py bench/run.py ARGS``; kill the whole launch on timeout."""
    assert MPIEXEC.exists(), "the mpich wheel provides mpiexec next to python"
    command = [str(MPIEXEC), "-n", str(n), *runner, *args]
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    try:
        if watch is not None:
            watch(process, deadline)
        stdout, stderr = process.communicate(timeout=max(deadline - time.monotonic(), 1))
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def journal_of(done, cwd):
    assert done.stdout.strip().endswith(".jsonl"), (done.stdout, done.stderr)
    return bench.load(cwd / done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 3, 5])
def test_mpi_executors_know_the_answer_under_mpiexec(n, tmp_path, fib_oracle):
    done = mpiexec(
        n,
        "--executors",
        "mpi-comm,mpi-pool",
        "--workers",
        "1,2,4",
        "--workloads",
        "fibprimes",
        "--size",
        "600",
        "--chunksizes",
        "1,auto",
        "--repeats",
        "1",
        "--trace",
        "off",
        "--quiet",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    loaded = journal_of(done, tmp_path)
    [run], cells = loaded.runs, loaded.cells
    env = run.env
    assert env["mpi_library"].startswith("MPICH Version:") and env["mpi_version"] in ("4.0", "4.1", "5.0")
    assert env["mpi_world_size"] == n and env["mpi_launch"] == "mpiexec -m mpi4py"
    for cell in cells:
        comm_fits = cell.workers <= n - 1
        if cell.executor == "mpi-comm" and not comm_fits:
            assert cell.status == "skipped"
            # The command to copy keeps the user's options.
            relaunch = (
                f"mpiexec -n {cell.workers + 1} python -m mpi4py {ROOT}/bench/run.py --executors mpi-comm,mpi-pool"
            )
            assert relaunch in cell.error and cell.error.endswith("--repeats 1 --trace off --quiet")
        else:
            assert cell.status == "ok", cell.error
            assert cell.answer == fib_oracle(600) and cell.verified is True
            assert cell.startup_s > 0
    assert len(cells) == 12


@pytest.mark.slow
def test_mpi_comm_runs_every_workload_under_every_method(tmp_path):
    import workloads

    healthy = [name for name in workloads.names() if not workloads.get(name).fault]
    done = mpiexec(
        3,
        *("--preset", "quick", "--executors", "mpi-comm", "--workers", "2", "--chunksizes", "auto"),
        *("--workloads", ",".join(healthy), "--methods", "map,imap,imap_unordered"),
        # payload at one size, not its sweep up to 1 MiB a task (seconds a run through MPI, for the same paths)
        *("--param", "payload_bytes=4096", "--repeats", "1", "--trace", "off", "--max-case-time", "off", "--quiet"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    cells = journal_of(done, tmp_path).cells
    ok = {(cell.workload, cell.method) for cell in cells if cell.ok and cell.verified}
    expected = {(name, method) for name in healthy for method in ("map", "imap", "imap_unordered")}
    assert ok == expected - {("fibprimes-first", "map")}
    assert all(cell.window == 4 for cell in cells if cell.ok and cell.method != "map")


@pytest.mark.slow
def test_a_raising_task_ends_the_run_with_the_error_journaled(tmp_path, raising_plugin):
    done = mpiexec(
        3,
        "--executors",
        "mpi-comm,mpi-pool",
        "--workloads",
        "raising",
        "--workers",
        "2",
        "--chunksizes",
        "4",
        "--repeats",
        "1",
        "--quiet",
        cwd=tmp_path,
        timeout=120,
        env={"PYTHONPATH": raising_plugin},
    )
    assert done.returncode == 1, done.stderr  # rank 0 exits 1; under -m mpi4py that aborts every rank
    cells = journal_of(done, tmp_path).cells
    assert [(c.executor, c.status) for c in cells] == [("mpi-comm", "error"), ("mpi-pool", "error")]
    assert all(c.error == "ValueError: task 7 refuses to run" for c in cells)


#: A rank's start-up (Python, mpi4py, the suite's imports) busies it; what counts is how it waits after.
STARTED_S = 2.0


def _cpu_watch(samples):
    """Record every rank's CPU time until the launch ends: its first reading once it has started, and its last."""

    def watch(process, deadline):
        launcher = psutil.Process(process.pid)
        while process.poll() is None and time.monotonic() < deadline:
            for child in launcher.children(recursive=True):
                try:
                    if "python" in child.name() and WATCHER not in " ".join(child.cmdline()):  # a rank
                        times, now = child.cpu_times(), time.time()
                        if now - child.create_time() >= STARTED_S:
                            reading = (now, times.user + times.system)
                            samples[child.pid] = (samples.get(child.pid, (reading,))[0], reading)
                except psutil.Error:
                    pass
            time.sleep(0.2)

    return watch


@pytest.mark.alone  # it measures the machine: by itself
@pytest.mark.slow
def test_idle_ranks_do_not_spin(tmp_path):
    samples = {}
    done = mpiexec(
        3,
        "--executors",
        "serial,thread-pool",
        "--workers",
        "1",
        "--workloads",
        "fibprimes",
        "--size",
        "1300",
        "--repeats",
        "2",
        "--chunksizes",
        "auto",
        "--quiet",
        cwd=tmp_path,
        timeout=180,
        watch=_cpu_watch(samples),
    )
    assert done.returncode == 0, done.stderr
    # they are said to serve no cell, once
    assert done.stderr.count("the 2 worker rank(s) of this launch serve only mpi-comm, which no cell here runs") == 1
    busy = sorted((cpu - cpu0) / (last - first) for (first, cpu0), (last, cpu) in samples.values() if last > first)
    assert len(busy) == 3, samples
    # Rank 0 computes for several seconds; ranks 1 and 2 only wait for it.
    assert busy[-1] > 0.5 and busy[1] < 0.1, busy


@pytest.mark.slow
def test_the_default_worker_counts_include_the_ranks_of_the_launch_and_idle_ranks_are_said(tmp_path):
    args = ("--executors", "mpi-comm", "--workloads", "noop", "--size", "16", "--chunksizes", "4", "--repeats", "2")
    done = mpiexec(5, *args, "--quiet", cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr
    counts = sorted(cell.workers for cell in journal_of(done, tmp_path).cells if cell.ok)
    assert counts == sorted({1, 2, bench.host.provenance.available_cores(), 4}), counts  # the launch's 4 worker ranks
    assert "serve no cell" not in done.stderr
    done = mpiexec(4, *args, "--workers", "1", "--quiet", cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("warning: ranks 2-3 of this launch serve no cell (mpi-comm uses at most 1") == 1


@pytest.mark.slow
def _importing_numpy(process):
    """Whether ``process`` has mapped numpy's libraries: the list of its mappings, read at once (psutil's
    memory_maps reads every mapping's statistics, too slow to catch the moment on a busy machine)."""
    try:
        return "numpy" in Path(f"/proc/{process.pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_an_mpi_pool_worker_that_still_imports_is_left_to_the_driver(tmp_path, signum):
    """A launcher forwards Ctrl-C to every process of the job: a spawned worker that took it while it
    imported the modules of its tasks would end with a traceback and make MPI abort the launch."""
    code = (
        "import bench.executors\n"
        "from tests.helpers import square\n"
        "with bench.executors.get('mpi-pool')(1) as pool:\n"
        "    print(pool.map(square, range(4), chunksize=2))\n"
    )
    driver = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        worker = None
        while worker is None and time.monotonic() < deadline and driver.poll() is None:
            try:  # the driver's own, spawned through the mpiexec its MPI started
                spawned = psutil.Process(driver.pid).children(recursive=True)
            except psutil.Error:
                break
            worker = next(
                (p for p in spawned if "mpi4py.futures.server" in command_line(p) and _importing_numpy(p)), None
            )
            time.sleep(0.005)
        assert worker is not None, "no spawned worker was seen importing"
        worker.send_signal(signum)  # it imports numpy: Python is up, the tasks' modules are not
        out, err = driver.communicate(timeout=60)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    assert (driver.returncode, out) == (0, "[0, 1, 4, 9]\n"), err


def test_mpi_pool_runs_as_a_singleton_and_mpi_comm_says_how_to_launch(run_bench, tmp_path, fib_oracle):
    done = run_bench(
        "--executors",
        "mpi-comm,mpi-pool",
        "--workers",
        "2",
        "--workloads",
        "fibprimes",
        "--size",
        "600",
        "--repeats",
        "1",
        "--chunksizes",
        "auto",
        "--out",
        "out",
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    loaded = journal_of(done, tmp_path)
    [run], [comm, pool] = loaded.runs, loaded.cells
    assert comm.status == "skipped"
    assert comm.error == (
        f"mpi-comm needs an MPI launch; run: mpiexec -n 3 python -m mpi4py {ROOT}/bench/run.py "
        "--executors mpi-comm,mpi-pool --workers 2 --workloads fibprimes --size 600 --repeats 1 --chunksizes auto "
        "--out out --quiet"
    )
    assert pool.status == "ok" and pool.answer == fib_oracle(600)
    assert run.env["mpi_launch"] == "singleton" and run.env["mpi_world_size"] == 1


def test_mpiexec_without_dash_m_mpi4py_is_refused_for_mpi_comm(tmp_path):
    done = mpiexec(
        2,
        "--executors",
        "mpi-comm,serial",
        "--workers",
        "1",
        "--workloads",
        "fibprimes",
        "--size",
        "100",
        "--chunksizes",
        "auto",
        "--repeats",
        "1",
        "--quiet",
        cwd=tmp_path,
        timeout=120,
        runner=[sys.executable, str(ROOT / "bench" / "run.py")],
    )
    assert done.returncode == 0, done.stderr
    comm, serial = journal_of(done, tmp_path).cells
    assert comm.status == "skipped" and "launch through -m mpi4py" in comm.error
    assert serial.status == "ok"


def test_missing_mpi4py_says_what_to_install(monkeypatch):
    import importlib.util

    from bench.executors import mpi as mpi_executors

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    reason = mpi_executors.MpiPool.available()
    assert reason == "mpi4py is not installed: pip install -e '.[mpi]' (mpi4py with the mpich wheel)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--executors", "mpi-warp"], "python bench/run.py: error: unknown executor 'mpi-warp'; known: serial"),
        (["--workers", "0"], "python bench/run.py: error: argument --workers: '0' is not a positive integer"),
        (["--precision", "5%"], "python bench/run.py: error: --precision applies only with --repeats auto"),
    ],
)
def test_bad_usage_under_mpiexec_is_said_once_and_exits_2_without_hanging(tmp_path, args, message):
    done = mpiexec(3, *args, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1, done.stderr  # not once per rank
    assert not list(tmp_path.glob("results/*.jsonl"))


def test_an_mpiexec_of_another_mpi_library_is_refused_before_each_rank_sweeps_alone(tmp_path):
    # A launcher's variables without its MPI: what mpi4py sees when mpiexec belongs to another library
    # (each process initialises as a world of 1, and every rank would run the whole sweep).
    env = {**os.environ, "PMI_SIZE": "3", "PMI_RANK": "0"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--executors", "serial", "--size", "20", "--repeats", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "the launcher started 3 processes but mpi4py sees a world of 1 in each" in done.stderr
    assert "(MPICH Version: " in done.stderr and done.stderr.count("\n") == 1
    assert not (tmp_path / "results").exists()


FAULT_RUN = ("--workers", "2", "--chunksizes", "4", "--size", "16", "--repeats", "2", "--cell-timeout", "3", "--quiet")


@pytest.mark.slow
def test_under_mpi_comm_a_raise_is_recorded_and_a_hung_rank_blocks_only_mpi_comm(tmp_path, scratch):
    done = mpiexec(
        3,
        *("--executors", "mpi-comm,process-pool", "--workloads", "fault-raise,fault-hang,noop", *FAULT_RUN),
        cwd=tmp_path,
        timeout=180,
        env={"TMPDIR": str(scratch)},
    )
    assert done.returncode == 1, done.stderr  # rank 0's status, through MPI_Abort: every rank ends
    cells = {(c.executor, c.workload): c for c in journal_of(done, tmp_path).cells}
    assert cells["mpi-comm", "fault-raise"].error.startswith("FaultInjected: fault-raise: task 8 raised")
    hung = cells["mpi-comm", "fault-hang"]
    assert hung.status == "timeout" and "the workers of mpi-comm x2 still run a task" in hung.error
    # the ranks cannot serve another executor in this launch; the other back-ends go on
    assert cells["mpi-comm", "noop"].error == "not run: ranks of this launch still run a task that mpi-comm left behind"
    assert cells["process-pool", "noop"].ok and cells["process-pool", "fault-hang"].status == "timeout"
    assert "ending without waiting for work left running: the workers of mpi-comm x2" in done.stderr
    # the ranks that MPI_Abort ended leave their folders, listing what MPI left: their watchers remove them
    assert left_after_an_abort(scratch) == []  # multiprocessing's folder too


@pytest.mark.slow
def test_a_rank_that_dies_ends_the_launch_which_names_its_cell_and_resume_completes(tmp_path, scratch):
    """MPICH ends every rank when one dies: the suite's own line names the cell, the journal keeps it in a file
    beside it, and each --resume records the crash and measures the rest."""
    run = ("--executors", "mpi-comm", "--workloads", "fault-exit,fault-segv,noop", *FAULT_RUN)
    launches = [mpiexec(3, *run, cwd=tmp_path, timeout=120, env={"TMPDIR": str(scratch)})]
    [path] = (tmp_path / "results").glob("*.jsonl")
    running = path.with_name(path.name + ".running")
    for workload in ("fault-exit", "fault-segv"):
        done = launches[-1]
        assert done.returncode != 0 and running.exists()
        said = [line for line in done.stderr.splitlines() if line.startswith("bench: the MPI launch ended")]
        assert len(said) == 1 and f"mpi-comm x2 {workload}[16]" in said[0], done.stderr
        assert "--resume " in said[0] and f"results/{path.name} to record it as failed" in said[0]
        assert left_after_an_abort(scratch) == []  # the launch's segments and folders, at once
        resume = ("--resume", str(path), "--quiet")
        launches.append(mpiexec(3, *resume, cwd=tmp_path, timeout=120, env={"TMPDIR": str(scratch)}))
    done = launches[-1]
    assert done.returncode == 1 and not running.exists(), done.stderr
    cells = {cell.workload: cell for cell in bench.load(path).cells}
    for workload in ("fault-exit", "fault-segv"):
        crashed = cells[workload]
        assert crashed.status == "error" and crashed.crashed["in"] == "launch", crashed
        assert crashed.error.startswith("a task crashed the MPI launch in ")
    assert cells["noop"].ok and cells["noop"].verified
    nothing = mpiexec(3, "--resume", str(path), "--quiet", cwd=tmp_path, timeout=120)
    assert "nothing to resume" in nothing.stderr  # the crashed cells are not run again
    assert left_after_an_abort(scratch) == []


DRIVER_BUG = '''
import sys, time
import bench

class Bug(bench.Progress):
    """The driver fails in the middle of an mpi-comm cell, while the other ranks work for it."""
    runs = 0

    def run_started(self, label, phase):
        self.runs += 1
        if self.runs == 6:
            print(f"raising at {time.monotonic()}", file=sys.stderr, flush=True)
            raise RuntimeError("a bug in the driver")

matrix = bench.Matrix(
    executors=("mpi-comm",), workers=(2,), workloads=("fibprimes",), sizes=(1500,), chunksizes=(1,), repeats=40
)
bench.sweep(matrix, "out", progress=Bug())
'''


def launch_members(process):
    """The processes of an mpiexec launch: the launcher's descendants (its proxies and ranks)."""
    try:
        return psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        return []


@pytest.mark.slow
def test_an_exception_in_the_driver_ends_every_rank_within_seconds(tmp_path):
    (tmp_path / "driver.py").write_text(DRIVER_BUG)
    members = []

    def watch(process, deadline):
        while not list((tmp_path / "out").glob("*.jsonl")) and time.monotonic() < deadline:
            members.extend(launch_members(process))
            time.sleep(0.05)
        members.extend(launch_members(process))
        ranks.update(p.pid for p in members if "driver.py" in command_line(p))

    ranks = set()
    done = mpiexec(3, cwd=tmp_path, runner=[sys.executable, "-m", "mpi4py", "driver.py"], timeout=120, watch=watch)
    ended = time.monotonic()
    assert done.returncode != 0 and "RuntimeError: a bug in the driver" in done.stderr, done.stderr
    raised = float(done.stderr.split("raising at ")[1].split()[0])
    assert ended - raised < 10  # MPI_Abort from -m mpi4py, not a deadlock of the serving ranks
    assert len(ranks) == 3
    assert still_running(members) == []
    [journal] = (tmp_path / "out").glob("*.jsonl")
    assert bench.load(journal).runs  # the journal loads: its run record, no cell yet


@pytest.mark.slow
def test_kill_9_of_rank_0_ends_the_launch_and_leaves_nothing_behind(tmp_path, scratch):
    members, owned = [], []

    def rank_0(process):
        for member in launch_members(process):
            try:
                if member.environ().get("PMI_RANK") == "0" and "bench/run.py" in command_line(member):
                    return member
            except psutil.Error:
                pass
        return None

    def watch(process, deadline):
        while not list((tmp_path / "results").glob("*.jsonl")):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        time.sleep(1)  # into the mpi-comm cell
        members.extend(launch_members(process))
        # what the ranks made outside their folders (MPI's shared-memory segments) and listed as theirs
        owned.extend(Path(line) for listing in scratch.glob("bench-*/owned") for line in listing.read_text().split())
        rank_0(process).send_signal(signal.SIGKILL)
        watch.killed = time.monotonic()

    args = ("--executors", "mpi-comm", "--workers", "2", "--workloads", "fibprimes", "--size", "1500")
    done = mpiexec(
        3, *args, "--chunksizes", "1", "--repeats", "40", cwd=tmp_path, timeout=120, watch=watch,
        env={"TMPDIR": str(scratch)},
    )  # fmt: skip
    assert done.returncode != 0
    assert time.monotonic() - watch.killed < 15  # the launch ended on its own, well before the timeout
    assert still_running(members) == []
    # within 5 s of the launch's end, without a next sweep: no folder, no segment in /dev/shm
    assert any(path.parent == Path("/dev/shm") for path in owned), owned
    assert left_after_an_abort(scratch) == []
    assert [path for path in owned if path.exists()] == []
    [journal] = (tmp_path / "results").glob("*.jsonl")
    assert bench.load(journal).runs
