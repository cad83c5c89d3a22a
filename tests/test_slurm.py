"""dask-slurm and batch sweeps on a real Slurm: two slurmd nodes on this machine.

The test command starts it (``scripts/local-slurm.sh start``) and stops it
afterwards. Every Slurm call here has a timeout; under CI a missing Slurm
fails these tests instead of skipping them.
"""

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import dask.config
import psutil
import pytest

import bench
import bench.executors
import workloads
from bench.executors import dask as dask_executors
from bench.host import slurm
from bench.measuring import batch
from bench.measuring.plan import Matrix, build
from conftest import ROOT, left_in
from tests.helpers import fail_on_13, nap

pytestmark = pytest.mark.slurm

DaskSlurm = bench.executors.get("dask-slurm")
#: Jobs here start within seconds; a fault should fail a test long before the default 600 s.
FAST = {"ready_timeout": "60"}


def squeue():
    return slurm.queued()


def gone(job_ids):
    """True once Slurm lists none of ``job_ids`` (cancelled jobs pass through 'completing' first)."""
    slurm.wait(job_ids, timeout=20, poll_s=0.2)  # TimeoutError otherwise
    return True


def jobs_seen(job_ids, out):
    """What Slurm says of ``job_ids`` and the last lines of their output in ``out``, for a failure."""
    said = [slurm.command("squeue", "--noheader", "--format=%i %T %R %N", "--jobs=" + ",".join(job_ids))]
    said += [slurm.command("sinfo", "--noheader", "--Node", "--format=%N %T %E")]
    for log in sorted(out.glob("*")) if out.is_dir() else []:
        if log.is_file() and not log.name.endswith(".jsonl"):
            said.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:]))
    return "\n" + "\n".join(said)


# -- the dask-slurm executor ----------------------------------------------------


@pytest.mark.slow
def test_dask_slurm_answers_fibprimes_with_one_job_on_each_node(slurm_nodes, fib_oracle):
    w = workloads.get("fibprimes")
    with DaskSlurm(2, **FAST) as pool:
        ids = pool.job_ids()
        assert len(ids) == 2 and set(ids) <= set(squeue())
        assert w.reduce(pool.map(w.task, w.items(1500), chunksize=16)) == fib_oracle(1500)
        placed = pool.placement()
    assert placed["nodes"] == slurm_nodes
    assert sorted(job["job_id"] for job in placed["slurm_jobs"]) == ids
    assert sorted(job["node"] for job in placed["slurm_jobs"]) == slurm_nodes
    assert all(job["submitted"] and job["started"] for job in placed["slurm_jobs"])
    assert placed["queue_wait_s"] == max(job["queue_wait_s"] for job in placed["slurm_jobs"]) >= 0
    assert gone(ids), squeue()


@pytest.mark.slow
def test_a_raising_task_leaves_no_job_behind(slurm_nodes):
    with pytest.raises(ValueError, match="unlucky 13"), DaskSlurm(1, **FAST) as pool:
        ids = pool.job_ids()
        pool.map(fail_on_13, range(20), chunksize=4)
    assert ids and gone(ids), squeue()


@pytest.mark.slow
def test_timeout_then_abort_cancels_the_jobs(slurm_nodes):
    pool = DaskSlurm(1, **FAST).__enter__()
    ids = pool.job_ids()
    try:
        with pytest.raises(TimeoutError):
            pool.map(nap, [0.5] * 8, chunksize=1, timeout=0.2)
    finally:
        pool.abort()
    assert ids and gone(ids), squeue()


def test_more_workers_than_slurm_cpus_are_skipped_with_the_count(slurm_nodes):
    cpus = sum(slurm.node_cpus().values())
    [group] = build(Matrix(executors=("dask-slurm",), workers=(cpus + 1,), sizes=(100,), chunksizes=(1,)))
    assert group.skipped
    assert (
        f"{cpus + 1} workers need {cpus + 1} CPUs at once; the nodes have {cpus} in all" in group.cells[0].skip_reason
    )
    # judged against the nodes' CPUs, not the driver's cores: no 4-per-core limit applies either
    [fits] = build(Matrix(executors=("dask-slurm",), workers=(cpus,), sizes=(100,), chunksizes=(1,)))
    assert not fits.skipped and not fits.cells[0].oversubscribed


