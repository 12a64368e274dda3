"""Where a run's shard tasks execute: `--runner local` (default) or `--runner dask [--dask-address tcp://…]`.

One execution path, two places. The flow maps the same shard tasks either way (tasks/_shards.py):
- local: Prefect's ThreadPoolTaskRunner with one thread per core, each handing its shard's CPU work to one of
  `workers` processes of this run (tasks/_shards.processes; the GIL would serialise it in threads);
- dask: prefect-dask's DaskTaskRunner, on the scheduler at `dask_address`, or on a LocalCluster of `workers`
  single-threaded worker processes when no address is given. Workers read and write the run's spill folders
  under the warehouse, so on several machines the warehouse must be on a filesystem every worker mounts at the
  same path, and every worker needs docpipe installed (same version).

Task runs report to Prefect's API: `prefect_api` points the run's settings at Prefect's temporary server (started
by this process, flows/prefect_server.py) when PREFECT_API_URL is unset (Dask workers on other machines need a
server they can reach: set PREFECT_API_URL); a local run's worker processes start meanwhile.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flows.settings import runner_from_env

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner

    from flows.prefect_server import ServerProcess

RUNNERS = ("local", "dask")


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    kind: str = "local"  # one of RUNNERS
    dask_address: str = ""  # tcp://HOST:PORT of a running Dask scheduler; empty: a LocalCluster
    workers: int = 0  # local processes / LocalCluster workers; 0 = one per core

    def __post_init__(self) -> None:
        if self.kind not in RUNNERS:
            raise ValueError(f"unknown runner {self.kind!r}: expected one of {', '.join(RUNNERS)}")
        if self.dask_address and self.kind != "dask":
            raise ValueError("--dask-address needs --runner dask")

    @property
    def processes(self) -> int:
        return self.workers or os.cpu_count() or 1

    @property
    def local_processes(self) -> int:
        """Worker processes this run starts itself for `offload` (none on Dask)."""
        return self.processes if self.kind == "local" else 0


def runner_config(kind: str | None = None, dask_address: str | None = None, workers: int | None = None) -> RunnerConfig:
    """The runner named by the arguments, else by $DOCPIPE_RUNNER / $DOCPIPE_DASK_ADDRESS / $DOCPIPE_WORKERS,
    else local with one process per core."""
    env_kind, env_address, env_workers = runner_from_env()
    address = dask_address or env_address
    return RunnerConfig(kind or env_kind or ("dask" if address else "local"), address, workers or env_workers)


def task_runner(cfg: RunnerConfig) -> TaskRunner:
    """The Prefect task runner of a run."""
    from prefect.task_runners import ThreadPoolTaskRunner

    if cfg.kind == "local":
        return ThreadPoolTaskRunner(max_workers=cfg.processes)
    from prefect_dask import DaskTaskRunner

    if cfg.dask_address:
        return DaskTaskRunner(address=cfg.dask_address)
    cluster = {"n_workers": cfg.processes, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
    return DaskTaskRunner(cluster_kwargs=cluster)


@contextmanager
def prefect_api(cfg: RunnerConfig, server: ServerProcess | None = None) -> Iterator[None]:
    """For a run without PREFECT_API_URL: Prefect's temporary server (`server`, launched before the run imported
    Prefect, flows/prefect_server.py; launched here when not given), named in the settings every task run carries
    to its worker (else each Dask worker would start a server of its own), and stopped at the end. A local run's
    worker processes start while the server comes up (~10 s of its CPU on a fresh warehouse) instead of at the
    first shard."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.prefect_server import launch_temporary_server, temporary_server_url
    from tasks._shards import prestart_workers, retire_workers

    if PREFECT_API_URL.value():  # set in Prefect's profile rather than the environment: that server
        if server is not None:
            server.stop(grace_seconds=5)
        yield
        return
    prestart_workers(cfg.local_processes)
    try:
        server, api_url = temporary_server_url(server or launch_temporary_server())
        with temporary_settings({PREFECT_API_URL: api_url}):
            try:
                yield
            finally:
                _send_what_is_queued()
    finally:
        retire_workers()
        if server is not None:
            server.stop(grace_seconds=5)


def _send_what_is_queued() -> None:
    """Let Prefect's log and event workers send what they hold before the server stops (as Prefect's own test
    harness does): else they retry against a stopped server at exit (~80 s, measured) and lose it."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)
    EventsWorker.drain_all(timeout=5)
