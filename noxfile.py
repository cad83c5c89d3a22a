"""Sessions: ``nox -s bench``, ``nox -s report``, ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck``,
``nox -s docs``, ``nox -s overhead``.

Every session runs in the project's one environment, ``venv/``, with every
extra: the first session (or ``./bootstrap``) creates it, and it is updated
when pyproject.toml changes. Nothing is installed twice, whichever nox runs
the sessions (one installed with pipx, in any virtualenv, or the one in
``venv/`` through ``./bootstrap nox``). Arguments after ``--`` are passed on.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nox
from nox.command import CommandFailed

nox.options.sessions = ["lint", "typecheck", "docs", "tests"]

ROOT = Path(__file__).resolve().parent
VENV = ROOT / "venv"


class _NoUvProbe(logging.Filter):
    """nox looks for uv before every session, also for those that make no environment of their own (all
    of these): its "uv binary not found." says nothing about them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "uv binary not found."


logging.getLogger("nox").addFilter(_NoUvProbe())


def _environment(session: nox.Session) -> None:
    """The project's environment, created or brought up to date by ``./bootstrap`` (which says so when
    it installs, and otherwise only checks), first on the path of every command the session runs."""
    session.run("bash", str(ROOT / "bootstrap"), "true", external=True, log=False)
    os.environ["VIRTUAL_ENV"] = str(VENV)
    os.environ["PATH"] = os.pathsep.join([str(VENV / "bin"), os.environ.get("PATH", "")])
    # Where PYTHONDONTWRITEBYTECODE is set (as on many CI machines) Python writes no bytecode: compiled
    # here (again only where a source changed), the project's modules are not compiled anew by each of
    # the hundreds of processes that a sweep's workers or the tests start.
    session.run(
        _python(), "-m", "compileall", "-q", *(str(ROOT / path) for path in PROJECT_CODE), external=True, log=False
    )


#: The project's own Python code, relative to ROOT.
PROJECT_CODE = ("bench", "workloads", "examples", "benchmarks", "tests", "conftest.py", "noxfile.py")


def _python() -> str:
    return str(VENV / "bin" / "python")


def _mpiexec() -> str | None:
    """The mpiexec of the project's environment (the mpich wheel's), when it has one."""
    found = VENV / "bin" / "mpiexec"
    return str(found) if found.exists() else None


