"""A pytest plugin: time your own function on every executor through pytest-benchmark.

    def test_my_kernel(executor_benchmark):
        executor_benchmark(my_kernel, my_items, chunksize=16)

The test runs once per (executor, workers): ``--bench-executors A,B`` and
``--bench-workers 1,2`` choose them (default: every local executor available
here, 1 and 2 workers). Each call maps the function over the items on a
started executor, timed by ``benchmark.pedantic``, so pytest-benchmark
stores, compares and plots it as usual (``--benchmark-json``,
``--benchmark-autosave``, ``--benchmark-compare``); the tests of one test
function share a group. The answer is checked against the serial loop's
``[fn(x) for x in items]``, and a test whose executor answered differently
fails.

An executor is started once per (executor, workers) and kept for every test
of a module that uses it: within each module the plugin runs those tests one
executor after the other (their order among themselves changes, nothing else
moves), and stops an executor as soon as the next test does not use it, so
that idle workers disturb no other test.
Start-up time is recorded in each benchmark's ``extra_info``. The function
and items must be picklable for the process back-ends: define the function at
module level.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

__all__ = ["ExecutorBenchmark", "Pools", "default_executors"]

FIXTURE = "executor_benchmark"
DEFAULT_WORKERS = (1, 2)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bench", "executor_benchmark: time a function on every parallel back-end")
    group.addoption(
        "--bench-executors",
        metavar="A,B",
        help="executors of executor_benchmark (default: every local executor available here)",
    )
    group.addoption("--bench-workers", metavar="1,2", help="worker counts of executor_benchmark (default: 1,2)")


def default_executors() -> list[str]:
    """Every registered executor whose workers run on this machine and that can run in this process."""
    import bench.executors

    found = []
    for name in bench.executors.names():
        backend = bench.executors.get(name)
        if backend.local and backend.available() is None:
            found.append(name)
    return found


def _names(config: pytest.Config) -> list[str]:
    import bench.executors

    text = config.getoption("bench_executors")
    if not text:
        return default_executors()
    names = [part.strip() for part in text.split(",") if part.strip()]
    known = bench.executors.names()
    for name in names:
        if name not in known:
            raise pytest.UsageError(f"--bench-executors: unknown executor {name!r}; known: {', '.join(known)}")
    return list(dict.fromkeys(names))


def _workers(config: pytest.Config) -> list[int]:
    text = config.getoption("bench_workers")
    if not text:
        return list(DEFAULT_WORKERS)
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise pytest.UsageError(f"--bench-workers: {text!r} is not a list of positive integers such as 1,2")
    return list(dict.fromkeys(int(part) for part in parts))


def _params(config: pytest.Config) -> list[Any]:
    """One pytest param per (executor, workers); those that cannot run here are skipped with the reason."""
    import bench.executors

    params = []
    for name in _names(config):
        backend = bench.executors.get(name)
        for workers in _workers(config):
            if backend.max_workers is not None and workers > backend.max_workers:
                continue  # serial x2 means nothing
            reason = backend.available() or backend.unsupported(workers)
            marks = [pytest.mark.skip(reason=f"{name}: {reason}")] if reason else []
            params.append(pytest.param((name, workers), id=f"{name}-{workers}", marks=marks))
    return params


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's session exists
def pytest_configure(config: pytest.Config) -> None:
    """A bad --bench-executors or --bench-workers is a usage error before anything is collected. And
    pytest-benchmark's table sorts by a column it shows: where the columns asked for leave out ``min``
    (its default order) and show the median, it sorts by the median."""
    if config.getoption("bench_executors", None):
        _names(config)
    if config.getoption("bench_workers", None):
        _workers(config)
    session = getattr(config, "_benchmarksession", None)
    columns = config.getoption("benchmark_columns", None) or ()
    if session is not None and session.sort == "min" and "min" not in columns and "median" in columns:
        session.sort = "median"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if FIXTURE in metafunc.fixturenames:
        metafunc.parametrize(FIXTURE, _params(metafunc.config), indirect=True)


def _key(item: pytest.Item) -> tuple[str, int] | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get(FIXTURE) if callspec is not None else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Within each module, its executor_benchmark tests, in the slots they hold, ordered executor by
    executor (other tests and other modules stay where they are)."""
    slots: dict[Any, list[int]] = {}
    for index, item in enumerate(items):
        if _key(item) is not None:
            slots.setdefault(item.path, []).append(index)
    for indices in slots.values():
        order = {key: rank for rank, key in enumerate(dict.fromkeys(_key(items[index]) for index in indices))}
        ordered = sorted((items[index] for index in indices), key=lambda item: order[_key(item)])
        for index, item in zip(indices, ordered, strict=True):
            items[index] = item


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the running executor once the next test does not use it, before anything else runs."""
    pools = item.config.stash.get(POOLS, None)
    if pools is not None and pools.key is not None and (nextitem is None or _key(nextitem) != pools.key):
        pools.close()


class Pools:
    """Started executors, one at a time: asking for another stops the one that runs."""

    def __init__(self) -> None:
        #: The (executor, workers) running now.
        self.key: tuple[str, int] | None = None
        self._pool: Any = None
        #: Seconds each (executor, workers) took to start, until every worker had answered.
        self.startup_s: dict[tuple[str, int], float] = {}

    def get(self, name: str, workers: int) -> Any:
        import bench.executors
        from bench.host import inner_threads

        if self.key != (name, workers):
            self.close()
            backend = bench.executors.get(name)
            start = time.perf_counter()
            # the suite's rule for inner threads, as in a sweep: each worker gets its share of the cores
            pool = backend(workers, threads=inner_threads.per_worker(inner_threads.AUTO, backend.worker_cores(workers)))
            self._pool = pool.__enter__()
            self.key = (name, workers)
            self.startup_s[name, workers] = time.perf_counter() - start
        return self._pool

    def abort(self) -> None:
        """Stop the running executor at once, dropping what it was doing."""
        if self._pool is not None:
            pool, self._pool, self.key = self._pool, None, None
            pool.abort()

    def close(self) -> None:
        if self._pool is not None:
            pool, self._pool, self.key = self._pool, None, None
            pool.__exit__(None, None, None)


POOLS = pytest.StashKey[Pools]()


@pytest.fixture(scope="session")
def bench_pools(pytestconfig: pytest.Config) -> Iterator[Pools]:
    """The executors of executor_benchmark: each stopped when the next test needs another, the last
    at the end of the session."""
    pools = Pools()
    pytestconfig.stash[POOLS] = pools
    yield pools
    pools.close()
    del pytestconfig.stash[POOLS]


def equal(a: Any, b: Any) -> bool:
    """Whether two results are the same, numpy arrays (compared element by element) and containers of them
    included."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[key], b[key]) for key in a)
    if type(a).__module__ == "numpy" or type(b).__module__ == "numpy":
        import numpy as np

        return bool(np.array_equal(a, b))
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # an object whose == is not a truth value
        return False


