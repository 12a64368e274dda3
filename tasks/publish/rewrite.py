"""Updates of `documents` without deltalake's merge: the merge reads every column of every data file (random
doc_ids: no file statistics rule one out) and held the 1M-document table in memory (+2 GB on a night of 1 %
new pages). Here only the doc_id and run_id columns of each file are read to find the files holding tonight's
published ids (`files_holding`); which of those rows change is decided without reading texts unless this run
published them already (`changed_documents`); each file holding a changed row is copied without it a row group
at a time, tonight's new and changed rows are appended, and one commit removes the copied files and adds the
new ones. Memory follows a row group, not the table; files of earlier nights nothing changed in are not read.
A night whose held rows are all unchanged (a rerun after a kill mid-publish) commits nothing for them.

The new files are written by deltalake's own writer into scratch tables beside the data (`_docpipe_rewrite-*`,
hidden from Delta readers by its leading underscore), so their format and statistics are deltalake's; their add
actions are moved into the table's commit (`create_write_transaction`, remove + add, operation WRITE).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.transaction import AddAction, RemoveAction

from schemas import DOCUMENTS
from tasks._spill import Rows, read_columns
from tasks._warehouse import query_arrow, sql_list
from tasks.dedupe.version import VERSION_HASH_SQL, version_hashes

SCRATCH_PREFIX = "_docpipe_rewrite-"
HELD_SCHEMA = pa.schema([("doc_id", pa.string()), ("run_id", pa.string())])


def files_holding(dt: DeltaTable, keys: pa.Array, key_rows: int) -> dict[str, tuple[int, pa.Table]]:
    """{path in the log: (size, its rows of `keys` as (doc_id, run_id))} of the data files holding one of `keys`
    (only those two columns are read, `key_rows` rows at a time)."""
    added = pa.table(dt.get_add_actions(flatten=True)).select(["path", "size_bytes"]).to_pylist()
    found: dict[str, tuple[int, pa.Table]] = {}
    for add in added:
        with pq.ParquetFile(table_root(dt) / add["path"], pre_buffer=False) as f:
            parts = [
                pa.Table.from_batches([b]).cast(HELD_SCHEMA)
                for b in f.iter_batches(batch_size=key_rows, columns=HELD_SCHEMA.names)
            ]
        held = _stacked([part.filter(pc.is_in(part["doc_id"], keys)) for part in parts])
        if held.num_rows:
            found[add["path"]] = (add["size_bytes"], held)
    return found


def _stacked(parts: list[pa.Table]) -> pa.Table:
    return pa.concat_tables(parts) if parts else HELD_SCHEMA.empty_table()


def changed_documents(
    files: dict[str, tuple[int, pa.Table]], root: Path, rows: Rows, run_id: str, chunk_rows: int
) -> pa.Array:
    """The held doc_ids (`files_holding`) whose published row is to be replaced by tonight's. A row another run
    published is: dedupe passed tonight's row on because it differs from that one (an update), and runs do not
    overlap. A row this run published already (a rerun after a kill mid-publish) is replaced only when it
    differs from tonight's in content_hash or VERSION_COLUMNS (the merge predicate of `documents`; DuckDB hashes
    the published side of those rows only)."""
    held = _stacked([found for _, found in files.values()])
    ours_before = pc.equal(held["run_id"], run_id)
    others = pc.filter(held["doc_id"], pc.invert(ours_before))
    again = pc.filter(held["doc_id"], ours_before)
    if not len(again):
        return others.combine_chunks()
    again_files = [
        str(root / path) for path, (_, found) in files.items() if pc.any(pc.equal(found["run_id"], run_id)).as_py()
    ]
    differing = _differing(again, again_files, rows, chunk_rows)
    return pa.chunked_array([*others.chunks, *differing.chunks], pa.string()).combine_chunks()


def _differing(ids: pa.ChunkedArray, files: list[str], rows: Rows, chunk_rows: int) -> pa.ChunkedArray:
    """Of `ids`, those whose published row (in `files`) differs from tonight's in content_hash or VERSION_COLUMNS."""
    ours = read_columns(rows, ["doc_id", "content_hash"])
    at = pc.indices_nonzero(pc.is_in(ours.column("doc_id"), ids))
    ours = ours.take(at).append_column("version_hash", pa.array(version_hashes(rows, at.to_pylist(), chunk_rows)))
    sql = (
        f"SELECT d.doc_id, d.content_hash, {VERSION_HASH_SQL} AS version_hash "
        f"FROM read_parquet([{sql_list(files)}]) d WHERE d.doc_id IN (SELECT doc_id FROM ids)"
    )
    published = query_arrow(sql, ids=pa.table({"doc_id": ids}))
    same = ours.join(published.cast(ours.schema), ["doc_id", "content_hash", "version_hash"], join_type="left semi")
    return pc.filter(ours["doc_id"], pc.invert(pc.is_in(ours["doc_id"], same["doc_id"])))


