"""Sessions: ``nox -s tests``, ``nox -s bench``, ``nox -s lint``, ``nox -s overhead``.

Every session installs the project from pyproject.toml into its own
virtualenv (``.nox/<session>``), whose bin/ (with MPICH's ``mpiexec``) is on
PATH while the session runs. Arguments after ``--`` are passed on.
"""

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite (real process pools, Dask and MPI)."""
    session.install("-e", ".[all]")
    session.run("pytest", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the default sweep (quick preset); the journal is kept under results/."""
    session.install("-e", ".[all]")
    session.run("python", "bench/run.py", *session.posargs)


@nox.session
def overhead(session: nox.Session) -> None:
    """Benchmark the suite itself: harness vs a bare loop, per-task cost vs mpi4py.bench, pairing."""
    session.install("-e", ".[all]")
    session.run("python", "benchmarks/overhead.py", *session.posargs)
    session.run("python", "benchmarks/task_overhead.py")
    session.run("python", "benchmarks/pairing.py")


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and common bugs with ruff."""
    session.install("ruff")
    session.run("ruff", "check", ".", *session.posargs)
