"""Shared fixtures: the OEIS oracle, a CLI runner with a timeout, leak checks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent

# The tests' sweeps (hundreds) probe no noise unless one asks (--noise, Matrix(noise=...)): each probe
# takes two seconds of both cores. tests/test_noise.py asks.
os.environ["BENCH_NOISE_S"] = "0"
# Nor do they spread rounds over blocks unless one asks (--blocks, Matrix(blocks=...)): each block starts
# every group's executor again. tests/test_blocks.py asks.
os.environ["BENCH_BLOCKS"] = "1"

#: The executor registry names of the contract (../shared/DESIGN.md), in their documented order.
EXECUTOR_CONTRACT = (
    "serial",
    "thread-pool",
    "multiprocessing",
    "process-pool",
    "mpi-comm",
    "mpi-pool",
    "dask-local",
    "dask-slurm",
    "joblib",
    "ray",
)

#: OEIS A001605: indices n of prime Fibonacci numbers F(n).
A001605 = [
    3,
    4,
    5,
    7,
    11,
    13,
    17,
    23,
    29,
    43,
    47,
    83,
    131,
    137,
    359,
    431,
    433,
    449,
    509,
    569,
    571,
    2971,
    4723,
    5387,
    9311,
    9677,
    14431,
    25561,
    30757,
    35999,
    37511,
    50833,
    81839,
]


def unavailable(reason: str) -> None:
    """Skip a test whose real component is missing here, but fail it under CI (``CI`` set),
    where a skipped Slurm or MPI test would hide a missing set-up step."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (a skip is a failure under CI)")
    pytest.skip(reason)


def pytest_collection_modifyitems(items):
    """``-m fast``: every test that is neither slow (more than a second or so) nor needs Slurm, for the
    edit-test loop (under two minutes); the test command runs them all."""
    for item in items:
        if not item.get_closest_marker("slow") and not item.get_closest_marker("slurm"):
            item.add_marker(pytest.mark.fast)


def pytest_itemcollected(item: pytest.Item) -> None:
    """The test command runs the tests two at a time (pytest-xdist), but for those marked ``alone``, which
    measure the machine itself and run afterwards by themselves. Tests that share what there is one of run
    one after the other in one process: their group, marked as each is collected (pytest-xdist reads the
    groups before other hooks see the whole collection)."""
    shared = group(item)
    if shared:
        item.add_marker(pytest.mark.xdist_group(shared))
    if shared == "slurm" and not item.get_closest_marker("slurm"):  # dask-slurm's contract tests: Slurm's too
        item.add_marker(pytest.mark.slurm)
    if shared == "calibration" and not item.get_closest_marker("slow"):  # a real calibration first: 20 s or more
        item.add_marker(pytest.mark.slow)


#: A test of Ray: by its module, its name or its executor parameter (not "array", not "stray").
_RAY = re.compile(r"(^|[^a-z])ray([^a-z]|$)")


def group(item: pytest.Item) -> str | None:
    """What a test shares that is one per machine, or dear to start twice: the local Slurm (its two nodes);
    Ray (one local cluster at a time, whose folders the tests count); the session's calibration; and each
    running executor of the contract tests (a module-wide instance)."""
    fixtures = getattr(item, "fixturenames", ())
    if item.get_closest_marker("slurm") or "slurm_nodes" in fixtures or "dask-slurm" in item.nodeid:
        return "slurm"
    if _RAY.search(item.nodeid):
        return "ray"
    if "calibrated" in fixtures:
        return "calibration"
    callspec = getattr(item, "callspec", None)
    pool = callspec.params.get("pool") if callspec is not None else None
    if isinstance(pool, tuple):
        return "contract-{}-{}".format(*pool)
    return None


@pytest.fixture(scope="session")
def slurm_nodes():
    """The nodes of a running Slurm (``scripts/local-slurm.sh start``; the test command starts it)."""
    from bench.host import slurm

    reason = slurm.unreachable()
    if reason:
        unavailable(reason)
    nodes = slurm.node_cpus()
    if len(nodes) != 2:
        unavailable(f"these tests need a Slurm of 2 nodes (scripts/local-slurm.sh), this one has {len(nodes)}")
    return sorted(nodes)


@pytest.fixture
def fib_oracle():
    """The known answer of ``fibprimes`` for a size, from OEIS A001605."""
    return lambda size: [n for n in A001605 if n <= size]


@pytest.fixture
def raising_plugin(tmp_path):
    """A PYTHONPATH on which the ``raising`` test workload is installed (entry point)."""
    plugin = tmp_path / "plugin"
    dist = plugin / "raising-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: raising\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[bench.workloads]\nraising = tests.raising_workload:Raising\n")
    return f"{plugin}{os.pathsep}{ROOT}"


