"""Synthetic journals with known answers: cells whose paired speedups scatter around a chosen value."""

import json

import numpy as np

RNG_SEED = 20261122
ENV = {"hostname": "node1", "cpu": "Test CPU", "cores": 16, "cores_available": 16, "python": "3.11.7"}


def cell(
    executor,
    workers,
    speedup,
    *,
    workload="fibprimes",
    size=2000,
    chunk="16",
    chunksize=None,
    method="map",
    params=None,
    serial_s=1.0,
    rounds=6,
    spread=0.01,
    items=None,
    rng=None,
    status="ok",
    error=None,
    startup_s=0.2,
    instance=1,
):
    """A cell record whose paired speedups scatter by ``spread`` around ``speedup``."""
    rng = rng or np.random.default_rng(RNG_SEED)
    base = serial_s * (1 + rng.uniform(-spread, spread, rounds))
    times = base / (speedup * (1 + rng.uniform(-spread, spread, rounds)))
    serial = executor == "serial"
    ok = status == "ok"
    return {
        "schema": 1, "kind": "cell", "executor": executor, "workers": workers, "workload": workload, "size": size,
        "chunksize": chunksize or (1 if chunk in ("n/a", "auto") else int(chunk)), "chunksize_spec": chunk,
        "params": params or {}, "method": method, "status": status, "error": error,
        "times_s": (base if serial else times).tolist() if ok else [],
        "baseline_s": None if serial or not ok else base.tolist(),
        "items": items if items is not None else size, "startup_s": startup_s, "instance": instance,
        "verified": True if ok else None,
    }  # fmt: skip


def write_journal(path, cells, env=None, run_id=None):
    run_id = run_id or path.stem
    lines = [{"schema": 1, "kind": "run", "run_id": run_id, "started": "2026-11-22T10:00:00+00:00",
              "argv": ["bench/run.py"], "env": {**ENV, **(env or {})}}]  # fmt: skip
    lines += [{**c, "run_id": run_id} for c in cells]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path
