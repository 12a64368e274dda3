"""Publish a run's tables as new Delta Lake versions in the warehouse (the only module that writes it).

In: the validated tables and state rows of a run, plus its `runs` row. Out: one new version of each table
the run changes, each commit tagged with the run id (commit metadata `docpipe.run_id`); tables the run does
not change get no commit. State: every warehouse table.

Writes are merges keyed on each table's declared key, so a rerun on the same input changes nothing and
commits nothing, and a rerun after a kill mid-publish re-merges what was committed without duplicating a row.
Atomic per run: tables are written in the fixed PLAN order, each commit tagged with the run id, then the
`runs` row (merged on run_id) is the last commit and the marker of a complete version. Readers pin each table
to the version listed in the last succeeded `runs` row (`handoff.analyst_db.complete_versions`, the analysts'
DuckDB views), so a version committed by an incomplete run is never seen and is superseded by that run's rerun.
`ingested_files` is written after the data tables: a run killed before it committed re-reads its files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, WriterProperties
from deltalake.schema import Field as DeltaField
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas import (
    BOILERPLATE_PAGES,
    CONTACTS,
    DEDUPE_BANDS,
    DEDUPE_SIGNATURES,
    DOCUMENTS,
    DUPLICATES,
    INGESTED_FILES,
    MENTIONS,
    PROJECTS,
    QUARANTINE,
    RUNS,
    Table,
)
from schemas.documents import VERSION_COLUMNS
from tasks._spill import Rows, Spill, chunks, read_columns
from tasks._warehouse import RUN_ID_KEY, current_version, open_delta, read_current, summary_path, table_path

STAGE = "publish"


@dataclass(frozen=True, slots=True)
class PublishConfig:
    pass


@dataclass(frozen=True, slots=True)
class _Write:
    table: Table
    update: str | None  # merge: None = insert new keys only; a predicate = update matched rows where it holds
    replace_children_of: str | None = None  # delete target rows of these parent keys that the source lacks


# Fixed order; `runs` is written separately and last. A document is rewritten only when what it publishes from its
# page changed (dedupe passes updates with an unchanged body too: an edit after the contact block).
PLAN: tuple[_Write, ...] = (
    _Write(BOILERPLATE_PAGES, None),
    _Write(QUARANTINE, None),
    _Write(DUPLICATES, None),
    _Write(DEDUPE_SIGNATURES, None),
    _Write(DEDUPE_BANDS, None),
    _Write(PROJECTS, "true"),
    _Write(CONTACTS, "true", replace_children_of="doc_id"),
    _Write(MENTIONS, "true", replace_children_of="doc_id"),
    _Write(DOCUMENTS, " OR ".join(f"(t.{c} IS DISTINCT FROM s.{c})" for c in ("content_hash", *VERSION_COLUMNS))),
    _Write(INGESTED_FILES, None),  # last data commit: files count as read only once the data is in
)


def _commit(run_id: str, table: Table) -> CommitProperties:
    return CommitProperties(custom_metadata={RUN_ID_KEY: run_id, "docpipe.table": table.name})


def ensure_table(warehouse: Path, table: Table, run_id: str | None = None) -> DeltaTable:
    """Open the table, creating it empty with its declared schema on first use (a commit tagged with the run);
    nullable columns declared since the table was created are added to it (one commit, tagged with the run)."""
    dt = open_delta(warehouse, table)
    commit = _commit(run_id, table) if run_id else None
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
    return dt


def _source(rows: Rows, table: Table) -> pa.Table | pa.RecordBatchReader:
    """The merge source: a table in memory, or a spill streamed batch by batch (deltalake's streamed merge)."""
    if isinstance(rows, Spill):
        batches = (b for part in chunks(rows) for b in table.conform(part).to_batches())
        return pa.RecordBatchReader.from_batches(table.arrow_schema, batches)
    return table.conform(rows)


def _stale_children_predicate(warehouse: Path, ours: pa.Array, write: _Write) -> str | None:
    """Delete predicate for the child rows of tonight's documents (`ours`: their doc_ids) that tonight no longer
    has (also when a document lost all its rows of this table). Only parents that already have rows in the
    table can have stale ones, so the IN list stays short on a large first load."""
    col = write.replace_children_of
    theirs = read_current(warehouse, write.table, [col]).column(col)
    parents = sorted(pc.filter(ours, pc.is_in(ours, theirs)).to_pylist())
    if not parents:
        return None
    quoted = ", ".join("'" + p.replace("'", "''") + "'" for p in parents)
    return f"t.{col} IN ({quoted})"


# Row groups of tables with page texts: deltalake's writer holds a row group in memory until it is full (its
# default, ~1M rows, made a 2 GB night's documents merge peak at 2.2 GB; 4,096 rows: 0.97 GB, and faster).
TEXT_ROW_GROUP_ROWS = 4096


def _merge(dt: DeltaTable, rows: Rows, write: _Write, run_id: str, stale: str | None = None) -> None:
    keys = write.table.key
    predicate = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    merger = dt.merge(
        _source(rows, write.table),
        predicate=predicate,
        source_alias="s",
        target_alias="t",
        writer_properties=WriterProperties(max_row_group_size=TEXT_ROW_GROUP_ROWS)
        if write.table.text_columns
        else None,
        commit_properties=_commit(run_id, write.table),
    )
    if write.update:
        merger = merger.when_matched_update_all(predicate=None if write.update == "true" else write.update)
    merger = merger.when_not_matched_insert_all()
    if stale:
        merger = merger.when_not_matched_by_source_delete(predicate=stale)
    merger.execute()


def publish_tables(
    warehouse: Path, tables: dict[str, Rows], run_id: str, after_commit: Callable[[str], None] | None = None
) -> dict[str, int]:
    """Write each table of the run (no commit when nothing changes); return every table's version. Tables may
    be spills: they are merged as streams.

    `after_commit(table_name)` is called after each table that got a new version (fault-injection drills)."""
    documents = tables.get(DOCUMENTS.name, DOCUMENTS.empty())
    doc_ids = pc.unique(read_columns(documents, ["doc_id"]).column("doc_id"))
    for write in PLAN:
        dt = ensure_table(warehouse, write.table, run_id)
        before = dt.version()
        rows = tables.get(write.table.name, write.table.empty())
        stale = _stale_children_predicate(warehouse, doc_ids, write) if write.replace_children_of else None
        if rows.num_rows or stale:
            _merge(dt, rows if rows.num_rows else write.table.empty(), write, run_id, stale)
        if after_commit and current_version(warehouse, write.table) != before:
            after_commit(write.table.name)
    ensure_table(warehouse, RUNS, run_id)
    return versions(warehouse)


def publish_run_row(warehouse: Path, row: dict[str, Any]) -> int:
    """Write the run's `runs` row (last commit of a run; a rerun replaces its row)."""
    dt = ensure_table(warehouse, RUNS, row["run_id"])
    _merge(dt, RUNS.conform([row]), _Write(RUNS, "true"), row["run_id"])
    return current_version(warehouse, RUNS)


def changed_tables(before: dict[str, int | None], after: dict[str, int]) -> list[str]:
    return [name for name, version in after.items() if before.get(name) != version]


def versions(warehouse: Path) -> dict[str, int | None]:
    return {t.name: current_version(warehouse, t) for t in (*(w.table for w in PLAN), RUNS)}


@task(name="publish", cache_policy=NO_CACHE)
def publish_tables_task(
    warehouse: Path, tables: dict[str, Rows], run_id: str, after_commit: Callable[[str], None] | None = None
) -> dict[str, int]:
    return publish_tables(warehouse, tables, run_id, after_commit)


def publish_run_summary(warehouse: Path, row: dict[str, Any]) -> Path:
    """Write the run's summary (also for no-op runs, which commit nothing) to _runs/<run_id>/summary.json."""
    path = summary_path(warehouse, row["run_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(row, indent=2, sort_keys=True, default=str))
    return path
