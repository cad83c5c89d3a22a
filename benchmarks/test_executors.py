"""pytest-benchmark benchmarks of the executors, through the suite's own pytest plugin.

    ./bootstrap pytest benchmarks/ --benchmark-autosave --benchmark-storage results/pytest-benchmark
    ./bootstrap pytest benchmarks/ --bench-executors process-pool,dask-local --bench-workers 1,2,4

Each test runs once per executor and worker count (``--bench-executors``,
``--bench-workers``); ``nox -s bench`` runs them after its sweep and keeps
their JSON under ``results/pytest-benchmark/``, where ``pytest-benchmark
compare`` and ``--benchmark-compare`` find it.
"""

import workloads

FIBPRIMES = workloads.get("fibprimes")
NOOP = workloads.get("noop")


def test_fibprimes(executor_benchmark):
    """The course exercise at a small size: primes among the first 1000 Fibonacci numbers, 16 per task."""
    items = list(FIBPRIMES.items(1000))
    results = executor_benchmark(FIBPRIMES.task, items, chunksize=16)
    assert FIBPRIMES.verify(FIBPRIMES.reduce(results), 1000)


def test_noop_500(executor_benchmark):
    """500 tasks that do nothing, one per chunk: the time of the whole run (divide by 500 for what each
    task costs the executor; the report's per-task cost is fitted from several task counts)."""
    executor_benchmark(NOOP.task, list(NOOP.items(500)), chunksize=1)
