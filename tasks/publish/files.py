"""Data files of the page-text tables, written by pyarrow's Parquet writer and committed with deltalake's file
statistics.

deltalake's own writer (write_deltalake, and its merge) buffers what it is given far ahead of what it has
written: the 1M-document first load peaked at +1.5 GB (+580 MB at 100k), growing with the rows. pyarrow's
writer holds one row group: the same load peaks at +0.2 GB, flat. The files go to a scratch folder beside the
data (`_docpipe_files-*`, hidden from Delta readers by its leading underscore); `convert_to_deltalake` turns that
folder into a scratch table, reading each file's statistics from its footer (deltalake's statistics, deltalake's
log format); its add actions are moved into the table's own commit with the files (`create_write_transaction`:
one commit, operation WRITE, with operationMetrics counting rows as a merge's do). A large load is written by
several writers side by side (`writers`): pyarrow encodes and compresses without the GIL, so each writer
thread takes every n-th row group into files of its own (rows across files have no order in a Delta table).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable
from deltalake.transaction import AddAction, RemoveAction
from deltalake.writer.convert_to import convert_to_deltalake

from schemas import Table

SCRATCH_PREFIX = "_docpipe_files-"
TARGET_FILE_BYTES = 128 << 20  # a new file once this much is written (deltalake's default target is 100 MB)
# Row groups of tables with page texts: a writer holds one in memory until it is full (deltalake's default, ~1M
# rows, made a 2 GB night's documents merge peak at 2.2 GB; 4,096 rows: 0.97 GB, and faster).
TEXT_ROW_GROUP_ROWS = 4096
# Their codec: zstd instead of deltalake's default snappy (100k generated pages' documents: 631 -> 163 MB on disk,
# merge +640 -> +580 MB and 5.6 -> 4.7 s; pandas, DuckDB and Spark read both).
TEXT_COMPRESSION = "ZSTD"
# Writers side by side for a large load: one per full this many rows (~1 s of a writer's work on documents), at
# most MAX_WRITERS, one a core (and 4; also rewrite.py's files copied at once); a night's small append stays one
# writer, one file.
ROWS_PER_WRITER = 40_000
MAX_WRITERS = min(os.cpu_count() or 1, 4)
# Row groups waiting for each writer (~20 MB a group of page texts): one keeps a writer busy while the dealer
# builds the next group.
WAITING_GROUPS = 1
_END = object()  # the end of a writer's queue


def table_root(dt: DeltaTable) -> Path:
    return Path(dt.table_uri.removeprefix("file://"))


@contextmanager
def scratch_folder(dt: DeltaTable) -> Iterator[Path]:
    """A scratch folder inside the table's folder (same file system: files move into the table by rename)."""
    folder = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=table_root(dt)))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def writers_for(rows: int) -> int:
    """How many writers write a load of `rows` rows side by side."""
    return max(1, min(MAX_WRITERS, rows // ROWS_PER_WRITER))


def written_files(
    dt: DeltaTable, folder: Path, batches: Iterable[pa.RecordBatch], table: Table, writers: int = 1
) -> list[AddAction]:
    """`batches` (of `table`'s declared schema) written as Parquet files (row groups of TEXT_ROW_GROUP_ROWS, in
    TEXT_COMPRESSION) in `folder` (a new subfolder of a `scratch_folder`) by `writers` threads, then moved into the
    table's folder: their add actions, with deltalake's statistics."""
    folder.mkdir(parents=True)
    groups = _row_groups(batches, TEXT_ROW_GROUP_ROWS)
    written = (
        _write_files(folder, groups, table.arrow_schema)
        if writers <= 1
        else _write_side_by_side(folder, groups, table.arrow_schema, writers)
    )
    if not written:
        return []
    convert_to_deltalake(str(folder))
    root = table_root(dt)
    return [_moved(add, folder, root) for add in _logged_adds(folder)]


def _row_groups(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """The batches regrouped into tables of `rows` rows (the last one shorter)."""
    held: list[pa.RecordBatch] = []
    n = 0
    for batch in batches:
        held.append(batch)
        n += batch.num_rows
        while n >= rows:  # a batch longer than a row group gives several
            whole = pa.Table.from_batches(held)
            yield whole.slice(0, rows)
            held, n = whole.slice(rows).to_batches(), n - rows
    if n:
        yield pa.Table.from_batches(held)


def _write_files(folder: Path, groups: Iterable[pa.Table], schema: pa.Schema) -> int:
    """Write the row groups into files of about TARGET_FILE_BYTES each; how many files."""
    writer: pq.ParquetWriter | None = None
    path, n_files = folder, 0
    try:
        for group in groups:
            if writer is not None and path.stat().st_size >= TARGET_FILE_BYTES:
                writer.close()
                writer = None
            if writer is None:
                path = folder / f"part-{uuid.uuid4()}.{TEXT_COMPRESSION.lower()}.parquet"
                writer = pq.ParquetWriter(path, schema, compression=TEXT_COMPRESSION)
                n_files += 1
            writer.write_table(group, row_group_size=group.num_rows)
    finally:
        if writer is not None:
            writer.close()
    return n_files


def _write_side_by_side(folder: Path, groups: Iterable[pa.Table], schema: pa.Schema, writers: int) -> int:
    """`_write_files` by `writers` threads, the row groups dealt to them in turn (each has at most WAITING_GROUPS
    waiting: memory stays a few row groups); how many files. A writer that fails drains its queue, so the dealing never
    blocks; the first error is raised once every writer has stopped."""
    queues: list[queue.Queue] = [queue.Queue(maxsize=WAITING_GROUPS) for _ in range(writers)]
    files = [0] * writers
    errors: list[BaseException] = []

    def write(i: int) -> None:
        waiting = iter(queues[i].get, _END)
        try:
            files[i] = _write_files(folder, waiting, schema)
        except BaseException as exc:  # noqa: BLE001 - raised by the dealing thread
            errors.append(exc)
            for _ in waiting:
                pass

    threads = [threading.Thread(target=write, args=(i,), daemon=True) for i in range(writers)]
    for thread in threads:
        thread.start()
    try:
        for n, group in enumerate(groups):
            queues[n % writers].put(group)
    finally:
        for q in queues:
            q.put(_END)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return sum(files)


def _logged_adds(folder: Path) -> list[dict[str, Any]]:
    adds = []
    for log in sorted((folder / "_delta_log").glob("*.json")):
        adds += [entry["add"] for entry in map(json.loads, log.read_text().splitlines()) if "add" in entry]
    return adds


def _moved(add: dict[str, Any], folder: Path, root: Path) -> AddAction:
    """The scratch file moved into the table's folder, as an add action of the table."""
    (folder / add["path"]).rename(root / add["path"])
    return AddAction(add["path"], add["size"], {}, add["modificationTime"], True, add.get("stats") or "")


def rows_in(adds: list[AddAction]) -> int:
    return sum(json.loads(add.stats)["numRecords"] for add in adds)


def commit_files(
    dt: DeltaTable, removed: dict[str, int], added: list[AddAction], tags: dict[str, Any], metrics: dict[str, int]
) -> None:
    """One commit: the files `removed` ({path: size}) out, `added` in; its metadata `tags` and `metrics`."""
    now = int(time.time() * 1000)
    removes = [RemoveAction(path, True, now, size, {}) for path, size in removed.items()]
    metrics = {**metrics, "num_added_files": len(added), "num_removed_files": len(removes)}
    commit = CommitProperties(custom_metadata={**tags, "operationMetrics": metrics})
    dt.create_write_transaction([*removes, *added], "append", dt.schema(), commit_properties=commit)