@pytest.mark.slow
def test_a_sweep_records_options_jobs_nodes_and_start_up(run_bench, tmp_path, slurm_nodes):
    done = run_bench(
        "--executors=dask-slurm",
        "--workers=1,2",
        "--chunksizes=16",
        "--size=400",
        "--workloads=fibprimes",
        "--repeats=2",
        "--executor-option",
        "walltime=00:05:00",
        "--executor-option=ready_timeout=60",
        "--quiet",
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    cells = bench.load(tmp_path / done.stdout.strip()).cells
    assert [(cell.workers, cell.status) for cell in cells] == [(1, "ok"), (2, "ok")]
    for cell in cells:
        assert cell.verified and cell.paired
        assert cell.options["walltime"] == "00:05:00" and cell.options["ready_timeout"] == 60.0
        assert cell.options["memory"] == "1GiB" and cell.options["partition"] is None
        assert len(cell.slurm_jobs) == cell.workers == len(cell.nodes)
        # part of the start-up; Slurm's submit and start times are whole seconds, so the wait may read 1 s more
        assert 0 <= cell.queue_wait_s <= cell.startup_s + 1
        assert gone([job["job_id"] for job in cell.slurm_jobs]), squeue()
    assert cells[1].nodes == slurm_nodes
    # the workers' clocks, measured from round trips: the nodes share this host's clock, so about zero
    traces = bench.load(tmp_path / done.stdout.strip())
    for cell in cells:
        clock = traces.trace_of(cell).clock
        assert not clock["shared"] and sorted(clock["offsets"]) == cell.nodes
        for found in clock["offsets"].values():
            assert 0 < found["uncertainty_s"] < 0.1 and abs(found["offset_s"]) <= found["uncertainty_s"] + 1e-3


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_or_sigterm_cancels_the_jobs(tmp_path, scratch, slurm_nodes, signum, status):
    command = [sys.executable, str(ROOT / "bench" / "run.py"), "--executors=dask-slurm", "--workers=2"]
    command += ["--size=3000", "--workloads=fibprimes", "--repeats=20", "--chunksizes=1"]
    command += ["--executor-option=ready_timeout=60"]
    before = set(squeue())
    env = {**os.environ, "TMPDIR": str(scratch)}  # the jobs inherit it, as Slurm passes the environment on
    with subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        try:
            deadline = time.monotonic() + 60
            while sum(slurm.job_facts(job)["state"] == "RUNNING" for job in set(squeue()) - before) < 2:
                assert time.monotonic() < deadline, "the worker jobs did not start"
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.2)
            ids = sorted(set(squeue()) - before)
            time.sleep(2)  # into the timed rounds
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
    assert proc.returncode == status, err
    assert "finished cell(s) kept in" in err.splitlines()[-1]
    assert gone(ids), squeue()
    # no scratch space left: the driver's scheduler's, nor each worker job's (removed as the job ends)
    assert left_in(scratch, wait_s=30) == []


#: A worker that does not stop at scancel's SIGTERM, as a Dask nanny caught restarting its worker may not:
#: it ignores the signal, holds a named semaphore (multiprocessing's resource tracker knows it) and
#: has a child process.
STUCK_WORKER = """
import multiprocessing, signal, time
if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    context = multiprocessing.get_context("spawn")
    lock = context.Lock()
    child = context.Process(target=time.sleep, args=(600,))
    child.start()
    print(lock._semlock.name, child.pid, flush=True)
    time.sleep(600)
"""


