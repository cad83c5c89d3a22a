"""``slurm``: sweeps as Slurm batch jobs (script, submit, wait, collect)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.cli.common import UsageError, _Command, _how_stopped, folder, positive_int, seconds, worker_list
from bench.cli.run import DEFAULT_OUT, _plan_error, _RunOptionsParser, build_run_parser, matrix_from_args
from bench.data.journal import JournalError
from bench.measuring.plan import PlanError
from bench.measuring.runner import signum_of

SLURM_DESCRIPTION = (
    "Sweeps as Slurm batch jobs. A job runs the sweep under srun --mpi=pmi2 (or mpiexec) with one "
    "rank per task: rank 0 measures, with the local executors on the first node's cores, and the "
    "other ranks are mpi-comm's workers across the allocated nodes. RUN_OPTIONS (after --) are the "
    "sweep's options, as for `run`."
)


def add_slurm_parser(commands: Any) -> None:
    from bench.measuring.batch import LAUNCHERS

    slurm = commands.add_parser("slurm", help="sweeps as Slurm batch jobs", description=SLURM_DESCRIPTION)
    actions = slurm.add_subparsers(dest="action", required=True, parser_class=_Command)
    for action, text in (
        ("script", "print the batch script of one job"),
        ("submit", "submit one job per --nodes value; --wait waits and prints the journals"),
    ):
        parser = actions.add_parser(action, help=text, description=f"{text[0].upper()}{text[1:]}. {SLURM_DESCRIPTION}")
        parser.add_argument(
            "--nodes", type=worker_list, default=(1,), metavar="N,M", help="nodes of the allocation (default 1)"
        )
        parser.add_argument("--ntasks", type=positive_int, metavar="N", help="MPI ranks in all (default: one per node)")
        parser.add_argument("--time", default="00:30:00", metavar="T", help="time limit of the job (00:30:00)")
        parser.add_argument("--partition", metavar="P", help="Slurm partition")
        parser.add_argument("--account", metavar="A", help="Slurm account to charge")
        parser.add_argument(
            "--launcher", choices=LAUNCHERS, default="srun", help="how the job starts its ranks (srun --mpi=pmi2)"
        )
        parser.add_argument(
            "--out", type=folder, metavar="DIR", help=f"folder of the journals and job output ({DEFAULT_OUT})"
        )
        if action == "submit":
            parser.add_argument("--wait", action="store_true", help="wait for the jobs, then print their journals")
            parser.add_argument("--wait-timeout", type=seconds, metavar="S", help="give up waiting after S seconds")
        parser.add_argument("run_options", nargs=argparse.REMAINDER, metavar="-- RUN_OPTIONS")
        parser.set_defaults(handler=cmd_slurm, command=f"slurm {action}")


def _batch_specs(args: argparse.Namespace) -> list[Any]:
    """One BatchSpec per node count; UsageError for anything a job could not run."""
    from dataclasses import replace

    from bench.data.journal import Journal
    from bench.host import slurm
    from bench.measuring.batch import BatchSpec
    from bench.measuring.plan import check_seconds, validate

    run_options = list(args.run_options)
    if run_options[:1] == ["--"]:
        run_options = run_options[1:]
    out = args.out or DEFAULT_OUT
    parser = build_run_parser("RUN_OPTIONS", parser_class=_RunOptionsParser)
    parsed = parser.parse_args(run_options)  # checked here, not after the job waited in the queue
    given = [flag for flag, value in (("--out", parsed.out), ("--resume", parsed.resume)) if value]
    if given:
        raise UsageError(f"{' and '.join(given)} cannot be sweep options of a batch job; give slurm --out DIR")
    try:
        validate(replace(matrix_from_args(parsed), oversubscribe=True))  # the job's nodes bound its workers
        if args.action == "submit" and args.wait_timeout is not None:
            check_seconds(args.wait_timeout, "--wait-timeout")
        Journal.check(out)
        if args.action == "submit":  # before anything is created
            reason = slurm.unreachable()
            if reason:
                raise UsageError(reason)
        # Slurm opens the job's output file there before the script runs: the folder must exist.
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write results to {out}: {exc.strerror or exc}") from None
    except PlanError as exc:
        raise UsageError(_plan_error(exc)) from None
    except JournalError as exc:
        raise UsageError(str(exc)) from None
    if args.action == "script" and len(args.nodes) > 1:
        raise UsageError("script prints one job: give one --nodes value (submit takes a list)")
    specs = []
    for nodes in args.nodes:
        spec = BatchSpec(
            run_options=tuple(run_options),
            nodes=nodes,
            ntasks=args.ntasks,
            time=args.time,
            partition=args.partition,
            account=args.account,
            out=out,
            launcher=args.launcher,
        )
        try:
            spec.check()
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        specs.append(spec)
    return specs


def cmd_slurm(args: argparse.Namespace) -> int:
    from bench.host import slurm
    from bench.measuring import batch

    specs = _batch_specs(args)
    if args.action == "script":
        print(batch.script(specs[0]), end="")
        return 0
    jobs: list[tuple[str, Any]] = []
    for spec in specs:
        try:
            job_id = batch.submit(spec)
        except slurm.SlurmError as exc:
            print(f"{args.prog}: {exc}", file=sys.stderr)
            if jobs:
                print(f"already submitted: job(s) {', '.join(job for job, _ in jobs)}", file=sys.stderr)
            return 1
        jobs.append((job_id, spec))
        print(f"submitted job {job_id}: {spec.nodes} node(s), {spec.tasks} task(s), output in {spec.out}")
    if not args.wait:
        return 0
    ids = [job for job, _ in jobs]
    try:
        states = slurm.wait(ids, timeout=args.wait_timeout)
    except (TimeoutError, slurm.SlurmError) as exc:
        print(f"{args.prog}: {exc}; the job(s) go on (scancel {' '.join(ids)} stops them)", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        how = _how_stopped(exc)
        print(f"{how}; job(s) {', '.join(ids)} go on (scancel {' '.join(ids)} stops them)", file=sys.stderr)
        return 128 + signum_of(exc)
    return _report_jobs(args.prog, jobs, states)


def _report_jobs(prog: str, jobs: list[tuple[str, Any]], states: dict[str, str | None]) -> int:
    """Print the summary and journal of every finished job; 1 when a job did not complete,
    wrote no journal, or a cell failed."""
    from bench.cli.common import make_console
    from bench.cli.summary import print_summary
    from bench.data.journal import load
    from bench.measuring import batch

    console = make_console()
    status = 0
    for job_id, spec in jobs:
        output, state = f"{spec.out}/slurm-{job_id}.out", states.get(job_id)
        if state not in (None, "COMPLETED"):
            print(f"{prog}: job {job_id} ended {state}; see {output}", file=sys.stderr)
            status = 1
        journals = batch.journals_of(spec.out, job_id)
        if not journals:
            print(f"{prog}: job {job_id} wrote no journal; see {output}", file=sys.stderr)
            status = 1
            continue
        for path in journals:
            results = load(path)
            console.print(f"job {job_id}: {spec.nodes} node(s), {spec.tasks} task(s)")
            print_summary(console, results.cells)
            print(path, flush=True)
            if results.failed:
                status = 1
    return status
