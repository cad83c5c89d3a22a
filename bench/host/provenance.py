"""Provenance of a run: many small ``collect_*`` functions into one dict."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["available_cores", "collect_env", "collect_identity"]

#: The packages whose versions can change timings: the suite's own, numpy, and each back-end's library.
TIMED_PACKAGES = (
    "parallel-bench",
    "numpy",
    "dask",
    "distributed",
    "dask-jobqueue",
    "mpi4py",
    "mpich",
    "joblib",
    "ray",
)
#: The packages whose versions a run records: those that time, and those that compute its statistics and
#: draw its report.
PACKAGES = (*TIMED_PACKAGES, "rich", "scipy", "pandas", "matplotlib")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def package_versions(*names: str) -> dict[str, str | None]:
    """Installed versions of the named distributions (None when absent)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def available_cores() -> int:
    """Cores this process may run on (affinity-aware, so right under Slurm)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def collect_python() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
    }


def collect_platform() -> dict[str, Any]:
    return {"platform": platform.platform(), "machine": platform.machine(), "hostname": socket.gethostname()}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def collect_cpu() -> dict[str, Any]:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "cores_available": available_cores()}


def collect_packages() -> dict[str, Any]:
    return {"packages": {name: ver for name, ver in package_versions(*PACKAGES).items() if ver}}


def collect_mpi() -> dict[str, Any]:
    """The MPI library and standard (also before MPI is initialised), world size and launch."""
    from bench.host import mpi_launch

    return mpi_launch.describe()


def collect_slurm() -> dict[str, Any]:
    """The Slurm job this run is part of: id, node list, tasks, and the node of this process."""
    keys = ("SLURM_JOB_ID", "SLURM_JOB_NODELIST", "SLURM_JOB_NUM_NODES", "SLURM_CPUS_ON_NODE", "SLURM_NTASKS")
    slurm = {key.lower(): os.environ[key] for key in keys if key in os.environ}
    return {
        "slurm_job_id": slurm.get("slurm_job_id"),
        "slurm_nodes": slurm.get("slurm_job_nodelist"),
        "slurm_node": os.environ.get("SLURMD_NODENAME"),
        "slurm": slurm or None,
    }


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def collect_git() -> dict[str, Any]:
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"git_commit": commit, "git_dirty": bool(status) if status is not None else None}


#: What names the environment (``bench.data.environment.identity``), and all a run records.
IDENTITY = (collect_python, collect_platform, collect_cpu, collect_packages, collect_mpi, collect_slurm)
COLLECTORS = (*IDENTITY, collect_git)


def collect_env() -> dict[str, Any]:
    """The ``env`` of a journal's run record."""
    env: dict[str, Any] = {}
    for collect in COLLECTORS:
        env.update(collect())
    return env


def collect_identity() -> dict[str, Any]:
    """What names this environment (``bench.data.environment``), as a run record's ``env`` holds it."""
    env: dict[str, Any] = {}
    for collect in IDENTITY:
        env.update(collect())
    return env