def _terminal_env() -> dict[str, str]:
    """Under mpiexec the sweep's output goes through a pipe: keep the progress bar for a person at a terminal."""
    if not sys.stdout.isatty() or os.environ.get("CI"):
        return {}
    size = shutil.get_terminal_size()
    return {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": str(size.columns), "LINES": str(size.lines)}


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Calibrate the cost model of this environment (once: ``calibrate --if-missing``), run the default sweep
    of every executor, mpi-comm included, then report on it: the journal and its report
    (``<journal>-report/index.html``) are kept under results/. Then run the pytest-benchmark
    benchmarks of benchmarks/, saved under results/pytest-benchmark/.

    With MPI installed, the sweep runs under ``mpiexec -n <cores + 1> python -m mpi4py``:
    rank 0 measures while the other ranks are the mpi-comm workers.
    """
    _environment(session)
    out = Path(_option(session.posargs, "--out") or "results")
    before = set(out.glob("*.jsonl"))
    mpiexec = _mpiexec()
    # the cost model's parameters of this environment, once (2 to 3 minutes on 2 cores): the report's model
    # and forecast; not for a dry run, which only lists the sweep's cells
    calibrate = ["-m", "bench", "calibrate", "--if-missing", "--out", str(out)]
    planning = "--dry-run" in session.posargs
    if mpiexec is None:
        if not planning:
            session.run("python", *calibrate, success_codes=[0, 1])
        session.run("python", "bench/run.py", *session.posargs, success_codes=[0, 1])
    else:
        processes = _cores() + 1
        launch = [mpiexec, "-n", str(processes), _python(), "-m", "mpi4py"]
        if not planning:
            session.run(*launch, *calibrate, env=_terminal_env(), external=True, success_codes=[0, 1])
        command = [*launch, "bench/run.py", *session.posargs]
        session.run(*command, env=_terminal_env(), external=True, success_codes=[0, 1])
    resumed = _option(session.posargs, "--resume")
    journals = [Path(resumed)] if resumed else sorted(set(out.glob("*.jsonl")) - before)
    if planning or not journals:
        return
    session.run("python", "-m", "bench", "report", str(journals[-1]))
    count = "import bench, sys; print(len(bench.load(sys.argv[1]).failed))"
    failed = int(str(session.run("python", "-c", count, str(journals[-1]), silent=True, log=False)).strip() or 0)
    # the suite's own pytest-benchmark benchmarks, kept where pytest-benchmark compare finds them; each has
    # the same rounds (the plugin's 5, after a warm-up), so the table leaves that column out to fit 80 columns
    storage = out / "pytest-benchmark"
    session.run(
        "pytest", "benchmarks/", "-o", "addopts=", "-p", "no:cacheprovider", "-q", "--benchmark-autosave",
        f"--benchmark-storage={storage}", "--benchmark-columns=median,iqr", "--benchmark-time-unit=ms",
        "--benchmark-group-by=group",
    )  # fmt: skip
    session.log(
        f"pytest-benchmark: 5 timed rounds each, after a warm-up; JSON in {storage}; "
        f"compare runs with: pytest-benchmark --storage {storage} compare"
    )
    if failed:
        session.error(f"{failed} cell(s) failed; the journal and the report say why")


def _option(args: list[str], flag: str) -> str | None:
    """The value of ``flag`` among a command's arguments (``--out DIR`` or ``--out=DIR``), if given."""
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


@nox.session(venv_backend="none")
def report(session: nox.Session) -> None:
    """Render a report: ``-- JOURNAL... [-o DIR]``; without arguments, of the newest journal in results/."""
    _environment(session)
    args = session.posargs
    if not args:
        journals = sorted(Path("results").glob("*.jsonl"))
        if not journals:
            session.error("no journal in results/: run `./bootstrap nox -s bench` first, or name journals after --")
        args = [str(journals[-1])]
    session.run("python", "-m", "bench", "report", *args)


LOCAL_SLURM = "scripts/local-slurm.sh"


@contextmanager
def _local_slurm(session: nox.Session) -> Iterator[None]:
    """A two-node Slurm on this machine while the block runs, stopped afterwards whatever happens.

    One already running (started by hand) is used and left running. Starting one
    needs root; without it the Slurm tests skip (and fail under CI).
    """
    running = subprocess.run(["bash", LOCAL_SLURM, "status"], capture_output=True, timeout=60).returncode == 0
    if running:
        yield
        return
    if os.geteuid() != 0:
        session.warn(f"not root: the Slurm tests need `sudo {LOCAL_SLURM} start` first")
        yield
        return
    try:
        session.run("bash", LOCAL_SLURM, "start", external=True)
        yield
    finally:
        session.run("bash", LOCAL_SLURM, "stop", external=True)


def _chromium(session: nox.Session) -> None:
    """Debian's chromium, which renders the report in a test: installed when missing and root."""
    if shutil.which("chromium"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        session.warn("chromium is missing: the report's browser test needs `apt-get install chromium`")
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", external=True, env=env, silent=True)
    session.run(
        "apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium", external=True, env=env, silent=True
    )


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Run the whole test suite: real process pools, Dask clusters, mpiexec, a two-node Slurm that
    this session starts (scripts/local-slurm.sh) and stops afterwards, and chromium for the report.

    Two tests at a time (pytest-xdist; those that share the Slurm, Ray or a calibration one after the
    other), then those marked ``alone``, which measure the machine, by themselves. ``-m EXPR`` narrows
    both; other arguments go to both."""
    _environment(session)
    _chromium(session)
    args, marks = _without_marks(session.posargs)
    together = f"({marks}) and not alone" if marks else "not alone"
    alone = f"({marks}) and alone" if marks else "alone"
    with _local_slurm(session):
        # exit status 5: no test was selected (a -m EXPR that selects none of one part)
        failed = []
        for part, command in (
            ("the tests run two at a time", ["-n", str(_test_processes()), "--dist", "loadgroup", "-m", together]),
            ("the tests run alone", ["-m", alone]),
        ):
            try:  # the second part runs even when the first failed: one CI run shows every failure
                session.run("pytest", *command, *args, success_codes=[0, 5])
            except CommandFailed:
                failed.append(part)
        if failed:
            session.error(f"{' and '.join(failed)} failed (above)")


def _without_marks(args: list[str]) -> tuple[list[str], str | None]:
    """The arguments without ``-m EXPR`` (or ``-mEXPR``, ``-m=EXPR``), and EXPR."""
    rest, marks = [], None
    items = iter(args)
    for arg in items:
        if arg == "-m":
            marks = next(items, None)
        elif arg.startswith("-m"):
            marks = arg[2:].lstrip("=")
        else:
            rest.append(arg)
    return rest, marks


def _cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _test_processes() -> int:
    """Tests run two at a time: most wait on processes they start; three on 2 cores saved about 5% of the
    time but stretched the tests that wait for a moment of a run beyond it."""
    return max(1, min(2, _cores()))


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """Check style and common bugs with ruff, and that the code is formatted."""
    _environment(session)
    session.run("ruff", "check", ".", *session.posargs)
    session.run("ruff", "format", "--check", ".")


@nox.session(venv_backend="none")
def typecheck(session: nox.Session) -> None:
    """Check the types of bench/ and workloads/ with mypy (settings in pyproject.toml)."""
    _environment(session)
    session.run("mypy", *(session.posargs or ["bench", "workloads"]))


DOCS_OUT = ROOT / "docs" / "_build" / "html"


@nox.session(venv_backend="none")
def docs(session: nox.Session) -> None:
    """Build the documentation site with Sphinx, every warning an error, into docs/_build/html
    (open its index.html). Its figures come from the journals in results/reference/."""
    _environment(session)
    session.run(
        "sphinx-build", "-W", "--keep-going", "-q", "-b", "html", "-d", str(ROOT / "docs" / "_build" / "doctrees"),
        str(ROOT / "docs"), str(DOCS_OUT), *session.posargs,
    )  # fmt: skip
    session.log(f"the site is in {DOCS_OUT}; open {DOCS_OUT / 'index.html'}")


@nox.session(venv_backend="none")
def overhead(session: nox.Session) -> None:
    """Benchmark the suite itself: harness vs a bare loop, per-task cost vs mpi4py.bench, pairing."""
    _environment(session)
    session.run("python", "benchmarks/overhead.py", *session.posargs)
    session.run("python", "benchmarks/task_overhead.py")
    session.run("python", "benchmarks/pairing.py")
