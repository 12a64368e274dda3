"""Updates of `documents` without deltalake's merge: the merge reads every column of every data file (random
doc_ids: no file statistics rule one out) and held the 1M-document table in memory (+2 GB on a night of 1 %
new pages). Here only the doc_id and run_id columns of each file are read to find the files holding tonight's
published ids (`files_holding`); which of those rows change is decided without reading texts unless this run
published them already (`changed_documents`); each file holding a changed row is copied without it a row group
at a time, tonight's new and changed rows are appended, and one commit removes the copied files and adds the
new ones. Memory follows a row group, not the table; files of earlier nights nothing changed in are not read.
A night whose held rows are all unchanged (a rerun after a kill mid-publish) commits nothing for them.

The new files are written and committed as files.py writes every page-text table's files (one commit: remove +
add, operation WRITE).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable

from schemas import DOCUMENTS, Table
from tasks._spill import Rows, read_columns
from tasks._stage import raw_keys
from tasks._warehouse import query_arrow, sql_list
from tasks.dedupe.version import VERSION_HASH_SQL, version_hashes
from tasks.publish.files import MAX_WRITERS, commit_files, rows_in, scratch_folder, table_root, written_files

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
    tonight: Iterable[pa.RecordBatch],
    tags: dict[str, Any],
    chunk_rows: int,
    threads: int = MAX_WRITERS,
    table: Table = DOCUMENTS,
    replaced: int | None = None,
) -> None:
    """One commit (its metadata `tags`): each data file of `files` ({path: size}, holding a `changed` doc_id)
    replaced by a copy without those rows (a file's rows stay together: files of old nights that nothing changed
    in are never read; `threads` files copied at once, on threads of this committing process: pyarrow reads,
    filters, compresses and writes without the GIL; each copy holds a row group), and the `tonight` rows
    appended. Its operationMetrics count rows as a merge's do: for `documents`, added (new keys), updated,
    copied; for a table whose rows of a document are replaced together (`replaced` rows left out), added,
    deleted, copied."""
    root = table_root(dt)
    with scratch_folder(dt) as scratch, ThreadPoolExecutor(threads) as pool:
        copying = pool.map(
            lambda i, name: written_files(dt, scratch / f"{i}", _copy(root / name, changed, chunk_rows, table), table),
            range(len(files)),
            files,
        )
        appended = written_files(dt, scratch / "tonight", tonight, table)
        copies = [add for copy in copying for add in copy]
        if replaced is None:
            counts = {"num_added_rows": rows_in(appended) - len(changed), "num_updated_rows": len(changed)}
        else:
            counts = {"num_added_rows": rows_in(appended), "num_deleted_rows": replaced}
        commit_files(dt, files, [*copies, *appended], tags, {**counts, "num_copied_rows": rows_in(copies)})


def _copy(file: Path, changed: pa.Array, chunk_rows: int, table: Table) -> Iterator[pa.RecordBatch]:
    """The rows of `file` whose doc_id is not `changed`, as `table` declares them, `chunk_rows` at a time."""
    with pq.ParquetFile(file, pre_buffer=False) as f:
        for batch in f.iter_batches(batch_size=chunk_rows):
            part = table.conform(pa.Table.from_batches([batch]))  # as declared: deltalake writes string views
            part = part.filter(pc.invert(pc.is_in(part.column("doc_id"), changed)))
            yield from (with_raw_keys(part) if table is DOCUMENTS else part).to_batches()


def with_raw_keys(part: pa.Table) -> pa.Table:
    """`part` with the raw_key of every row that has a raw_text (rows published before docpipe stored raw_key get
    theirs as their file is copied, so the unchanged test reads keys, not texts, from then on)."""
    if part.column("raw_key").null_count == part.column("raw_text").null_count:
        return part
    at = part.schema.get_field_index("raw_key")
    return part.set_column(at, part.schema.field(at), raw_keys(part.column("raw_text")))
