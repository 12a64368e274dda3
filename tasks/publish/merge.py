"""Delta Lake writes of publish: create or widen a table, and merge a run's rows into it on the declared key."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, WriterProperties
from deltalake.schema import Field as DeltaField

from schemas import Table
from tasks._spill import Rows, Spill, chunks
from tasks._warehouse import RUN_ID_KEY, open_delta, read_current, sql_list, table_path
from tasks.publish.plan import TableWrite

# Row groups of tables with page texts: deltalake's writer holds a row group in memory until it is full (its
# default, ~1M rows, made a 2 GB night's documents merge peak at 2.2 GB; 4,096 rows: 0.97 GB, and faster).
TEXT_ROW_GROUP_ROWS = 4096


def commit_tag(run_id: str, table: Table) -> CommitProperties:
    """Commit metadata naming the run (and table) that wrote a version."""
    return CommitProperties(custom_metadata={RUN_ID_KEY: run_id, "docpipe.table": table.name})


def ensure_table(warehouse: Path, table: Table, run_id: str | None = None) -> DeltaTable:
    """Open the table, creating it empty with its declared schema on first use (a commit tagged with the run);
    nullable columns declared since the table was created are added to it (one commit, tagged with the run)."""
    dt = open_delta(warehouse, table)
    commit = commit_tag(run_id, table) if run_id else None
    if dt is None:
        return DeltaTable.create(
            str(table_path(warehouse, table)),
            schema=table.arrow_schema,
            description=table.description or table.grain,
            commit_properties=commit,
        )
    present = {field.name for field in dt.schema().to_arrow()}
    added = [field for field in table.arrow_schema if field.name not in present]
    if added:
        if not all(field.nullable for field in added):
            raise ValueError(f"{table.name}: new columns must be nullable to be added: {[f.name for f in added]}")
        dt.alter.add_columns([DeltaField.from_arrow(field) for field in added], commit_properties=commit)
        backfill_replacements(dt, table, {field.name for field in added}, commit)
    return dt


def backfill_replacements(dt: DeltaTable, table: Table, added: set[str], commit: object) -> None:
    """Fill columns just added that replace a deprecated column with its values (one update commit)."""
    fills = {new: f"CAST({old} AS {_sql_type(table, new)})" for old, new in table.replaced if new in added}
    if fills:
        olds = " OR ".join(f"{old} IS NOT NULL" for old, new in table.replaced if new in fills)
        dt.update(updates=fills, predicate=olds, commit_properties=commit)


def _sql_type(table: Table, name: str) -> str:
    return {pa.int32(): "INT", pa.int64(): "BIGINT", pa.string(): "STRING"}[table.column(name).type]


def merge_source(rows: Rows, table: Table) -> pa.Table | pa.RecordBatchReader:
    """The merge source: a table in memory, or a spill streamed batch by batch (deltalake's streamed merge)."""
    if isinstance(rows, Spill):
        batches = (b for part in chunks(rows) for b in table.conform(part).to_batches())
        return pa.RecordBatchReader.from_batches(table.arrow_schema, batches)
    return table.conform(rows)


def stale_children_predicate(warehouse: Path, ours: pa.Array, write: TableWrite) -> str | None:
    """Delete predicate for the child rows of tonight's documents (`ours`: their doc_ids) that tonight no longer
    has (also when a document lost all its rows of this table). Only parents that already have rows in the
    table can have stale ones, so the IN list stays short on a large first load."""
    col = write.replace_children_of
    theirs = read_current(warehouse, write.table, [col]).column(col)
    parents = sorted(pc.filter(ours, pc.is_in(ours, theirs)).to_pylist())
    return f"t.{col} IN ({sql_list(parents)})" if parents else None


def merge_rows(dt: DeltaTable, rows: Rows, write: TableWrite, run_id: str, stale: str | None = None) -> None:
    """Merge `rows` into the table on its key as `write` says; `stale` deletes target rows the source lacks."""
    predicate = " AND ".join(f"t.{k} = s.{k}" for k in write.table.key)
    texts = WriterProperties(max_row_group_size=TEXT_ROW_GROUP_ROWS) if write.table.text_columns else None
    merger = dt.merge(
        merge_source(rows, write.table),
        predicate=predicate,
        source_alias="s",
        target_alias="t",
        writer_properties=texts,
        commit_properties=commit_tag(run_id, write.table),
    )
    if write.update:
        merger = merger.when_matched_update_all(predicate=None if write.update == "true" else write.update)
    merger = merger.when_not_matched_insert_all()
    if stale:
        merger = merger.when_not_matched_by_source_delete(predicate=stale)
    merger.execute()
