"""The run's local worker processes (tasks/_shards.py) serve one stage each: a stage's imports and caches leave
with its processes. Two "stages" here are two modules' functions that return the pid of the process running them
(`os.getpid` from `posix`, `threading.get_native_id` from `_thread`: the main thread's id is the pid on Linux)."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time

import pytest

from tasks._shards import (
    apart,
    offload,
    offload_each,
    prestart_workers,
    retire_workers,
    spread_rows,
    stage_of,
    worker_processes,
)
from tasks.validate import TableExpectationFailed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_stage_gets_new_processes_and_the_previous_ones_exit():
    assert stage_of(os.getpid) != stage_of(threading.get_native_id)
    with worker_processes(2):
        first = {offload(os.getpid) for _ in range(4)}
        assert os.getpid() not in first and 1 <= len(first) <= 2
        assert {offload(os.getpid) for _ in range(4)} <= first  # same stage: the same processes
        second = {offload(threading.get_native_id) for _ in range(4)}
        assert second and not second & first and os.getpid() not in second
        assert not any(_alive(pid) for pid in first)
        retire_workers()
        assert not any(_alive(pid) for pid in second)
        third = offload(os.getpid)
        assert third not in first | second | {os.getpid()}
        assert offload(os.getpid, parallel=False) == os.getpid()  # one shard: in place
    assert not _alive(third)
    assert offload(os.getpid) == os.getpid()  # no worker processes outside the block


def test_calls_offloaded_together_run_on_the_workers_and_return_in_order():
    """`offload_each` (a stage's few independent calls, e.g. the re-strip scopes of several samples): on the worker
    processes when the run has them, here otherwise; results in the calls' order, the shared arguments last."""
    with worker_processes(2):
        pids = offload_each(os.getpid, [()] * 4)
        assert os.getpid() not in pids and 1 <= len(set(pids)) <= 2
        assert offload_each(pow, [(2,), (3,), (5,)], 3) == [8, 27, 125]
    assert offload_each(os.getpid, [(), ()]) == [os.getpid()] * 2  # no worker processes outside the block
    assert offload_each(pow, [(2, 5)]) == [32]


def test_processes_retired_without_waiting_exit_before_the_next_stage_starts_its_own():
    """A stage's end retires its processes without waiting (flows/ledger.py); the next stage's processes start only
    once they have exited, so the two sets are never resident together. One of the first processes is still busy
    (`sleep`) when they are retired: the next stage's first shard finds none of them."""
    with worker_processes(2):
        first = {offload(os.getpid) for _ in range(4)}
        busy = threading.Thread(target=offload, args=(os.system, "sleep 1.5"))  # os.*: the same stage
        busy.start()
        time.sleep(0.3)
        retire_workers(wait=False)
        assert not any(offload(os.path.exists, f"/proc/{pid}") for pid in first)  # os.path: the next stage
        busy.join()


def test_a_reduce_runs_apart_in_a_process_that_exits_after_it():
    """`apart` (a stage's night-wide reduce): the stage's worker processes leave first, the reduce gets a process of
    its own that is gone once it returns, and an error raised there is raised here with its data."""
    with worker_processes(2):
        mapped = {offload(os.getpid) for _ in range(4)}
        reduced = apart(os.getpid)
        assert reduced not in mapped | {os.getpid()}
        assert not any(_alive(pid) for pid in mapped | {reduced})
        with pytest.raises(TableExpectationFailed) as failed:
            apart(_fail_table_checks)
        assert failed.value.stats == {"failed_expectations": ["validate.documents.site.null_share"]}
        assert apart(os.getpid, parallel=False) == os.getpid()  # the stage's lone shards ran here: so does its reduce
    assert apart(os.getpid) == os.getpid()  # no worker processes: in place
    with worker_processes(1):
        assert apart(os.getpid) == os.getpid()


def test_a_small_night_is_spread_over_the_worker_processes():
    """Fewer rows than a shard a process: as many shards as processes (one would run in the run process, on one
    core), not below the floor; a large night, or no worker processes, keeps the configured shard size."""
    assert spread_rows(3_518, 4_000, 1_000) == 4_000  # no worker processes
    with worker_processes(2):
        assert spread_rows(3_518, 4_000, 1_000) == 1_759
        assert spread_rows(1_500, 4_000, 1_000) == 1_000  # two shards of 1,000 and 500
        assert spread_rows(900, 4_000, 1_000) == 1_000  # one shard
        assert spread_rows(8_000, 4_000, 1_000) == 4_000
    with worker_processes(3):
        assert spread_rows(9_000, 4_000, 1_000) == 3_000


def _fail_table_checks() -> None:
    raise TableExpectationFailed(
        "table expectations failed", {"failed_expectations": ["validate.documents.site.null_share"]}
    )


def test_one_process_means_in_place():
    with worker_processes(1):
        assert offload(os.getpid) == os.getpid()


def test_stage_of_names_the_stage_package():
    def shard() -> None: ...

    shard.__module__ = "tasks.extract.stage"
    assert stage_of(shard) == "tasks.extract"
    shard.__module__ = "tasks.validate.shards"
    assert stage_of(shard) == "tasks.validate"


def test_prestarted_processes_take_the_first_stage():
    prestart_workers(2)
    started = {p.pid for p in multiprocessing.active_children()}
    with worker_processes(2):
        assert offload(os.getpid) in started
    assert not any(_alive(pid) for pid in started)


def test_the_number_of_workers_comes_from_the_flag_else_the_environment(monkeypatch):
    from flows.runner import runner_config
    from flows.settings import DASK_ADDRESS_ENV, RUNNER_ENV, WORKERS_ENV, export_runner

    for name in (RUNNER_ENV, DASK_ADDRESS_ENV, WORKERS_ENV):
        monkeypatch.setenv(name, "")  # restored after the test, whatever export_runner sets
    assert runner_config().local_processes == (os.cpu_count() or 1)
    assert runner_config("local", None, 1).local_processes == 1
    assert runner_config("dask", None, 3).processes == 3 and runner_config("dask").local_processes == 0
    export_runner("local", "", 3)  # what `serve --workers 3` leaves for the nights it starts
    assert runner_config().processes == 3 and runner_config(workers=1).processes == 1


@pytest.mark.parametrize(
    "stage, module",
    [
        ("ingest", "shards"),
        ("strip_boilerplate", "shards"),
        ("dedupe", "shards"),
        ("extract", "shards"),
        ("validate", "shards"),
        ("dedupe", "stage"),  # its reduce, `decide_night`, runs apart
        ("validate", "stage"),  # `check_night`, likewise
        ("strip_boilerplate", "changed"),  # the re-strip's scope, `scope_of_changed`, likewise
        ("strip_boilerplate", "unchanged"),  # `without_unchanged`, likewise
    ],
)
def test_a_worker_running_a_shard_imports_no_prefect(stage, module):
    """A worker process imports the module of the shard work (or reduce) it runs (pickled by reference): each
    stage's shards.py, and its package, run without Prefect (1.1 s and ~60 MB a worker process saved)."""
    code = f"import sys, tasks.{stage}.{module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]", found.stdout
    code = f"import tasks.{stage} as p; print(callable(p.{STAGE_ENTRY[stage]}))"
    used = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert used.stdout.strip() == "True", "the stage's entry is still exported (imported on first use)"


STAGE_ENTRY = {
    "ingest": "ingest_stage",
    "strip_boilerplate": "strip_stage",
    "dedupe": "dedupe_stage",
    "extract": "extract_stage",
    "validate": "validate_stage",
}
