"""Slurm: what the cluster offers, its jobs, and sweeps submitted as batch jobs.

A batch sweep runs inside one allocation: ``srun --mpi=pmi2`` (or ``mpiexec``)
starts one rank per task; rank 0 measures, with the local executors on the
first node's cores, while the other ranks are ``mpi-comm``'s workers across
the allocated nodes. The journal lands in the ``out`` folder and records the
job (``slurm_job_id``, node list, tasks) in its ``env``.

Every Slurm command runs with a timeout, so a controller that does not answer
is an error, never a hang.
"""

from __future__ import annotations

import datetime
import getpass
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "LAUNCHERS",
    "START_HINT",
    "BatchSpec",
    "SlurmError",
    "cancel_named",
    "job_facts",
    "journals_of",
    "node_cpus",
    "script",
    "submit",
    "unreachable",
    "wait",
]

#: Seconds any one Slurm command may take.
COMMAND_TIMEOUT_S = 30.0
START_HINT = "on this machine, start a local one (as root) with: scripts/local-slurm.sh start"
LAUNCHERS = ("srun", "mpiexec")
#: Values that go into ``#SBATCH`` lines, which sbatch reads without a shell.
_DIRECTIVE = re.compile(r"[A-Za-z0-9_.,:@%+=/-]+")


class SlurmError(RuntimeError):
    """A Slurm command failed or did not answer."""


