"""What makes two runs one environment: one definition, for the report (whose cells of one environment
pool), compare (which names what differs) and calibrations (kept and found by the environment's id).

An environment is the place (the host, or the shape of a Slurm job, whose nodes of one partition are
alike), the CPU, the cores available, Python, the MPI library, and the versions of the packages that
time: the suite's own, numpy and every back-end's library. A run's ``env`` (its run record's) holds
them all (``bench.host.provenance``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from bench.host.provenance import TIMED_PACKAGES

__all__ = ["TIMED_PACKAGES", "env_id", "env_summary", "identity", "mpi_name"]


def mpi_name(env: Mapping[str, Any]) -> str | None:
    """The MPI library of a run's ``env`` in one line (``MPICH 4.2.0``), or None without MPI."""
    library = env.get("mpi_library")
    if not isinstance(library, str) or not library.strip():
        return None
    first = library.strip().splitlines()[0]
    return re.sub(r"\s+", " ", first.replace(" Version:", "")).strip()


def _mpi_wheel(packages: Mapping[str, Any]) -> str | None:
    """The MPI library a run's packages name, for a run that did not record the library itself (before
    the suite asked it of MPI when MPI was not initialised): the mpich wheel's MPICH, as ``mpi_name``
    would name it."""
    version = packages.get("mpich")
    return None if version is None else f"MPICH {version}"


def _python(env: Mapping[str, Any]) -> str | None:
    version, implementation = env.get("python"), env.get("python_implementation")
    if version is None or implementation in (None, "CPython"):
        return None if version is None else str(version)
    return f"{implementation} {version}"


def identity(env: Mapping[str, Any]) -> dict[str, str | None]:
    """What must match for the timings of two runs to be comparable, field by field (a field that a run did
    not record is None)."""
    slurm = env.get("slurm") or {}
    place = f"slurm: {slurm.get('slurm_job_num_nodes', '?')} nodes" if env.get("slurm_job_id") else env.get("hostname")
    cores = env.get("cores_available") or env.get("cores")
    recorded = env.get("packages")
    packages: Mapping[str, Any] = recorded if isinstance(recorded, Mapping) else {}
    found: dict[str, str | None] = {
        "host": None if place is None else str(place),
        "CPU": None if env.get("cpu") is None else str(env.get("cpu")),
        "cores": None if cores is None else str(cores),
        "Python": _python(env),
        "MPI": mpi_name(env) or _mpi_wheel(packages),
    }
    for name in TIMED_PACKAGES:
        version = packages.get(name)
        found[name] = None if version is None else str(version)
    return found


def env_id(env: Mapping[str, Any]) -> str:
    """A short stable id of an environment (:func:`identity`): its host's name and a hash of the rest."""
    digest = hashlib.sha256(json.dumps(identity(env), sort_keys=True).encode()).hexdigest()
    return f"{env.get('hostname') or 'host'}-{digest[:10]}"


def env_summary(env: Mapping[str, Any]) -> str:
    """An environment in a few words, for the line that refuses a calibration of another one."""
    found = identity(env)
    return f"host {found['host']}, {found['cores']} cores, Python {found['Python']}, {found['MPI'] or 'no MPI'}"
