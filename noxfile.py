"""Sessions: ``nox -s bench``, ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck``, ``nox -s overhead``.

Every session runs in the one environment that ``./bootstrap`` installs
(``venv/``, with every extra): nothing is installed twice. Run them as
``./bootstrap nox -s NAME``; arguments after ``--`` are passed on.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]


def _environment(session: nox.Session) -> None:
    """Stop with one line unless the project and its extras are installed where nox runs."""
    missing = [
        name for name in ("bench", "pytest", "mpi4py", "distributed", "pandas") if not importlib.util.find_spec(name)
    ]
    if missing:
        session.error(f"{', '.join(missing)} not installed here; run sessions through ./bootstrap (it installs venv/)")


def _mpiexec() -> str | None:
    """The mpiexec of this environment (the mpich wheel's), when mpi4py is installed."""
    if importlib.util.find_spec("mpi4py") is None:
        return None
    return shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")


def _terminal_env() -> dict[str, str]:
    """Under mpiexec the sweep's output goes through a pipe: keep the progress bar for a person at a terminal."""
    if not sys.stdout.isatty() or os.environ.get("CI"):
        return {}
    size = shutil.get_terminal_size()
    return {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": str(size.columns), "LINES": str(size.lines)}


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Run the default sweep of every executor, mpi-comm included; the journal is kept under results/.

    With MPI installed, the sweep runs under ``mpiexec -n <cores + 1> python -m mpi4py``:
    rank 0 measures while the other ranks are the mpi-comm workers.
    """
    _environment(session)
    mpiexec = _mpiexec()
    if mpiexec is None:
        session.run("python", "bench/run.py", *session.posargs)
        return
    processes = len(os.sched_getaffinity(0)) + 1 if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1) + 1
    command = [mpiexec, "-n", str(processes), sys.executable, "-m", "mpi4py", "bench/run.py", *session.posargs]
    session.run(*command, env=_terminal_env(), external=True)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Run the whole test suite (real process pools, Dask clusters and mpiexec)."""
    _environment(session)
    session.run("pytest", *session.posargs)


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """Check style and common bugs with ruff, and that the code is formatted."""
    session.run("ruff", "check", ".", *session.posargs)
    session.run("ruff", "format", "--check", ".")


@nox.session(venv_backend="none")
def typecheck(session: nox.Session) -> None:
    """Check the types of bench/ and workloads/ with mypy (settings in pyproject.toml)."""
    session.run("mypy", *(session.posargs or ["bench", "workloads"]))


@nox.session(venv_backend="none")
def overhead(session: nox.Session) -> None:
    """Benchmark the suite itself: harness vs a bare loop, per-task cost vs mpi4py.bench, pairing."""
    _environment(session)
    session.run("python", "benchmarks/overhead.py", *session.posargs)
    session.run("python", "benchmarks/task_overhead.py")
    session.run("python", "benchmarks/pairing.py")
