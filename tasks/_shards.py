"""Shards, the unit of parallel work (not a stage): a slice of a spill's row groups, processed by one Prefect task
run, wherever the flow's task runner puts it (a thread of this process handing the work to a local worker
process, or a Dask worker). Tasks get paths and small manifests, never tables.

`map_shards` is called by a stage's driver in the flow with the stage's shard function (a function of its
Prefect-free shards.py): it maps one Prefect task run per shard over the flow's task runner (`shard_task`) and
returns each shard's manifest in shard order, reporting progress as shards finish.
`offload` runs a shard's CPU work in this run's local worker processes when there are any (`--runner local`),
else in place (a Dask worker, or a test calling the function directly); `apart` runs a stage's night-wide reduce
in a process of its own on the same condition, so the run process only orchestrates. Local worker processes
serve one stage each (`worker_processes`): a stage's imports and caches do not stay resident all night.

They are forked by a fork server (`processes`), started once by the process (a run's: before its first stage),
that imported this module (Arrow, the schemas) and the run's main script: a new stage's processes start in ~0.1 s
instead of each importing them (~0.3 s), and a process exits without tearing down its modules (one that loaded
Great Expectations took ~1 s to exit, while the stage waited). Not `fork` itself: the run process runs threads
(Prefect), which a fork would copy mid-lock. A process sees the environment and `sys.path` the fork server
started with.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import Table
from tasks._progress import advance
from tasks._spill import Rows, Spill, write_spill

if TYPE_CHECKING:  # Prefect is the flow process's: a worker process running a shard needs none of it
    from prefect import Task

T = TypeVar("T")
PRELOADED = ["tasks._shards"]  # what the fork server imports once for every worker process (`processes`)
# Fault drill, read where the shard runs (a worker's environment): `extract:2` SIGKILLs the process running
# shard 2 of extract (a Dask worker, or a local worker process), every time it is tried.
FAULT_SHARD_ENV = "DOCPIPE_FAULT_SHARD"


@dataclass(frozen=True, slots=True)
class Shard:
    """Rows [start, stop) of Parquet file `path`, read `chunk_rows` at a time: the `index`-th shard of its stage."""

    index: int
    path: Path
    start: int
    stop: int
    chunk_rows: int

    @property
    def rows(self) -> int:
        return self.stop - self.start

    def batches(self, columns: Sequence[str] | None = None, threads: bool = True) -> Iterator[pa.RecordBatch]:
        """The shard's rows in batches of at most `chunk_rows`, reading only the row groups that hold them;
        `threads`: columns decoded side by side (Arrow's threads)."""
        cols = list(columns) if columns else None
        with pq.ParquetFile(self.path, pre_buffer=False) as f:
            first = 0
            for g in range(f.metadata.num_row_groups):
                n = f.metadata.row_group(g).num_rows
                lo, hi = max(self.start, first), min(self.stop, first + n)
                if lo < hi:
                    at = first
                    for batch in f.iter_batches(self.chunk_rows, row_groups=[g], columns=cols, use_threads=threads):
                        part = batch.slice(max(lo - at, 0), max(min(hi - at, batch.num_rows) - max(lo - at, 0), 0))
                        if part.num_rows:
                            yield part
                        at += batch.num_rows
                first += n

    def placed_batches(self, columns: Sequence[str] | None = None) -> Iterator[tuple[int, pa.RecordBatch]]:
        """`batches`, each with the position of its first row in the file."""
        first = self.start
        for batch in self.batches(columns):
            yield first, batch
            first += batch.num_rows


class Work(Protocol):
    """What `map_shards` and `fault_drill` need of a shard: its place, and its size in rows (0 when it cannot be
    known before the shard runs: ingest's, planned in bytes)."""

    @property
    def index(self) -> int: ...

    @property
    def rows(self) -> int: ...


def spread_rows(total: int, shard_rows: int, least: int, workers: int | None = None) -> int:
    """Rows a shard: `shard_rows`, or fewer when a night of `total` rows would leave local worker processes idle
    (one shard runs in the run process, on one core): as many shards as processes, of `least` rows at least.
    For a stage whose pages cost milliseconds each (strip); results do not depend on shard sizes. `workers`: the
    run's local worker processes, when asked before they are set (`worker_processes`)."""
    if workers is None:
        with _workers.lock:
            workers = _workers.count
    if workers <= 1 or total >= shard_rows * workers:
        return shard_rows
    return max(least, -(-total // workers))


def plan_shards(rows: Spill, shard_rows: int, chunk_rows: int) -> list[Shard]:
    """Consecutive ranges of `shard_rows` rows of each of the spill's files (a shard never spans two files), in
    row order, each read `chunk_rows` at a time."""
    shards: list[Shard] = []
    for file in rows.files:
        total = pq.ParquetFile(file).metadata.num_rows
        for start in range(0, total, shard_rows):
            shards.append(Shard(len(shards), file, start, min(start + shard_rows, total), chunk_rows))
    return shards


def as_spill(rows: Rows, path: Path, table: Table, group_rows: int) -> Spill:
    """The rows as a spill: a spill as it is, a table written to `path` in row groups of `group_rows`."""
    if isinstance(rows, Spill):
        return rows
    return write_spill(path, table, rows.to_batches(max_chunksize=max(1, group_rows)))


def map_shards(work: Callable[..., dict[str, Any]], shards: Sequence[Work], **shared: Any) -> list[dict[str, Any]]:
    """Run `work(shard, **shared)` for every shard, one Prefect task run a shard (`shard_task`) on the flow's task
    runner; each returns a small manifest. Results come back in shard order; progress advances by a shard's rows
    as it finishes (by the `records` its manifest counts, for a shard that cannot know them before: ingest's)."""
    from prefect.futures import as_completed
    from prefect.utilities.annotations import unmapped

    if not shards:
        return []
    parallel = len(shards) > 1  # one shard: no worker process to start for it
    futures = shard_task(work).map(list(shards), unmapped(work), unmapped(shared), unmapped(parallel))
    index = {f.task_run_id: i for i, f in enumerate(futures)}
    manifests: list[dict[str, Any]] = [{}] * len(shards)
    for future in as_completed(futures):
        i = index[future.task_run_id]
        manifests[i] = future.result()
        advance(manifests[i].get("records", shards[i].rows))
    return manifests


@functools.cache
def shard_task(work: Callable[..., Any]) -> Task:
    """The Prefect task that runs `work` on one shard where `offload` puts it, named after it
    (`tasks.strip_boilerplate.shards.clean_shard` → `strip-boilerplate-clean-shard`). `work` lives in a module
    without Prefect (a stage's shards.py): a local worker process imports that module and what it needs, not
    Prefect (1.1 s and ~60 MB a process)."""
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    stage, name = stage_of(work).removeprefix("tasks."), work.__name__
    label = name if name.startswith(stage) else f"{stage}_{name}"
    return task(_run_shard, name=label.replace("_", "-"), cache_policy=NO_CACHE)


def _run_shard(shard: Work, work: Callable[..., T], shared: dict[str, Any], parallel: bool) -> T:
    return offload(work, shard, parallel=parallel, **shared)


@dataclass
class _Workers:
    """The run's local worker processes: how many, and the pool now running (started by the first work of a
    stage, for that stage only)."""

    count: int = 0
    pool: Executor | None = None
    stage: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    leaving: list[threading.Thread] = field(default_factory=list)  # shutting down retired pools (not waited for)


_workers = _Workers()


@contextmanager
def worker_processes(workers: int) -> Iterator[None]:
    """For the block, `offload` runs work in `workers` processes (`processes`). A process serves one stage: the first
    work of another stage ends the processes and starts new ones, so what a stage imports and caches (template
    models, langdetect's profiles, Great Expectations) leaves with it instead of staying resident all night."""
    if workers <= 1:
        yield
        return
    _workers.count = workers
    try:
        yield
    finally:
        _workers.count = 0
        retire_workers()


def retire_workers(wait: bool = True) -> None:
    """End the current worker processes after the work already given to them (`wait`: until they have exited;
    else they exit while this process goes on, and the next pool starts only once they have: `_await_leaving`);
    the next `offload` starts new ones. A stage's end is the place: its processes do not idle through the
    next stage's in-process work (publish) holding what the stage loaded."""
    with _workers.lock:
        pool, _workers.pool = _workers.pool, None
    if not wait:
        if pool is not None:
            leaving = threading.Thread(target=pool.shutdown, kwargs={"cancel_futures": True}, daemon=True)
            leaving.start()
            _workers.leaving.append(leaving)
        return
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
    _await_leaving()


def _await_leaving() -> None:
    """Wait until the processes of pools retired without waiting have exited: a new pool never starts beside them
    (the previous stage's two workers, ~400 MB each, were still up at the next stage's start: the night's peak
    at 100k and 1M pages)."""
    while True:
        try:
            leaving = _workers.leaving.pop()  # atomic: callers on other threads never pop the same one
        except IndexError:
            return
        leaving.join()


def prestart_workers(workers: int) -> None:
    """Start `workers` processes now, each importing the shard plumbing (Arrow; not Prefect), for the first stage
    that offloads work to adopt (a run starts them while Prefect's server comes up)."""
    if workers <= 1:
        return
    with _workers.lock:
        if _workers.pool is None:
            _workers.pool = ProcessPoolExecutor(workers, mp_context=processes())
            _workers.stage = ""  # adopted by the first stage that offloads work
            for _ in range(workers):
                _workers.pool.submit(_ready)


def processes() -> BaseContext:
    """The start method of the run's worker processes: forked by the fork server, which imports `PRELOADED` when
    it starts (module docstring)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOADED)
    return context


def _ready() -> None:
    """Nothing: unpickling it made the worker import this module."""


def stage_of(fn: Callable[..., Any]) -> str:
    """The stage package a function belongs to (`tasks.extract.stage.extract_shard` → `tasks.extract`)."""
    return ".".join((getattr(fn, "__module__", None) or "").split(".")[:2])


def _submit(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Future[T] | None:
    """`fn(*args, **kwargs)` submitted to the worker processes of `fn`'s stage (started here if need be); None when the
    run has no worker processes."""
    stage = stage_of(fn)
    with _workers.lock:
        if not _workers.count:
            return None
        if _workers.pool is not None and _workers.stage not in ("", stage):
            # the previous stage's processes are idle (stages run one after the other): they exit before the
            # new ones start, so the two sets are never resident together
            _workers.pool.shutdown(wait=True)
            _workers.pool = None
        if _workers.pool is None:
            _await_leaving()
            _workers.pool = ProcessPoolExecutor(_workers.count, mp_context=processes())
        _workers.stage = stage
        return _workers.pool.submit(_released, fn, *args, **kwargs)


def _released(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in a worker process, then the memory its allocators keep for reuse handed back to the
    system (an idle worker between shards: 630 → 500 MB after an extract shard; Arrow's pool kept ~100 MB of it)."""
    try:
        return fn(*args, **kwargs)
    finally:
        trim_memory()


def trim_memory(collect: bool = False) -> None:
    """Hand back to the system the memory Arrow's pool and glibc's allocator keep for reuse (malloc_trim is a
    no-op off glibc): their allocators keep freed pages, so a process's RSS would keep the high-water mark of
    each shard and grow with the night. `collect`: first free cyclic garbage (GX's engine of a deleted data
    source holds its frame until a full collection: ~0.25 s with GX loaded, so once a night)."""
    if collect:
        gc.collect()
    pa.default_memory_pool().release_unused()
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def apart(fn: Callable[..., T], *args: Any, parallel: bool = True, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in a process of its own that exits after it, when the run has local worker processes
    (the stage's current ones leave first) and the stage had `parallel` shards; else here. For a stage's
    night-wide reduce: what it allocates leaves with that process instead of staying in the run process for the
    rest of the night (1M pages: the run process kept 365 MB after dedupe's reduce and grew to 1.2 GB in
    validate's night-wide checks). A stage whose lone shards ran here (`map_shards`) has its libraries loaded
    here already, and its reduce is as small as its night."""
    with _workers.lock:
        local = _workers.count > 1
    if not local or not parallel:
        return fn(*args, **kwargs)
    retire_workers()
    with ProcessPoolExecutor(1, mp_context=processes()) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def offload(fn: Callable[..., T], *args: Any, parallel: bool = True, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in a local worker process when the run has them and the stage has `parallel` shards,
    else here."""
    future = _submit(fn, args, kwargs) if parallel else None
    return future.result() if future is not None else fn(*args, **kwargs)


def offload_each(fn: Callable[..., T], calls: Sequence[tuple[Any, ...]], *shared: Any) -> list[T]:
    """`fn(*call, *shared)` for each of `calls`, side by side on the local worker processes when the run has them,
    else one after the other here; the results in `calls`' order."""
    futures = [_submit(fn, (*call, *shared), {}) for call in calls]
    return [f.result() if f is not None else fn(*call, *shared) for f, call in zip(futures, calls, strict=True)]


def fault_drill(stage: str, shard: Work) -> None:
    """Kill this process when $DOCPIPE_FAULT_SHARD names the stage's shard (drills of a worker dying)."""
    if os.environ.get(FAULT_SHARD_ENV) == f"{stage}:{shard.index}":
        os.kill(os.getpid(), signal.SIGKILL)
