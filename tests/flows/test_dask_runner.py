"""The same flow on a Dask cluster: a real `dask scheduler` and two `dask worker` processes on loopback, the real
CLI with `--runner dask --dask-address`; the warehouse equals the default runner's on the shared corpus. A worker
killed by every try of one shard fails the run cleanly; `docpipe rerun` on healthy workers then completes it with
nothing lost or doubled."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from _shapes import write_delivery
from helpers import corpus_pages, need_shared

from schemas import CONTACTS, DOCUMENTS, DUPLICATES, MENTIONS, PROJECTS, QUARANTINE, RUNS
from tasks._shards import FAULT_SHARD_ENV
from tasks._warehouse import read_current

BIN = Path(sys.executable).parent
TABLES = (DOCUMENTS, DUPLICATES, PROJECTS, CONTACTS, MENTIONS, QUARANTINE)
SHARD_ROWS = "40"  # 229 corpus pages → 6 shards over the two workers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dask_cluster(tmp: Path, worker_env: dict[str, str] | None = None) -> Iterator[str]:
    """`dask scheduler` and two single-threaded `dask worker` processes on loopback; yields the address."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, **(worker_env or {})}
    logs = tmp / f"dask-{address.rsplit(':', 1)[1]}"
    logs.mkdir(parents=True)
    port = address.rsplit(":", 1)[1]
    procs = [
        _start([BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"], logs, os.environ)
    ]
    try:
        for _ in range(2):
            procs.append(_start([BIN / "dask", "worker", address, "--nthreads", "1", "--no-dashboard"], logs, env))
        _wait_for_workers(address, 2)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _start(cmd: list, logs: Path, env: dict) -> subprocess.Popen:
    log = (logs / f"{Path(cmd[0]).name}-{cmd[1]}-{time.monotonic_ns()}.log").open("w")
    return subprocess.Popen([str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=logs)


def _wait_for_workers(address: str, n: int) -> None:
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(n, timeout=120)


def _docpipe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "docpipe"), *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=900
    )


def _snapshot(warehouse: Path) -> dict[str, list[tuple]]:
    """Each table's rows without the run-dependent columns, sorted: what must not depend on the runner."""
    out = {}
    for table in TABLES:
        rows = read_current(warehouse, table)
        keep = [c for c in rows.column_names if c not in ("run_id", "ingested_at", "fetched_at")]
        out[table.name] = sorted(map(tuple, (r.values() for r in rows.select(keep).to_pylist())), key=repr)
    return out


@pytest.fixture(scope="module")
def corpus_raw(tmp_path_factory) -> Path:
    need_shared()
    raw = tmp_path_factory.mktemp("dask") / "raw"
    raw.mkdir()
    write_delivery(corpus_pages(), "jsonl", raw)
    return raw


@pytest.fixture(scope="module")
def local_warehouse(corpus_raw, tmp_path_factory) -> dict[str, list[tuple]]:
    warehouse = tmp_path_factory.mktemp("local") / "warehouse"
    done = _docpipe("run", "--raw", str(corpus_raw), "--warehouse", str(warehouse), "--shard-rows", SHARD_ROWS)
    assert done.returncode == 0, done.stdout + done.stderr
    return _snapshot(warehouse)


def test_dask_cluster_gives_the_default_runners_warehouse(corpus_raw, local_warehouse, tmp_path):
    warehouse = tmp_path / "warehouse"
    with dask_cluster(tmp_path) as address:
        done = _docpipe(
            "run", "--raw", str(corpus_raw), "--warehouse", str(warehouse), "--runner", "dask",
            "--dask-address", address, "--shard-rows", SHARD_ROWS,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "extract" in done.stdout and "succeeded" in done.stdout
    got = _snapshot(warehouse)
    assert len(got["documents"]) > 150 and got["duplicates"] and got["projects"] and got["mentions"]
    for name, rows in local_warehouse.items():
        assert rows == got[name], name


def test_a_worker_killed_on_a_shard_fails_the_run_and_rerun_completes_it(corpus_raw, local_warehouse, tmp_path):
    warehouse, run_id = tmp_path / "warehouse", "20261201T000000Z-dasked"
    common = ["--runner", "dask", "--shard-rows", SHARD_ROWS, "--warehouse", str(warehouse)]
    with dask_cluster(tmp_path, {FAULT_SHARD_ENV: "extract:2"}) as address:  # every try of shard 2 kills its worker
        failed = _docpipe("run", "--raw", str(corpus_raw), "--run-id", run_id, "--dask-address", address, *common)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "stage extract failed" in failed.stdout and f"docpipe rerun {run_id}" in failed.stdout
    (row,) = read_current(warehouse, RUNS).to_pylist()
    assert (row["status"], row["failed_stage"]) == ("failed", "extract")
    assert read_current(warehouse, DOCUMENTS).num_rows == 0  # nothing published by the failed run
    with dask_cluster(tmp_path) as address:
        resumed = _docpipe("rerun", run_id, "--dask-address", address, *common)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "skipped" in resumed.stdout  # ingest … dedupe came from their checkpoints
    assert _snapshot(warehouse) == local_warehouse
    statuses = [r["status"] for r in read_current(warehouse, RUNS).to_pylist()]
    assert statuses == ["succeeded"]  # one row per run: the failed attempt's row was replaced


def test_runner_flags_are_checked_before_anything_runs(tmp_path):
    done = _docpipe("run", "--raw", str(tmp_path), "--warehouse", str(tmp_path / "w"), "--dask-address", "tcp://x:1")
    assert done.returncode == 2 and "--dask-address needs --runner dask" in done.stdout
    done = _docpipe("run", "--raw", str(tmp_path), "--warehouse", str(tmp_path / "w"), "--runner", "spark")
    assert done.returncode == 2 and "unknown runner 'spark'" in done.stdout
    assert not (tmp_path / "w").exists()
