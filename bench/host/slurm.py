"""Slurm's commands: what the cluster offers, its jobs (sweeps as batch jobs: ``bench.measuring.batch``).

Every Slurm command runs with a timeout, so a controller that does not answer
is an error, never a hang.
"""

from __future__ import annotations

import datetime
import getpass
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from typing import Any

__all__ = [
    "START_HINT",
    "SlurmError",
    "cancel_named",
    "command",
    "job_facts",
    "node_cpus",
    "unreachable",
    "wait",
]

#: Seconds any one Slurm command may take.
COMMAND_TIMEOUT_S = 30.0
START_HINT = "on this machine, start a local one (as root) with: scripts/local-slurm.sh start"


class SlurmError(RuntimeError):
    """A Slurm command failed or did not answer."""


def command(*args: str, timeout: float = COMMAND_TIMEOUT_S, input_text: str | None = None) -> str:
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


#: How long (s) an answer of :func:`unreachable` is kept: a plan asks once per executor group, and a
#: controller that is down makes ``sinfo`` wait 4 s or more before it says so.
UNREACHABLE_KEPT_S = 10.0
_asked: dict[str | None, tuple[float, str | None]] = {}


def unreachable() -> str | None:
    """None when a Slurm controller answers here, else why not and what to run (the answer of the last
    :data:`UNREACHABLE_KEPT_S` seconds, for the same ``SLURM_CONF``)."""
    conf = os.environ.get("SLURM_CONF")
    if conf and not os.path.isfile(conf):  # sinfo would retry for a minute before it said so
        return f"no Slurm reachable (SLURM_CONF names no file: {conf}); {START_HINT}"
    now = time.monotonic()
    kept = _asked.get(conf)
    if kept is not None and now - kept[0] < UNREACHABLE_KEPT_S:
        return kept[1]
    try:
        command("sinfo", "-h", "-o", "%P", timeout=15)
        why = None
    except SlurmError as exc:
        why = f"no Slurm reachable ({exc}); {START_HINT}"
    _asked[conf] = (time.monotonic(), why)
    return why


def node_cpus(partition: str | None = None) -> dict[str, int]:
    """CPUs of every node (of ``partition``) that can take jobs, by node name."""
    args = ["sinfo", "-h", "-N", "-o", "%N %c %t"]
    if partition:
        args += ["-p", partition]
    cpus: dict[str, int] = {}
    for line in command(*args).splitlines():
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
    text = command("scontrol", "-o", "show", "job", job_id)
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
    listed = command(*args).split()
    return [job for job in listed if not job_ids or job in job_ids]


def cancel_named(name: str) -> None:
    """Cancel every job of ours named ``name``."""
    try:
        command("scancel", "--user", getpass.getuser(), "--name", name)
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