def rewrite_files(
    dt: DeltaTable,
    files: dict[str, int],
    changed: pa.Array,
    tonight: pa.RecordBatchReader,
    writer: WriterProperties | None,
    tags: dict[str, str],
    chunk_rows: int,
) -> None:
    """One commit (its metadata `tags`): each data file of `files` ({path: size}, holding a `changed` doc_id)
    replaced by a copy without those rows (a file's rows stay together: files of old nights that nothing changed
    in are never read), and the `tonight` rows appended. Its operationMetrics count rows as a merge's do: added
    (new keys), updated, copied."""
    root = table_root(dt)
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=root))
    try:
        copies = []
        for i, name in enumerate(files):
            copies += _written(scratch / f"{i}", _copy(root / name, changed, chunk_rows), writer, root)
        appended = _written(scratch / "tonight", tonight, writer, root)
        now = int(time.time() * 1000)
        removes = [RemoveAction(path, True, now, size, {}) for path, size in files.items()]
        metrics = {
            "num_added_rows": _rows(appended) - len(changed),
            "num_updated_rows": len(changed),
            "num_copied_rows": _rows(copies),
            "num_added_files": len(copies) + len(appended),
            "num_removed_files": len(removes),
        }
        commit = CommitProperties(custom_metadata={**tags, "operationMetrics": metrics})
        dt.create_write_transaction([*removes, *copies, *appended], "append", dt.schema(), commit_properties=commit)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _rows(adds: list[AddAction]) -> int:
    return sum(json.loads(add.stats)["numRecords"] for add in adds)


def _written(
    scratch: Path, batches: Iterator[pa.RecordBatch] | pa.RecordBatchReader, writer: WriterProperties | None, root: Path
) -> list[AddAction]:
    """The batches written by deltalake into a scratch table, its files moved into the table's folder `root`: their
    add actions, with deltalake's statistics."""
    stream = pa.RecordBatchReader.from_batches(DOCUMENTS.arrow_schema, batches)
    write_deltalake(str(scratch), stream, mode="overwrite", writer_properties=writer)
    return [_moved(add, scratch, root) for add in _scratch_adds(scratch)]


def table_root(dt: DeltaTable) -> Path:
    return Path(dt.table_uri.removeprefix("file://"))


def _copy(file: Path, changed: pa.Array, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """The rows of `file` whose doc_id is not `changed`, as declared, `chunk_rows` at a time."""
    with pq.ParquetFile(file, pre_buffer=False) as f:
        for batch in f.iter_batches(batch_size=chunk_rows):
            part = DOCUMENTS.conform(pa.Table.from_batches([batch]))  # as declared: deltalake writes string views
            yield from part.filter(pc.invert(pc.is_in(part.column("doc_id"), changed))).to_batches()


def _scratch_adds(scratch: Path) -> list[dict]:
    """The add actions the scratch table's log holds (deltalake's file statistics with them)."""
    adds = []
    for log in sorted((scratch / "_delta_log").glob("*.json")):
        adds += [entry["add"] for entry in map(json.loads, log.read_text().splitlines()) if "add" in entry]
    return adds


def _moved(add: dict, scratch: Path, root: Path) -> AddAction:
    """The scratch file moved into the table's folder, as an add action of the table."""
    (root / add["path"]).parent.mkdir(parents=True, exist_ok=True)
    (scratch / add["path"]).rename(root / add["path"])
    return AddAction(add["path"], add["size"], {}, add["modificationTime"], True, add.get("stats") or "")
