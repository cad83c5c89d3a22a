"""What the suite exposes and what it trusts: listening sockets, journals, batch scripts, user code.

Reports escaping journal strings are tested in ``test_report.py``, Markdown
escaping in ``test_compare.py``, and the shell-quoting of batch scripts in
``test_slurm.py``; here the rest of the audit.
"""

import ast
import json
import os
import pickle

import psutil
import pytest

import bench
import bench.executors
from conftest import ROOT

#: Dask's dashboard port: nothing of the suite listens on it.
DASHBOARD = 8787


def listening(pids):
    """(address, port) of the TCP sockets ``pids`` listen on."""
    return sorted(
        (conn.laddr.ip, conn.laddr.port)
        for conn in psutil.net_connections("inet")
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids
    )


def family():
    """This process and every process it started."""
    return {os.getpid(), *(child.pid for child in psutil.Process().children(recursive=True))}


@pytest.mark.dask
def test_dask_local_listens_on_loopback_only_and_serves_no_dashboard_port():
    DaskLocal = bench.executors.get("dask-local")
    before = set(listening(family()))  # what other tests' helpers of this process hold
    with DaskLocal(2) as pool:
        sockets = sorted(set(listening(family())) - before)
        assert pool.cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    # scheduler, its health routes, and each worker and nanny: all of them
    assert len(sockets) >= 5, sockets
    assert all(address == "127.0.0.1" for address, _ in sockets), sockets
    assert DASHBOARD not in {port for _, port in sockets}


@pytest.mark.slow
@pytest.mark.slurm
def test_dask_slurm_listens_on_loopback_unless_told_an_interface(slurm_nodes):
    DaskSlurm = bench.executors.get("dask-slurm")
    before = set(listening({os.getpid()}))
    with DaskSlurm(1, ready_timeout="60") as pool:
        # the scheduler runs in the driver; the workers in jobs
        sockets = sorted(set(listening({os.getpid()})) - before)
        assert pool.cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert "--host 127.0.0.1" in pool.cluster.job_script()
    assert sockets and all(address == "127.0.0.1" for address, _ in sockets), sockets
    assert DASHBOARD not in {port for _, port in sockets}


def test_a_journal_is_json_and_a_pickle_in_it_is_refused_not_loaded(tmp_path):
    path = tmp_path / "j.jsonl"
    run = {"schema": 1, "kind": "run", "run_id": "x", "started": "2026-01-01T00:00:00+00:00", "argv": [], "env": {}}
    # a pickle that would run a command when unpickled
    payload = pickle.dumps(os.system)
    path.write_bytes(json.dumps(run).encode() + b"\n" + payload + b"\n")
    with pytest.raises(bench.data.journal.JournalError, match="j.jsonl: not a text file"):
        bench.load(path)
    # as the last line of a journal in text (a pickle protocol 0 payload): a torn line, skipped
    path.write_bytes(json.dumps(run).encode() + b"\n" + pickle.dumps(os.system, protocol=0).replace(b"\n", b" "))
    with pytest.warns(bench.data.journal.JournalWarning):
        loaded = bench.load(path)
    assert loaded.runs and not loaded.cells


def test_no_module_of_the_suite_unpickles_or_evaluates_what_it_reads():
    """Results, records and reports go through json only: no pickle, marshal, shelve, eval or exec (pickle's
    ``dumps`` alone may measure what a task sends: it writes, never reads)."""
    unsafe_modules = {"pickle", "marshal", "shelve", "dill", "cloudpickle"}
    writing_only = {"dumps", "HIGHEST_PROTOCOL"}
    found = []
    for path in sorted((ROOT / "bench").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "pickle":
                found += [f"{path.name}: from pickle import {a.name}" for a in node.names if a.name not in writing_only]
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found += [f"{path.name}: import {name}" for name in names if name.split(".")[0] in unsafe_modules]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"eval", "exec"}:
                found.append(f"{path.name}:{node.lineno}: {node.func.id}()")
    assert found == []


@pytest.mark.slow
def test_a_user_workload_is_imported_only_when_named(run_bench, tmp_path):
    """A file beside the journal is not run by listing, planning or reporting: only by naming it."""
    (tmp_path / "evil.py").write_text("open('ran', 'w').close()\n")
    done = run_bench("list", module=True)
    assert done.returncode == 0
    done = run_bench("--executors", "serial", "--workloads", "noop", "--size", "10", "--repeats", "1", "--quiet")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "ran").exists()
    done = run_bench("--executors", "serial", "--workloads", "evil.py:Nothing", "--quiet")
    assert done.returncode == 2 and (tmp_path / "ran").exists()  # named: imported (and then refused)