def test_a_worker_job_that_ignores_scancel_is_stopped_and_leaves_nothing(tmp_path, scratch, slurm_nodes):
    script = tmp_path / "stuck.py"
    script.write_text(STUCK_WORKER)
    job = tmp_path / "job.sh"
    job.write_text(
        "\n".join(["#!/usr/bin/env bash", *dask_executors.SCRATCH_PROLOGUE, ""])
        + f"{dask_executors.WORKER_WRAPPER} {shlex.quote(sys.executable)} {shlex.quote(str(script))}\n"
    )
    out = tmp_path / "job.out"
    submitted = slurm.command(
        *("sbatch", "--parsable", "--job-name=bench-stuck", f"--output={out}", f"--error={out}.err"),
        *(f"--export=ALL,TMPDIR={scratch}", str(job)),
    )
    job_id = submitted.strip().split(";")[0]
    try:
        deadline = time.monotonic() + 60
        while not (out.exists() and out.read_text().strip()):
            assert time.monotonic() < deadline, jobs_seen([job_id], tmp_path)
            time.sleep(0.2)
        semaphore, child = out.read_text().split()
        shared = Path("/dev/shm") / ("sem." + semaphore.lstrip("/"))
        assert shared.exists() and left_in(scratch) != []  # what the job must remove
    finally:
        slurm.command("scancel", job_id)
    states = slurm.wait([job_id], timeout=30, poll_s=0.2)
    # stopped by the job's shell within Slurm's KillWait (5 s here), not killed by Slurm after it
    assert states[job_id] in ("CANCELLED", None), (states, jobs_seen([job_id], tmp_path))
    assert left_in(scratch, wait_s=5) == [], jobs_seen([job_id], tmp_path)
    assert not shared.exists(), "the semaphore was left in /dev/shm"
    assert not psutil.pid_exists(int(child)) or psutil.Process(int(child)).status() == psutil.STATUS_ZOMBIE
    assert [p.pid for p in psutil.process_iter(["cmdline"]) if str(script) in (p.info["cmdline"] or [])] == []


def test_whether_slurm_answers_is_asked_once_in_ten_seconds(monkeypatch):
    """A plan asks once per executor group, and a controller that is down makes sinfo wait seconds."""
    asked = []

    def sinfo(*args, timeout=None):
        asked.append(args)
        raise slurm.SlurmError("sinfo: error: unable to contact the controller")

    clock = [100.0]
    monkeypatch.setattr(slurm, "command", sinfo)
    monkeypatch.setattr(slurm.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(slurm, "_asked", {})
    monkeypatch.delenv("SLURM_CONF", raising=False)
    first = slurm.unreachable()
    assert first.startswith("no Slurm reachable (sinfo: error") and slurm.unreachable() == first and len(asked) == 1
    clock[0] += slurm.UNREACHABLE_KEPT_S
    assert slurm.unreachable() == first and len(asked) == 2


@pytest.mark.slow
def test_no_reachable_slurm_skips_the_cells_and_says_what_to_run(run_bench, tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "no-slurm.conf"))
    args = ["--workers=1", "--chunksizes=1", "--size=100", "--workloads=fibprimes", "--repeats=1"]
    done = run_bench("--executors=serial,dask-slurm", *args, timeout=120)
    assert done.returncode == 0, done.stderr
    serial, cell = bench.load(tmp_path / done.stdout.strip().splitlines()[-1]).cells
    assert serial.ok and cell.status == "skipped"
    assert "no Slurm reachable" in cell.error and "scripts/local-slurm.sh start" in cell.error
    # (with nothing else to measure, the reason is the one line of a refused matrix: tests/test_cli.py)


# -- executor options ---------------------------------------------------------------