@pytest.fixture
def scratch(tmp_path):
    """A temporary folder of the test's own, for ``TMPDIR``: what a run leaves there (``pymp-*``,
    ``bench-dask-*``, ``dask-scratch-space``) can be seen, and nothing else lands in it."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


#: How soon the watchers of a launch's processes have removed what the processes left (bench.host.scratch).
WATCHED_S = 5.0


def left_after_an_abort(folder: Path) -> list[str]:
    """What is left in ``folder`` (a run's ``TMPDIR``) 5 s after the last process of a run that MPI aborted
    (or that was killed) has ended: each process's folder, with what it lists (MPI's segments in /dev/shm,
    its process manager's files), goes with its watcher, without waiting for a next sweep."""
    from bench.host import scratch
    from tests.helpers import still_running

    left = left_in(folder)
    assert all(name.startswith(scratch.PREFIX) for name in left), left
    owners = [int(name.split("-")[1]) for name in left if "/" not in name]
    # the launch's last processes may still be ending
    assert still_running([process for pid in owners if (process := _process(pid))], wait_s=30) == []
    return left_in(folder, wait_s=WATCHED_S)


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def left_in(folder: Path, wait_s: float = 0.0) -> list[str]:
    """What is left in ``folder``, waiting up to ``wait_s`` for it to empty (batch jobs end on their own)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(0.2)


@pytest.fixture
def run_bench(tmp_path):
    """Run ``python bench/run.py ARGS`` in a fresh process, with a timeout."""

    def run(
        *args: str, timeout: float = 240, module: bool = False, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """``module=True`` runs ``python -m bench ARGS`` instead (project on PYTHONPATH); ``env`` adds variables."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        command = [sys.executable, str(ROOT / "bench" / "run.py")]
        if module:
            command = [sys.executable, "-m", "bench"]
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        return subprocess.run(
            command + list(args), cwd=tmp_path, capture_output=True, text=True, timeout=timeout, env=env
        )

    return run


@pytest.fixture(scope="session")
def calibrated(tmp_path_factory):
    """A real calibration of two back-ends on this machine (about 20 s): (its results folder, its path)."""
    out = tmp_path_factory.mktemp("calibrated")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_NOISE_S": "1"}  # and the machine's noise, as calibrate does
    command = [sys.executable, "-m", "bench", "calibrate", "--executors", "thread-pool,process-pool", "--quiet"]
    result = subprocess.run(
        command + ["--out", str(out)], capture_output=True, text=True, timeout=240, cwd=out, env=env
    )
    assert result.returncode == 0, result.stderr
    return out, Path(result.stdout.split()[-1])


#: Helpers that live exactly as long as the pytest process: multiprocessing's
#: forkserver and resource tracker, the process manager (mpiexec -pmi_args,
#: hydra_pmi_proxy) that an MPICH singleton starts to spawn and stops at MPI_Finalize,
#: and the watcher of the process's temporary folder (bench.host.scratch).
LIFELONG_HELPERS = (
    "bench_scratch_watcher",
    "multiprocessing.forkserver",
    "multiprocessing.resource_tracker",
    "joblib.externals.loky.backend.resource_tracker",
    "mpiexec -pmi_args",
    "hydra_pmi_proxy",
)


def _leftover_children() -> list[str]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if not any(part in cmdline for part in LIFELONG_HELPERS):
            found.append(f"{child.pid}: {cmdline[:120]}")
    return found


@pytest.fixture(scope="session", autouse=True)
def no_leftover_processes():
    """Every process a test starts, it stops (LIFELONG_HELPERS end with pytest)."""
    yield
    leftovers = []
    for _ in range(50):  # pools wind down asynchronously
        leftovers = _leftover_children()
        if not leftovers:
            return
        psutil.wait_procs(psutil.Process().children(recursive=True), timeout=0.1)
    pytest.fail(f"processes left running after the tests: {leftovers}")


#: What MPI and multiprocessing leave in /tmp and /dev/shm when a process is stopped abruptly.
LEFTOVER_PATTERNS = ("/tmp/hydra_hwloc_xmlfile_*", "/dev/shm/mpich_shm_*", "/dev/shm/sem.mp-*", "/tmp/bench-*")


def _leftover_files() -> set[str]:
    import glob

    return {path for pattern in LEFTOVER_PATTERNS for path in glob.glob(pattern)}


def _in_a_worker(config: pytest.Config) -> bool:
    """Whether this process is one of several that share the run (pytest-xdist's): the files a run leaves
    are the machine's, so the one process that outlives the others checks them."""
    return hasattr(config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[FILES_BEFORE] = _leftover_files()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Nothing the tests' runs made is left in /tmp or /dev/shm: a run removes its own files, and what a
    deliberately aborted or killed one left is removed by the next sweep (here, one last clean-up)."""
    if _in_a_worker(session.config) or session.config.option.collectonly:
        return
    left = _files_left(session.config.stash[FILES_BEFORE])
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"FAILED: files left behind by the tests: {left}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


FILES_BEFORE = pytest.StashKey[set[str]]()


def _files_left(before: set[str]) -> list[str]:
    from bench.host import scratch

    own = f"/tmp/{scratch.PREFIX}{os.getpid()}-"  # this process's folder goes when it ends
    deadline = time.monotonic() + 15  # processes of an aborted job may still be finalizing
    while True:
        scratch.remove_stale()
        left = sorted(path for path in _leftover_files() - before if not path.startswith(own))
        if left:  # MPI in a live process removes them as it ends
            mapped = _mapped()
            left = [path for path in left if path not in mapped]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def _mapped() -> str:
    """The memory maps of every live process (this one, and the test run's other processes, ending)."""
    found = []
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            found.append(maps.read_text(encoding="utf-8"))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return "".join(found)