def _command(*args: str, timeout: float = COMMAND_TIMEOUT_S, input_text: str | None = None) -> str:
    """Run one Slurm command; its stdout, or SlurmError with its last line of complaint."""
    if shutil.which(args[0]) is None:
        raise SlurmError(f"{args[0]} not found")
    try:
        done = subprocess.run(args, input=input_text, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{args[0]} did not answer within {timeout:g} s") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise SlurmError(f"{args[0]}: {lines[-1] if lines else f'exit status {done.returncode}'}")
    return done.stdout


def unreachable() -> str | None:
    """None when a Slurm controller answers here, else why not and what to run."""
    try:
        _command("sinfo", "-h", "-o", "%P", timeout=15)
    except SlurmError as exc:
        return f"no Slurm reachable ({exc}); {START_HINT}"
    return None


def node_cpus(partition: str | None = None) -> dict[str, int]:
    """CPUs of every node (of ``partition``) that can take jobs, by node name."""
    args = ["sinfo", "-h", "-N", "-o", "%N %c %t"]
    if partition:
        args += ["-p", partition]
    cpus: dict[str, int] = {}
    for line in _command(*args).splitlines():
        name, count, state = line.split()
        if not state.rstrip("*~#!%$@^-").startswith(("down", "drain", "fail", "inval")):
            cpus[name] = int(count)
    return cpus


def _time(text: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:  # Unknown, None
        return None


def job_facts(job_id: str) -> dict[str, Any]:
    """``job_id``, ``state``, ``node``, ``submitted``, ``started`` and ``queue_wait_s`` (1 s resolution)."""
    text = _command("scontrol", "-o", "show", "job", job_id)
    fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
    submitted, started = _time(fields.get("SubmitTime", "")), _time(fields.get("StartTime", ""))
    wait = (started - submitted).total_seconds() if submitted and started and started >= submitted else None
    return {
        "job_id": job_id,
        "state": fields.get("JobState"),
        "node": fields.get("BatchHost") or fields.get("NodeList"),
        "submitted": submitted.isoformat() if submitted else None,
        "started": started.isoformat() if started else None,
        "queue_wait_s": wait,
    }


def queued(job_ids: Sequence[str] = (), name: str | None = None) -> list[str]:
    """The ids among this user's jobs (those in ``job_ids``, or named ``name``) that Slurm still queues or runs."""
    args = ["squeue", "-h", "-o", "%i", "--user", getpass.getuser()]
    if name:
        args += ["--name", name]
    listed = _command(*args).split()
    return [job for job in listed if not job_ids or job in job_ids]


def cancel_named(name: str) -> None:
    """Cancel every job of ours named ``name``."""
    try:
        _command("scancel", "--user", getpass.getuser(), "--name", name)
    except SlurmError:
        pass


def wait(job_ids: Sequence[str], timeout: float | None = None, poll_s: float = 1.0) -> dict[str, str | None]:
    """Wait until none of ``job_ids`` is queued or running; the state each ended in (None where Slurm
    forgot the job before it was seen to end). TimeoutError after ``timeout`` s."""
    deadline = None if timeout is None else time.monotonic() + timeout
    states: dict[str, str | None] = dict.fromkeys(job_ids)
    running = list(job_ids)
    while True:
        listed = set(queued(running))
        for job in running:
            if job not in listed:  # ended: Slurm still remembers it for MinJobAge seconds
                try:
                    states[job] = job_facts(job)["state"]
                except SlurmError:
                    pass
        running = [job for job in running if job in listed]
        if not running:
            return states
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"job(s) {', '.join(job_ids)} still queued or running after {timeout:g} s")
        time.sleep(poll_s)


# -- batch sweeps ----------------------------------------------------------------


@dataclass(frozen=True)
class BatchSpec:
    """One batch job of a sweep: its allocation and the sweep's options."""

    run_options: tuple[str, ...] = ()
    nodes: int = 1
    ntasks: int | None = None
    time: str = "00:30:00"
    partition: str | None = None
    account: str | None = None
    out: str = "results"
    launcher: str = "srun"
    job_name: str = "bench-sweep"
    python: str = field(default_factory=lambda: sys.executable)
    workdir: str = field(default_factory=os.getcwd)

    @property
    def tasks(self) -> int:
        """MPI ranks: by default one per node, so mpi-comm's workers spread over the nodes."""
        return self.ntasks or self.nodes

    def check(self) -> None:
        """ValueError for a value that cannot go into a batch script."""
        if self.nodes < 1 or self.tasks < 1:
            raise ValueError("nodes and tasks must be >= 1")
        if self.tasks < self.nodes:
            raise ValueError(f"{self.tasks} task(s) cannot span {self.nodes} nodes")
        if self.launcher not in LAUNCHERS:
            raise ValueError(f"launcher {self.launcher!r} is not one of {', '.join(LAUNCHERS)}")
        for what, value in (
            ("time", self.time),
            ("partition", self.partition),
            ("account", self.account),
            ("job name", self.job_name),
        ):
            if value is not None and not _DIRECTIVE.fullmatch(value):
                raise ValueError(f"{what} {value!r} has characters a #SBATCH line cannot hold")
        out = _absolute(self.out, self.workdir)
        if any(char in out for char in '"\\%\n'):
            raise ValueError(f"output folder {out!r} has characters a #SBATCH line cannot hold")


def _absolute(path: str, workdir: str) -> str:
    return str(Path(workdir, path).resolve()) if not os.path.isabs(path) else path


def script(spec: BatchSpec) -> str:
    """The text of a batch script for ``spec``; every user value is shell-quoted."""
    spec.check()
    out = _absolute(spec.out, spec.workdir)
    directives = [
        f"--job-name={spec.job_name}",
        f"--nodes={spec.nodes}",
        f"--ntasks={spec.tasks}",
        f"--time={spec.time}",
    ]
    if spec.partition:
        directives.append(f"--partition={spec.partition}")
    if spec.account:
        directives.append(f"--account={spec.account}")
    sweep = [spec.python, "-m", "mpi4py", "-m", "bench", "run", "--out", out, *spec.run_options]
    if spec.launcher == "srun":
        launch = ["srun", "--mpi=pmi2", "--ntasks", "$SLURM_NTASKS"]
    else:
        launch = [str(Path(spec.python).with_name("mpiexec")), "-n", "$SLURM_NTASKS"]
    command = " ".join(arg if arg.startswith("$") else shlex.quote(arg) for arg in launch)
    command += " " + shlex.join(sweep)
    lines = [
        "#!/bin/bash",
        *(f"#SBATCH {directive}" for directive in directives),
        f'#SBATCH --output="{out}/slurm-%j.out"',
        "#",
        "# A sweep of parallel-bench inside this allocation: rank 0 measures (the local",
        "# executors use the first node's cores); the other ranks are mpi-comm's workers.",
        "# The journal lands in the output folder and records this job in its env.",
        "set -euo pipefail",
        f"cd {shlex.quote(spec.workdir)}",
        f"mkdir -p {shlex.quote(out)}",
        "export PYTHONUNBUFFERED=1",
        command,
        "",
    ]
    return "\n".join(lines)


def submit(spec: BatchSpec) -> str:
    """Submit the batch script of ``spec``; its job id."""
    text = script(spec)
    out = Path(_absolute(spec.out, spec.workdir))
    out.mkdir(parents=True, exist_ok=True)
    done = _command("sbatch", "--parsable", f"--chdir={spec.workdir}", input_text=text)
    return done.strip().split(";")[0]


def journals_of(out: str | Path, job_id: str) -> list[Path]:
    """The journals in ``out`` written inside Slurm job ``job_id``."""
    from bench.records import RecordError, RunRecord, parse

    found = []
    for path in sorted(Path(out).glob("*.jsonl")):
        try:
            with open(path, encoding="utf-8") as journal:
                record = parse(json.loads(journal.readline()))
        except (OSError, ValueError, RecursionError, RecordError):  # not a journal of this suite
            continue
        if isinstance(record, RunRecord) and str(record.env.get("slurm_job_id")) == job_id:
            found.append(path)
    return found