def test_options_come_from_the_call_then_the_environment_then_dask_config(monkeypatch):
    monkeypatch.setenv("BENCH_DASK_SLURM_PARTITION", "from-env")
    monkeypatch.setenv("BENCH_DASK_SLURM_JOB_DIRECTIVES", "--qos=debug --comment='two words'")
    config = {"jobqueue.slurm.queue": "from-config", "jobqueue.slurm.walltime": "02:00:00"}
    config["jobqueue.slurm.account"] = "from-config"
    with dask.config.set(config):
        settings = DaskSlurm.resolve_options({"walltime": "00:10:00", "ready_timeout": "5"})
    assert settings["walltime"] == "00:10:00"  # explicit beats all
    assert settings["partition"] == "from-env"  # the environment beats dask's config
    assert settings["account"] == "from-config"  # dask's config beats the default
    assert settings["job_directives"] == ["--qos=debug", "--comment=two words"]
    assert settings["ready_timeout"] == 5.0 and settings["memory"] == "1GiB"
    with pytest.raises(bench.executors.OptionError, match="BENCH_DASK_SLURM_READY_TIMEOUT"):
        monkeypatch.setenv("BENCH_DASK_SLURM_READY_TIMEOUT", "soon")
        DaskSlurm.resolve_options({})


def test_unknown_or_bad_options_exit_2_and_name_what_is_allowed(run_bench, tmp_path):
    done = run_bench("--executors=dask-slurm,process-pool", "--executor-option=colour=blue")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "'colour'" in done.stderr
    assert "dask-slurm: partition, account, walltime, memory" in done.stderr
    done = run_bench("--executors=process-pool", "--executor-option=walltime=1:00:00")
    assert done.returncode == 2 and "process-pool takes no options" in done.stderr, done.stderr
    done = run_bench("--executors=dask-slurm", "--executor-option=ready_timeout=soon")
    assert done.returncode == 2 and "ready_timeout" in done.stderr and "soon" in done.stderr
    done = run_bench("--executor-option=novalue")
    assert done.returncode == 2 and "KEY=VALUE" in done.stderr
    os.environ["BENCH_DASK_SLURM_READY_TIMEOUT"] = "soon"  # from the environment alone, too
    try:
        done = run_bench("--executors=dask-slurm")
    finally:
        del os.environ["BENCH_DASK_SLURM_READY_TIMEOUT"]
    assert done.returncode == 2 and "BENCH_DASK_SLURM_READY_TIMEOUT" in done.stderr, done.stderr
    assert not (tmp_path / "results").exists()


def test_list_shows_every_option_with_its_environment_variable(run_bench):
    done = run_bench("list", module=True)
    assert done.returncode == 0, done.stderr
    for key in DaskSlurm.options:
        assert key in done.stdout
    assert "BENCH_DASK_SLURM_WALLTIME" in done.stdout.replace("\n", "").replace("│", "").replace(" ", "")


# -- batch sweeps -------------------------------------------------------------------------


