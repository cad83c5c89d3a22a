"""SIGINT and SIGTERM at several moments of a sweep: the journal keeps every finished cell, nothing is
left behind (processes, temporary folders), and ``--resume`` completes the run.

The signals are real: sent from outside to the driver's process group, as a
terminal's Ctrl-C or a batch system's SIGTERM at walltime would.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import bench
import bench.executors
from bench.data.journal import Journal
from bench.host.scratch import WATCHER
from bench.measuring.plan import Matrix
from bench.measuring.runner import Interrupted, Progress, _Interrupts
from conftest import ROOT, left_in, unavailable
from tests.helpers import command_line, ray_folders_left, still_running

#: Two groups (x1, then x2) of eight paired rounds: long enough to be stopped in either (a second into the
#: x2 group, two or three of its rounds are done). Tasks that sleep (20 ms each, 0.12 s a serial run): the
#: signals are the test, and the tests beside it keep the CPU.
SWEEP = (
    "--workloads sleep --size 6 --param task_us=20000 --workers 1,2 --chunksizes 2 --threads auto --repeats 8 "
    "--trace off --out out"
)
RUN = [sys.executable, str(ROOT / "bench" / "run.py")]
#: The same, signalled alone (kill PID) rather than as a process group.
SINGLETON = list(RUN)
#: In the command line of every worker process (and of MPICH's process manager).
WORKER = ("python", "mpiexec")
#: The launch the documentation gives for MPI: rank 0 measures, the others serve.
MPIEXEC = [str(Path(sys.executable).parent / "mpiexec"), "-n", "3", sys.executable, "-m", "mpi4py", *RUN[1:]]


class Driver:
    """The sweep in a session of its own; every process it starts is remembered."""

    def __init__(self, launch, executor, cwd, scratch):
        command = [*launch, "--executors", executor, *SWEEP.split()]
        self.cwd, self.env = cwd, {**os.environ, "TMPDIR": str(scratch), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            start_new_session=True,
        )
        self.seen: dict[int, psutil.Process] = {}
        self.lines: list[str] = []

    def look(self, since=frozenset()):
        """Remember the driver's descendants; returns how many of them are workers (not a ``git`` or
        ``lscpu`` asked for the run's provenance, nor the watcher of a temporary folder), of those not in
        ``since``."""
        try:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                self.seen.setdefault(child.pid, child)
        except psutil.Error:
            pass
        workers = [
            pid
            for pid, child in self.seen.items()
            if any(word in command_line(child) for word in WORKER) and WATCHER not in command_line(child)
        ]
        return sum(pid not in since for pid in workers)

    def wait_for(self, condition, what, timeout=120):
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"the run ended before {what}: {self.process.communicate()}"
            assert time.monotonic() < deadline, f"no {what} within {timeout} s"
            time.sleep(0.02)

    def first_line(self):
        """Block until the run prints its first cell line (the x1 group is done)."""
        self.lines.append(self.process.stdout.readline())
        return self.lines[-1]

    def stop(self, signum, group, timeout=60):
        self.look()
        if group:  # as a terminal's Ctrl-C, or a batch system's signal to every process of the job
            os.killpg(self.process.pid, signum)
        else:  # kill PID
            self.process.send_signal(signum)
        try:
            out, err = self.process.communicate(timeout=timeout)
        finally:
            self.kill()
        return "".join(self.lines) + out, err

    def resume(self, path):
        command = [*self.process.args[: self.process.args.index("--executors")], "--resume", path, "--quiet"]
        return subprocess.run(
            command, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=240, start_new_session=True
        )

    def kill(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.communicate()

    def left_running(self, wait_s=15):
        return [command_line(p)[:100] for p in still_running(list(self.seen.values()), wait_s)]


def needs(executor):
    reason = bench.executors.get(executor).available()
    if reason:
        unavailable(reason)


@pytest.mark.parametrize(
    ("launch", "executor", "moment", "signum"),
    [
        (RUN, "process-pool", "early", signal.SIGTERM),
        (RUN, "multiprocessing", "start-up", signal.SIGTERM),
        (RUN, "multiprocessing", "rounds", signal.SIGINT),
        # a batch system's SIGTERM to every process of the job: the Pool's workers die holding its locks
        (RUN, "multiprocessing", "rounds", signal.SIGTERM),
        (RUN, "process-pool", "rounds", signal.SIGHUP),  # the terminal was closed
        (RUN, "process-pool", "start-up", signal.SIGINT),
        (RUN, "process-pool", "rounds", signal.SIGTERM),
        (RUN, "thread-pool", "rounds", signal.SIGTERM),
        # a Ctrl-C while the Dask cluster starts: held until it has started, then it stops the run
        pytest.param(RUN, "dask-local", "start-up", signal.SIGINT, marks=pytest.mark.dask),
        pytest.param(RUN, "dask-local", "rounds", signal.SIGTERM, marks=pytest.mark.dask),
        # a terminal's Ctrl-C reaches the driver and every Dask worker: one line, no Dask noise (by itself:
        # a busy machine stretches the x2 cluster's start past the moment the test means)
        pytest.param(RUN, "dask-local", "rounds", signal.SIGINT, marks=[pytest.mark.dask, pytest.mark.alone]),
        (RUN, "joblib", "rounds", signal.SIGINT),
        (RUN, "ray", "start-up", signal.SIGINT),
        (RUN, "ray", "rounds", signal.SIGTERM),
        # an MPICH singleton: the command passes the group's signal on to the measuring process alone, in a
        # group of its own, so that the process manager MPICH started for the spawn does not end the job
        # at once (docs/faults.md, "Interrupts")
        (SINGLETON, "mpi-pool", "start-up", signal.SIGTERM),
        (SINGLETON, "mpi-pool", "rounds", signal.SIGINT),
        (MPIEXEC, "mpi-comm", "journal", signal.SIGINT),
        (MPIEXEC, "mpi-comm", "rounds", signal.SIGTERM),
        (MPIEXEC, "mpi-pool", "rounds", signal.SIGINT),
    ],
    ids=lambda value: {id(MPIEXEC): "mpiexec", id(RUN): "", id(SINGLETON): "driver-only"}.get(id(value)),
)
@pytest.mark.slow
def test_a_signal_keeps_the_finished_cells_leaves_nothing_behind_and_resume_completes(
    tmp_path, scratch, launch, executor, moment, signum
):
    needs(executor)
    rays = set(Path("/tmp").glob("bench-ray-*"))  # a local Ray's folder, where the test's TMPDIR is too deep
    driver = Driver(launch, executor, tmp_path, scratch)
    try:
        if moment == "early":  # as soon as the driver starts a process (it asks git for the run's provenance)
            driver.wait_for(lambda: driver.seen or driver.look(), "process")
            finished = 0
        elif moment == "start-up":  # the journal is open and the first worker process (or MPI's launcher) exists
            driver.wait_for(lambda: list((tmp_path / "out").glob("*.jsonl")) and driver.look(), "worker process")
            finished = 0
        elif moment == "journal":  # the run record is written, the first executor starts
            driver.wait_for(lambda: list((tmp_path / "out").glob("*.jsonl")), "journal")
            finished = 0
        else:  # the x1 group is done and the x2 group has started
            assert driver.first_line().startswith(f"ok       {executor} x1"), driver.lines
            driver.look()
            # new workers for the x2 group, beside the x1 group's and the helpers that live as long as the run;
            # mpi-comm's are the launch's ranks, there from the start
            before = frozenset(driver.seen) if executor != "mpi-comm" else frozenset()
            want = 2 if executor != "thread-pool" else 0
            driver.wait_for(lambda: driver.look(since=before) >= want, "x2 workers")
            time.sleep(1)  # into the x2 group's rounds: a cell cut short keeps the rounds it has
            finished = 1
        out, err = driver.stop(signum, group=True)
    finally:
        driver.kill()
    assert driver.process.returncode == 128 + signum, err
    how = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    journals = list((tmp_path / "out").glob("*.jsonl"))
    if moment == "early" and not journals:  # stopped before there was anything to keep
        assert err.splitlines()[-1] == how
        assert driver.left_running() == [] and left_in(scratch) == []
        return
    [journal] = journals
    path = f"out/{journal.name}"
    kept = bench.load(journal).cells
    # the x2 cell, stopped after a round or more, is kept with the rounds it has
    cut = [cell for cell in kept if cell.interrupted]
    assert all(cell.workers == 2 and cell.ok and 1 <= len(cell.times_s) < 8 for cell in cut)
    short = f" and {len(cut)} cut short" if cut else ""
    said = f"{how}; {finished} finished cell(s){short} kept in {path}; --resume {path} goes on"
    # the last line, but for the warnings of a busy machine; nothing else (no library's noise)
    assert [line for line in err.splitlines() if not line.startswith("warning: ")][-1:] == [said], err
    if executor == "dask-local":
        assert all(line == said or line.startswith("warning: the machine was busy") for line in err.splitlines())
    assert [(cell.workers, cell.status) for cell in kept if not cell.interrupted] == [(1, "ok")] * finished
    assert driver.left_running() == []
    assert left_in(scratch, wait_s=10) == []  # no pymp-*, no Dask scratch space
    assert ray_folders_left(rays) == []
    if launch is RUN and executor != "process-pool":
        # What --resume meets is the journal, whose shape after a signal depends on the moment and the
        # launch, not on the executor: process-pool resumes for every plain run, and each MPI launch
        return

    done = driver.resume(path)
    assert done.returncode == 0, done.stderr
    kinds = [json.loads(line)["kind"] for line in journal.read_text().splitlines()]
    kinds = [kind for kind in kinds if kind != "trace"]  # each traced cell's trace records follow it
    assert kinds == ["run", *["cell"] * (finished + len(cut)), "resume", *["cell"] * (2 - finished)]
    cells = bench.load(journal).cells
    assert sorted(cell.workers for cell in cells) == [1, 2] and all(cell.complete and cell.verified for cell in cells)
    # a cut-short cell goes on from its rounds: they open the completed record
    for before in cut:
        [after] = [cell for cell in cells if cell.workers == 2]
        assert after.prior_rounds == len(before.times_s) and after.times_s[: len(before.times_s)] == before.times_s
        assert len(after.times_s) == 8
    assert left_in(scratch, wait_s=10) == []


class _StopAt(Progress):
    """Raises a real SIGINT at the ``at``-th run of a sweep."""

    def __init__(self, at):
        self.at, self.runs = at, 0

    def run_started(self, label, phase):
        self.runs += 1
        if self.runs == self.at:
            signal.raise_signal(signal.SIGINT)


def test_an_interrupted_group_keeps_the_cells_it_had_finished(tmp_path):
    # One group: fault-raise fails in its first round, noop goes on until the interrupt.
    matrix = Matrix(
        executors=("thread-pool",), workers=(1,), workloads=("fault-raise", "noop"), sizes=(16,), chunksizes=(4,)
    )
    with pytest.raises(Interrupted) as stopped:
        bench.sweep(matrix, tmp_path, progress=_StopAt(8))
    failed, cut = stopped.value.results.cells
    assert failed.workload == "fault-raise" and failed.status == "error"
    # noop had measured rounds when the interrupt came: kept with them, for --resume to complete
    assert cut.workload == "noop" and cut.ok and cut.interrupted and 1 <= len(cut.times_s) < 3
    [journal] = tmp_path.glob("*.jsonl")
    assert bench.load(journal).cells == [failed, cut]


def test_a_signal_while_a_journal_line_is_written_waits_for_the_line():
    interrupts = _Interrupts(Progress())
    written = []
    with interrupts.installed(), pytest.raises(KeyboardInterrupt) as raised, interrupts.held():
        signal.raise_signal(signal.SIGTERM)  # delivered here, raised only after the block
        written.append("the whole line")
    assert written == ["the whole line"] and raised.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_run_record_is_written_leaves_a_journal_that_resume_completes(tmp_path, monkeypatch, signum):
    """The moment between the journal's creation and the first run: a journal there holds its run
    record, the interrupt says where it is, and --resume measures every cell."""
    write = Journal.write

    def signalled(journal, record):
        if record.kind == "run":
            signal.raise_signal(signum)  # delivered here, as the line is written
        write(journal, record)

    monkeypatch.setattr(Journal, "write", signalled)
    matrix = Matrix(
        executors=("thread-pool",), workers=(1,), workloads=("noop",), sizes=(16,), chunksizes=(4,), repeats=2
    )
    with pytest.raises(Interrupted) as stopped:
        bench.sweep(matrix, tmp_path)
    monkeypatch.undo()
    [journal] = tmp_path.glob("*.jsonl")
    assert stopped.value.signum == signum and stopped.value.results.path == journal
    loaded = bench.load(journal)
    assert len(loaded.runs) == 1 and loaded.cells == []
    resumed = bench.resume(journal)
    assert [cell.executor for cell in resumed.cells] == ["thread-pool"] and all(c.ok for c in resumed.cells)
    assert signal.getsignal(signum) in (signal.SIG_DFL, signal.default_int_handler)
