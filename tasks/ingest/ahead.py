"""Cutting the night's large JSON Lines files ahead of the flow. `docpipe run` starts `cut_ahead` on a thread once
it holds the warehouse's lock: the pass that hashes and cuts a large dump (3.7 GB: ~5 s of one core) then overlaps
Prefect's server start and the flow's imports instead of following them. The plan takes a cut through `cut_once`:
the cut made ahead for the same file state, slice size and registered sizes (waiting for it while it is made),
else its own. A cut is a pure function of those, so a cut made ahead and one made by the plan are the same.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

from schemas import INGESTED_FILES
from tasks.ingest.config import IngestConfig
from tasks.ingest.listing import RawEntry
from tasks.ingest.slices import Cut, cut_lines

CutKey = tuple[str, int, int, int, int, int, int, frozenset[int]]
_cuts: dict[CutKey, Future[Cut]] = {}
_lock = threading.Lock()
_ahead: list[threading.Thread] = []  # the thread planning ahead, if any


def _key(fh: BinaryIO, entry: RawEntry, slice_bytes: int, marks: frozenset[int]) -> CutKey:
    st = os.fstat(fh.fileno())
    return (str(entry.path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, slice_bytes, marks)


def cut_once(fh: BinaryIO, entry: RawEntry, slice_bytes: int, marks: frozenset[int]) -> Cut:
    """`cut_lines` of the file open at its start: the cut made ahead for this state of it (taken once), else cut
    here."""
    with _lock:
        ahead = _cuts.pop(_key(fh, entry, slice_bytes, marks), None)
    if ahead is not None:
        with suppress(Exception):  # the cut ahead failed (the file changed or vanished; it read its own handle)
            return ahead.result()
    return cut_lines(fh, entry, slice_bytes, marks)


def _cut_and_keep(fh: BinaryIO, entry: RawEntry, slice_bytes: int, marks: frozenset[int]) -> Cut:
    """The plan's cut when planning ahead: made and kept for `cut_once`."""
    future: Future[Cut] = Future()
    with _lock:
        _cuts[_key(fh, entry, slice_bytes, marks)] = future
    try:
        cut = cut_lines(fh, entry, slice_bytes, marks)
    except BaseException as exc:
        future.set_exception(exc)
        raise
    future.set_result(cut)
    return cut


def cut_ahead(
    root: Path, warehouse: Path, run_id: str, cfg: IngestConfig, shard_bytes: int, workers: int
) -> threading.Thread:
    """Plan the night's ingest on a daemon thread, against the registry as it is now and for the run's `workers`
    local processes, keeping its cuts for the flow's plan; a failure there only means the plan cuts for itself."""
    from tasks._warehouse import read_current  # the run process only: a worker imports no Delta reader
    from tasks.ingest.shards import plan_ingest  # which imports this module

    def plan() -> None:
        try:
            registry = read_current(warehouse, INGESTED_FILES) if not cfg.full else INGESTED_FILES.empty()
            plan_ingest(root, registry, cfg, run_id, shard_bytes, cut=_cut_and_keep, workers=workers)
        except Exception:  # noqa: BLE001, S110 - nothing is lost: the flow's plan cuts what is not kept
            pass

    thread = threading.Thread(target=plan, name="ingest-cut-ahead", daemon=True)
    thread.start()
    _ahead.append(thread)
    return thread


def wait_for_cuts() -> None:
    """Until the thread planning ahead is done (the flow's plan then takes its cuts, and never cuts a file at the
    same time as it)."""
    while _ahead:
        _ahead.pop().join()


def cuts_waiting() -> int:
    """How many cuts made ahead wait to be taken."""
    with _lock:
        return len(_cuts)


def forget_cuts() -> None:
    """Drop the cuts not taken (the run's plan has passed)."""
    with _lock:
        _cuts.clear()
