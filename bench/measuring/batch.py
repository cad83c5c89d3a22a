"""Sweeps as Slurm batch jobs: the job's script, its submission, and the journals it wrote.

A batch sweep runs inside one allocation: ``srun --mpi=pmi2`` (or ``mpiexec``)
starts one rank per task; rank 0 measures, with the local executors on the
first node's cores, while the other ranks are ``mpi-comm``'s workers across
the allocated nodes. The journal lands in the ``out`` folder and records the
job (``slurm_job_id``, node list, tasks) in its ``env``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.data.schema import RecordError, RunRecord, parse
from bench.host.slurm import command

__all__ = ["LAUNCHERS", "BatchSpec", "journals_of", "script", "submit"]

LAUNCHERS = ("srun", "mpiexec")
#: Values that go into ``#SBATCH`` lines, which sbatch reads without a shell.
_DIRECTIVE = re.compile(r"[A-Za-z0-9_.,:@%+=/-]+")


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
        # a rank that dies ends the step, as MPICH's mpiexec ends its launch (srun would leave rank 0 waiting
        # for it); the journal names the cell, and --resume goes on (bench.measuring.steps)
        launch = ["srun", "--mpi=pmi2", "--kill-on-bad-exit=1", "--ntasks", "$SLURM_NTASKS"]
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
    done = command("sbatch", "--parsable", f"--chdir={spec.workdir}", input_text=text)
    return done.strip().split(";")[0]


def journals_of(out: str | Path, job_id: str) -> list[Path]:
    """The journals in ``out`` written inside Slurm job ``job_id``."""
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
