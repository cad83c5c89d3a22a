"""A sweep from the command line measures in a child process, which this one outlives.

A workload's task that crashes the process it runs in (a segfault in a C
extension, the out-of-memory killer, ``os._exit`` in a library) would end the
sweep where that process is the one that measures: the estimate probe, the
serial baseline, the traced serial run and the back-ends that run tasks in
the driver (``serial``, ``thread-pool``, ``joblib`` with one worker) all run
the user's code there. So ``python bench/run.py`` and ``python -m bench run``
start the same command in a child (in a process group of its own, so that a
signal reaches it once, through this process) and wait. The child writes
each step to a file (``bench.measuring.steps``); when it dies inside one,
this process says so in one line and starts it again on the journal
(``--resume``), told of the crash: the crashed cells are recorded as
``error`` with ``crashed``, and the rest is measured. Signals to this process
go to the child; the child ends if this process does.

Not under an MPI launch (rank 0 keeps its steps beside the journal, see
``bench.measuring.steps``), and not with ``BENCH_SUPERVISE=0`` (for a
debugger).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.cli.common import _how_stopped
from bench.executors.base import STOP_SIGNALS, process_end
from bench.host import mpi_launch, scratch
from bench.measuring import steps
from bench.measuring.runner import Signalled

__all__ = ["SUPERVISE_VARIABLE", "as_child", "parent", "wanted"]

#: ``0``: measure in the command's own process (no child).
SUPERVISE_VARIABLE = "BENCH_SUPERVISE"
#: The project's folder, which the child puts first on its path as ``bench/run.py`` does.
ROOT = str(Path(__file__).resolve().parents[2])
_CHILD_CODE = "import sys; sys.path.insert(0, sys.argv[1]); from bench.cli.main import child; child(sys.argv[2])"
#: multiprocessing's resource tracker removes what a crashed child left (its semaphores), and would warn of
#: "leaked" ones: the crash has been said in this process's own line.
TRACKER_WARNING = "ignore::UserWarning:multiprocessing.resource_tracker"
#: Options of the first command that its resumed runs keep (the others come from the journal).
KEPT_FLAGS = ("--quiet", "--oversubscribe")


def wanted(args: Any) -> bool:
    """Whether this command measures in a supervised child: a sweep from the command line, outside MPI."""
    return (
        getattr(args, "supervise", False)
        and os.environ.get(SUPERVISE_VARIABLE, "1") != "0"
        and steps.STEP_VARIABLE not in os.environ
        and not mpi_launch.launched()
    )


def parent(args: Any) -> int:
    """Run the command in a child until it ends other than by a crash inside a step; its exit status."""
    path = scratch.folder() / "steps.json"
    crashes: list[steps.Step] = []
    argv = list(args.argv)
    while True:
        path.write_text("", encoding="utf-8")
        forwarded: list[int] = []
        status = _run_child(args, argv, path, crashes, forwarded)
        journal, step = steps.read(path)
        on = f"; --resume {journal} goes on" if journal else ""
        if status < 0 and -status in forwarded:  # stopped before it could say so itself (it was starting)
            _say(f"{_how_stopped(Signalled(-status))}{on}")
            return 128 - status
        if step is None:
            if status < 0:  # killed between runs of a workload: nothing to blame, the journal goes on
                _say(f"{args.prog}: the measuring process was {process_end(status)}{on}")
                return 128 - status
            return status
        crash = steps.Step.from_json({**step.to_json(), "how": process_end(status)})
        if any(_same(crash, earlier) for earlier in crashes):  # not excluded: do not loop
            _say(f"{args.prog}: {crash.error()}, again; stopping")
            return 1
        crashes.append(crash)
        costs = "the cells of its case" if crash.driver else "that cell"
        _say(f"{args.prog}: {crash.error()}: {costs} recorded as error (crashed); the sweep goes on")
        if journal:
            kept = [flag for flag in KEPT_FLAGS if flag in argv]
            argv = ["--resume", journal, *kept]


def _same(a: steps.Step, b: steps.Step) -> bool:
    return (a.case, a.cell, a.phase) == (b.case, b.cell, b.phase)


def _say(line: str) -> None:
    """A line of this process between the child's: after a progress display the crash cut off."""
    if sys.stderr.isatty():
        line = "\n\x1b[?25h" + line  # the cursor the display hid, on a line of its own
    print(line, file=sys.stderr, flush=True)


def _run_child(args: Any, argv: list[str], path: Path, crashes: list[steps.Step], forwarded: list[int]) -> int:
    """One child, with every signal this process gets passed on to it (and listed in ``forwarded``); its exit
    status (``-N``: signal N)."""
    spec = {
        "entry": args.entry,
        "prog": args.prog,
        "argv0": sys.argv[0],
        "argv": argv,
        "parent": os.getpid(),
        "program": mpi_launch.launch_target(),
    }
    env = {
        **os.environ,
        steps.STEP_VARIABLE: str(path),
        steps.CRASHES_VARIABLE: json.dumps([crash.to_json() for crash in crashes]),
        "PYTHONWARNINGS": ",".join(filter(None, (os.environ.get("PYTHONWARNINGS"), TRACKER_WARNING))),
    }
    command = [sys.executable, "-c", _CHILD_CODE, ROOT, json.dumps(spec)]
    child = subprocess.Popen(command, env=env, preexec_fn=os.setpgrp)  # noqa: PLW1509 (no threads here)

    def forward(signum: int, frame: object) -> None:
        forwarded.append(signum)
        if child.returncode is None:
            try:
                os.kill(child.pid, signum)
            except ProcessLookupError:
                pass

    previous = {signum: signal.signal(signum, forward) for signum in STOP_SIGNALS}
    try:
        return int(child.wait())
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def as_child(spec_text: str) -> dict[str, Any]:
    """Set up the child (``bench.cli.main.child``): it ends when this process does, and its ``sys.argv`` and
    program are the parent's. Returns the parent's command (``entry``, ``prog``, ``argv``)."""
    import ctypes

    spec: dict[str, Any] = json.loads(spec_text)
    try:  # a SIGTERM when the parent ends, however it ends: the sweep stops as when it is terminated
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass
    if os.getppid() != spec["parent"]:
        sys.exit(128 + signal.SIGTERM)
    sys.argv = [spec["argv0"], *spec["argv"]]
    mpi_launch.program = spec["program"]
    return spec
