"""Dask back-ends: a client over a cluster; variants differ in ``make_cluster``."""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from typing import Any

from bench.executors.base import TIMEOUT_ERRORS, Executor, ignoring_interrupts

__all__ = ["DaskLocal"]


class _DaskBase(Executor):
    """Dask has no chunked map: the base class batches items into chunk tasks."""

    packages = ("dask", "distributed")
    cluster: Any
    client: Any

    @classmethod
    def available(cls) -> str | None:
        if importlib.util.find_spec("distributed") is None:
            return "distributed is not installed (pip install -e '.[dask]')"
        return None

    def make_cluster(self) -> Any:
        raise NotImplementedError

    def start(self) -> None:
        from distributed import Client

        self.cluster = self.make_cluster()
        self.client = Client(self.cluster)

    def wait_ready(self) -> None:
        self.client.wait_for_workers(self.workers, timeout=120)
        self.client.run(os.getpid)  # every worker answers once

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        # pure=False: every call is new work, never a cached result.
        return self.client.submit(fn, *args, pure=False)

    def _gather(self, futures: list[Any], timeout: float | None) -> list[Any]:
        from distributed import wait

        try:
            wait(futures, timeout=timeout)
        except TIMEOUT_ERRORS:
            self.client.cancel(futures)
            raise
        results: list[Any] = self.client.gather(futures)
        return results

    def shutdown(self) -> None:
        client, cluster = getattr(self, "client", None), getattr(self, "cluster", None)
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    def abort(self) -> None:
        """Tear the cluster down without its farewell noise (closed connections, cancelled tasks)."""
        loggers = [logging.getLogger(name) for name in ("distributed", "asyncio", "tornado")]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.setLevel(logging.CRITICAL + 1)
        try:
            self.shutdown()
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


class DaskLocal(_DaskBase):
    """distributed.LocalCluster: one single-threaded worker process per worker."""

    name = "dask-local"
    description = "Dask distributed.LocalCluster (processes, 1 thread each, loopback)"

    def make_cluster(self) -> Any:
        from distributed import LocalCluster

        # The worker processes inherit an ignored SIGINT: Ctrl-C is for the driver.
        with ignoring_interrupts():
            return LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                # The scheduler serves health routes even without a dashboard:
                # keep them on loopback, on a free port rather than 8787.
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                # Failures reach the driver through the futures; what the cluster logs on its
                # own (a heartbeat that finds the scheduler gone at teardown) is noise.
                silence_logs=logging.CRITICAL,
            )
