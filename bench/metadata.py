"""Provenance of a run: many small ``collect_*`` functions into one dict."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["available_cores", "collect_env", "environment", "mpi_name"]

PACKAGES = (
    "parallel-bench",
    "numpy",
    "rich",
    "dask",
    "distributed",
    "dask-jobqueue",
    "mpi4py",
    "mpich",
    "scipy",
    "pandas",
    "matplotlib",
)
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
    """The MPI library, standard, world size and launch, once MPI is initialised."""
    from bench import mpi

    return mpi.describe()


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


COLLECTORS = (collect_python, collect_platform, collect_cpu, collect_packages, collect_mpi, collect_slurm, collect_git)


def collect_env() -> dict[str, Any]:
    """The ``env`` of a journal's run record."""
    env: dict[str, Any] = {}
    for collect in COLLECTORS:
        env.update(collect())
    return env


def mpi_name(env: dict[str, Any]) -> str | None:
    """The MPI library of a run's ``env`` in one line (``MPICH 4.2.0``), or None without MPI."""
    library = env.get("mpi_library")
    if not isinstance(library, str) or not library.strip():
        return None
    first = library.strip().splitlines()[0]
    return re.sub(r"\s+", " ", first.replace(" Version:", "")).strip()


def environment(env: dict[str, Any]) -> dict[str, Any]:
    """What makes timings of two runs comparable, from a run's ``env``: the place (the host, or the
    shape of a Slurm job, whose nodes of one partition are alike), CPU, cores, Python and MPI library."""
    slurm = env.get("slurm") or {}
    place = f"slurm: {slurm.get('slurm_job_num_nodes', '?')} nodes" if env.get("slurm_job_id") else env.get("hostname")
    return {
        "host": place,
        "CPU": env.get("cpu"),
        "cores": env.get("cores_available"),
        "Python": env.get("python"),
        "MPI": mpi_name(env),
    }