@pytest.mark.slow
def test_submit_waits_and_each_node_count_writes_a_journal_with_mpi_comm_across_nodes(tmp_path, slurm_nodes):
    out = tmp_path / "out $(touch PWNED) dir"  # a hostile folder name is only a name
    command = [sys.executable, "-m", "bench", "slurm", "submit", "--wait", "--wait-timeout=240", "--nodes=1,2"]
    command += [
        "--out",
        str(out),
        "--",
        "--executors=mpi-comm,process-pool",
        "--workers=1",
        "--size=300",
        "--workloads=fibprimes",
    ]
    command += ["--repeats=2", "--chunksizes=16", "--quiet"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    lines = done.stdout.splitlines()
    submitted = [line.split()[2].rstrip(":") for line in lines if line.startswith("submitted job")]
    if done.returncode != 0:
        seen = jobs_seen(submitted, out)  # before they are cancelled: what each was doing
        subprocess.run(["scancel", *submitted], capture_output=True, timeout=30)
        pytest.fail(done.stderr + done.stdout + seen)
    journals = [Path(line) for line in lines if line.endswith(".jsonl")]
    assert len(submitted) == 2 and len(journals) == 2 and all(path.parent == out for path in journals)
    runs = {bench.load(path).runs[0].env["slurm_job_id"]: bench.load(path) for path in journals}
    assert sorted(runs) == sorted(submitted)
    one, two = (runs[job] for job in submitted)
    assert one.runs[0].env["slurm_nodes"] == "n1" and one.runs[0].env["slurm"]["slurm_ntasks"] == "1"
    assert [cell.status for cell in one.cells if cell.executor == "mpi-comm"] == ["skipped"]
    comm = [cell for cell in two.cells if cell.executor == "mpi-comm"]
    assert comm and all(cell.ok and cell.rank_nodes == slurm_nodes for cell in comm)
    # rank 0 on the first node, the worker rank on the second: its clock offset measured, about zero
    offsets = [two.trace_of(cell).clock["offsets"] for cell in comm]
    assert all(sorted(found) == slurm_nodes[1:] for found in offsets)
    assert all(abs(o["offset_s"]) <= o["uncertainty_s"] + 1e-3 for found in offsets for o in found.values())
    pool = [cell for cell in two.cells if cell.executor == "process-pool"]
    assert len(pool) == 1 and all(cell.ok and cell.nodes == [slurm_nodes[0]] for cell in pool)
    assert not list(tmp_path.rglob("PWNED")) and not (ROOT / "PWNED").exists()
    assert gone(submitted)


HOSTILE = ["--param", "order=ascending", "--out-of-band", "x'; touch PWNED; echo '", "$(touch PWNED)", "`id`", "a b"]


def test_the_batch_script_quotes_every_value_and_runs_the_sweep_under_srun(tmp_path):
    spec = batch.BatchSpec(
        run_options=tuple(HOSTILE),
        nodes=2,
        ntasks=3,
        time="01:00:00",
        partition="debug",
        account="proj-42",
        out="res ults",
        workdir=str(tmp_path / "work $(dir)"),
        python="/opt/py thon/bin/python",
    )
    text = batch.script(spec)
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash"
    directives = [line.split(None, 1)[1] for line in lines if line.startswith("#SBATCH")]
    assert directives == [
        "--job-name=bench-sweep",
        "--nodes=2",
        "--ntasks=3",
        "--time=01:00:00",
        "--partition=debug",
        "--account=proj-42",
        f'--output="{tmp_path}/work $(dir)/res ults/slurm-%j.out"',
    ]
    assert subprocess.run(["bash", "-n"], input=text, text=True, timeout=30).returncode == 0
    *_, command = lines
    out = f"{tmp_path}/work $(dir)/res ults"
    assert shlex.split(command.replace("$SLURM_NTASKS", "3")) == [
        "srun",
        "--mpi=pmi2",
        "--kill-on-bad-exit=1",
        "--ntasks",
        "3",
        "/opt/py thon/bin/python",
        "-m",
        "mpi4py",
        "-m",
        "bench",
        "run",
        "--out",
        out,
        *HOSTILE,
    ]
    assert f"cd {shlex.quote(spec.workdir)}" in lines
    mpiexec = batch.script(batch.BatchSpec(nodes=2, launcher="mpiexec", python="/v/bin/python"))
    assert mpiexec.splitlines()[-1].startswith("/v/bin/mpiexec -n $SLURM_NTASKS /v/bin/python -m mpi4py -m bench run")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--partition", "debug; rm -rf /"], "partition 'debug; rm -rf /' has characters"),
        (["--time", "1:00\n#SBATCH --x"], "time"),
        (["--", "--out", "elsewhere"], "--out cannot be sweep options of a batch job"),
        (["--", "--executors", "nonsense"], "unknown executor 'nonsense'"),
        (["--", "--workers", "zero"], "RUN_OPTIONS: argument --workers"),
        (["--", "--ou", "x"], "--out cannot be sweep options of a batch job"),
        (["--", "--res", "j.jsonl"], "--resume cannot be sweep options of a batch job"),
        (["--out", "/proc/no/such"], "cannot write results to /proc/no/such"),
        (["--nodes", "1,2"], "script prints one job"),
        (["--nodes", "2", "--ntasks", "1"], "1 task(s) cannot span 2 nodes"),
    ],
)
def test_bad_batch_options_exit_2_in_one_line(args, message):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "slurm", "script", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert "#!/bin/bash" not in done.stdout


