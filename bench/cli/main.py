"""The command line's entry points: the parser of every subcommand, and how a command ends (its exit
status, an interrupt, work left running)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from bench.cli.advise import add_advise_parser
from bench.cli.common import USAGE_ERROR, UsageError, _Command, _how_stopped, _Parser, _report_warning, _speaks
from bench.cli.compare import add_compare_parser
from bench.cli.doctor import add_doctor_parser
from bench.cli.export import add_export_parser
from bench.cli.listing import add_list_parser
from bench.cli.model import add_calibrate_parser, add_model_parser
from bench.cli.report import add_report_parser
from bench.cli.run import add_run_parser, build_run_parser
from bench.cli.slurm import add_slurm_parser
from bench.measuring.runner import Signalled, signum_of


def build_parser(prog: str = "python -m bench") -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description="Benchmark Python parallel back-ends.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Command)
    for add in (add_run_parser, add_list_parser, add_slurm_parser, add_report_parser):
        add(commands)
    add_compare_parser(commands)
    add_export_parser(commands)
    add_calibrate_parser(commands)
    add_model_parser(commands)
    add_advise_parser(commands)
    add_doctor_parser(commands)
    return parser


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, ``scancel``, a batch system at walltime) and SIGHUP (a closed terminal) stop a
    command as Ctrl-C does:
    files are closed and what was started is stopped (a sweep handles both on its own)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise Signalled(signum)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _dispatch(args: argparse.Namespace, prog: str) -> int:
    warnings.showwarning = _report_warning
    args.prog = prog
    try:
        with _sigterm_as_interrupt():
            status = int(args.handler(args))
        exit_now_if_abandoned(status)
        return status
    except UsageError as exc:
        if _speaks():
            print(f"{prog}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt as exc:  # outside a sweep's measurements (which say what they kept)
        if _speaks():
            print(_how_stopped(exc), file=sys.stderr)
        return 128 + signum_of(exc)


def main(argv: Sequence[str] | None = None, prog: str = "python -m bench", supervise: bool = False) -> int:
    """``python -m bench COMMAND ...``. ``supervise``: a sweep measures in a child process that this one
    outlives (``bench.cli.supervise``), as the command line does."""
    raw = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(prog).parse_args(raw)
    args.supervise, args.entry = supervise, "main"
    args.argv = raw[raw.index("run") + 1 :] if args.command == "run" else []
    return _dispatch(args, f"{prog} {args.command}")


def run_main(argv: Sequence[str] | None = None, prog: str = "python bench/run.py", supervise: bool = False) -> int:
    """The sweep script: ``python bench/run.py ...``, the same as ``python -m bench run ...``."""
    raw = list(sys.argv[1:] if argv is None else argv)
    args = build_run_parser(prog).parse_args(raw)
    args.supervise, args.entry, args.argv = supervise, "run", raw
    return _dispatch(args, prog)


def child(spec_text: str) -> None:
    """The supervised child of a sweep from the command line (``bench.cli.supervise``): the parent's command."""
    from bench.cli.supervise import as_child
    from bench.host import mpi_launch

    spec = as_child(spec_text)
    if spec["entry"] == "run":
        status = run_main(spec["argv"], spec["prog"])
    else:
        status = main(["run", *spec["argv"]], spec["prog"].rsplit(" ", 1)[0])
    mpi_launch.exit(status)


#: How long an MPI rank that aborts its launch waits for the launcher to pass its last lines on.
FORWARD_S = 0.5


def exit_now_if_abandoned(status: int) -> None:
    """End the process with ``status`` without waiting for work an aborted executor left running
    (a thread or an MPI worker stuck in a task would keep it from ending); the journal is complete by then."""
    from bench.executors.base import ABANDONED

    if not ABANDONED:
        return
    if _speaks():
        print(f"ending without waiting for work left running: {'; '.join(dict.fromkeys(ABANDONED))}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    from bench.host import mpi_launch, scratch

    lib = mpi_launch.active()
    scratch.aborting = lib is not None  # what the abort leaves goes with this process's folder, at the next sweep
    # multiprocessing's exit clean-up (its temporary folder, with the forkserver's socket), which both
    # ways out below skip; the executors have all been shut down by now
    clean_up = getattr(sys.modules.get("multiprocessing.util"), "_exit_function", None)
    if callable(clean_up):
        clean_up()
    if lib is not None:
        # MPI workers of this job (spawned, or the ranks of a launch) end with it, and so does the status;
        # MPICH's abort notice goes to /dev/null, since the line above said why. The launcher passes a rank's
        # output on as it comes, and an abort ends the launch at once: the line gets a moment to pass first.
        time.sleep(FORWARD_S)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        lib.COMM_WORLD.Abort(status)
    os._exit(status)