def _same(results: list[Any], expected: list[Any], ordered: bool) -> bool:
    if ordered:
        return equal(results, expected)
    unmatched = list(expected)  # as completed: match each result with one expected answer
    for result in results:
        found = next((index for index, answer in enumerate(unmatched) if equal(result, answer)), None)
        if found is None:
            return False
        del unmatched[found]
    return not unmatched


class ExecutorBenchmark:
    """What ``executor_benchmark`` gives a test: call it with a function and its items."""

    def __init__(self, benchmark: Any, pools: Pools, name: str, workers: int, group: str) -> None:
        self.benchmark, self.pools = benchmark, pools
        self.executor, self.workers = name, workers
        if getattr(benchmark, "group", None) is None:
            benchmark.group = group

    def __call__(
        self,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        chunksize: int | None = None,
        *,
        method: str = "map",
        rounds: int = 5,
        warmup_rounds: int = 1,
        timeout: float | None = None,
    ) -> list[Any]:
        """Time ``method`` (map, imap or imap_unordered) of ``fn`` over ``items`` on this test's executor:
        ``rounds`` timed runs after ``warmup_rounds``; returns the results, checked against the serial loop.

        ``chunksize``: items per task; by default multiprocessing's rule, ceil(items / (4 x workers)).

        ``items`` is read once into a list, so that every run and the serial check see the same items;
        ``timeout`` (seconds) bounds each run.
        """
        from bench.data.chunks import auto_chunksize
        from bench.executors.local import Serial
        from bench.host import inner_threads

        items = list(items)
        if chunksize is None:
            chunksize = auto_chunksize(len(items), self.workers)
        with inner_threads.limited(Serial.worker_cores(1)):  # as a sweep's serial baseline: a thread per core
            start = time.perf_counter()
            expected = [fn(item) for item in items]
            serial_s = time.perf_counter() - start
        pool = self.pools.get(self.executor, self.workers)
        run = pool.method(method)

        def once() -> list[Any]:
            return list(run(fn, items, chunksize=chunksize, timeout=timeout))

        self.benchmark.extra_info.update(
            executor=self.executor,
            workers=self.workers,
            chunksize=chunksize,
            method=method,
            items=len(items),
            startup_s=self.pools.startup_s.get((self.executor, self.workers)),
            serial_s=serial_s,
            threads_per_worker=pool.threads,
            baseline_threads=Serial.worker_cores(1),
        )
        try:
            with pool.limits():  # where the work runs in this process, its threads are set around the runs
                results: list[Any] = self.benchmark.pedantic(
                    once, rounds=rounds, iterations=1, warmup_rounds=warmup_rounds
                )
        except BaseException:  # a raising function, a timeout, an interrupt: the next test gets a fresh one
            self.pools.abort()
            raise
        self._verify(results, expected, ordered=method != "imap_unordered")
        return results

    def _verify(self, results: list[Any], expected: list[Any], ordered: bool) -> None:
        """Fail the test where the executor answered differently from the serial loop."""
        if not _same(results, expected, ordered=ordered):
            if len(results) == len(expected):
                wrong = sum(not equal(a, b) for a, b in zip(results, expected, strict=True))
                detail = f"{wrong} of {len(expected)} results differ"
            else:
                detail = f"{len(results)} results for {len(expected)} items"
            self.benchmark.has_error = True  # pytest-benchmark then stores no timing of a wrong answer
            pytest.fail(f"{self.executor} x{self.workers} answered differently from the serial loop: {detail}")
        self.benchmark.extra_info["verified"] = True


@pytest.fixture
def executor_benchmark(request: pytest.FixtureRequest, benchmark: Any, bench_pools: Pools) -> ExecutorBenchmark:
    """Time a function on one executor and worker count (the test runs once for each); see ExecutorBenchmark."""
    param = getattr(request, "param", None)
    if param is None:  # not parametrized by this plugin (e.g. requested only by another fixture)
        pytest.skip("executor_benchmark is parametrized per test function; request it in the test itself")
    name, workers = param
    return ExecutorBenchmark(benchmark, bench_pools, name, workers, request.node.originalname)