# -- scripts/local-slurm.sh ------------------------------------------------------------------


SCRIPT = ROOT / "scripts" / "local-slurm.sh"


def test_local_slurm_never_replaces_a_configuration_it_did_not_write(tmp_path):
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=the-real-one\n")
    done = subprocess.run(
        ["bash", str(SCRIPT), "start"],
        env={**os.environ, "SLURM_CONF": str(conf)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    expected = "not written by this script" if os.geteuid() == 0 else "needs root"
    assert expected in done.stderr
    assert conf.read_text() == "ClusterName=the-real-one\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")
def test_local_slurm_says_in_one_line_that_stopping_needs_root():
    done = subprocess.run(
        ["runuser", "-u", "nobody", "--", "bash", str(SCRIPT), "stop"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    why = "stop needs root (it starts and stops system daemons); run it with sudo"
    assert done.stderr == f"scripts/local-slurm.sh: {why}\n"


def test_local_slurm_status_reports_the_running_nodes(slurm_nodes):
    done = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"running: {len(slurm_nodes)} node(s)")
    assert all(f"{node} " in done.stdout for node in slurm_nodes)


def test_journal_lines_written_by_a_job_stay_loadable(tmp_path):
    # The env of a batch run is plain JSON: the loader reads it back whole.
    env = {"slurm_job_id": "7", "slurm_nodes": "n[1-2]", "slurm_node": "n1", "slurm": {"slurm_ntasks": "2"}}
    line = {"schema": 1, "kind": "run", "run_id": "r", "started": "2026-01-01T00:00:00+00:00", "env": env}
    (tmp_path / "j.jsonl").write_text(json.dumps(line) + "\n")
    assert batch.journals_of(tmp_path, "7") == [tmp_path / "j.jsonl"]
    assert batch.journals_of(tmp_path, "8") == []


def test_worker_job_logs_are_bounded_and_those_of_failed_jobs_kept_a_while(tmp_path):

    now = time.time()
    names = [f"bench-dask-100-{index:08x}-{index}" for index in range(30)]
    for age, name in enumerate(reversed(names)):  # names[-1] is the newest
        for suffix in (".out", ".err"):
            path = tmp_path / f"{name}{suffix}"
            path.write_text("worker output\n")
            os.utime(path, (now - age, now - age))
    mine = tmp_path / "bench-dask-notes.txt"  # a user's own file in a log folder they chose
    mine.write_text("mine\n")
    dask_executors.keep_logs(tmp_path, names[-1].rsplit("-", 1)[0], failed=True)  # the newest job's instance failed
    failed = tmp_path / dask_executors.FAILED_LOGS
    assert sorted(path.name for path in failed.iterdir()) == [f"{names[-1]}.err", f"{names[-1]}.out"]
    kept = sorted(path.name.rsplit(".", 1)[0] for path in tmp_path.glob("bench-dask-100-*"))
    assert kept == sorted(name for name in names[-1 - dask_executors.KEEP_JOBS : -1] for _ in range(2))
    assert mine.read_text() == "mine\n"
    # a failed job's output goes once it is older than a week
    assert dask_executors.prune_logs(tmp_path, now=now + dask_executors.KEEP_FAILED_S / 2) == []
    gone = dask_executors.prune_logs(tmp_path, now=now + dask_executors.KEEP_FAILED_S + 60)
    assert sorted(path.name for path in gone) == [f"{names[-1]}.err", f"{names[-1]}.out"]
    assert mine.exists() and len(list(tmp_path.glob("bench-dask-100-*"))) == 2 * dask_executors.KEEP_JOBS
