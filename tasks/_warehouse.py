"""Reading the warehouse's Delta tables (not a stage). Only tasks/publish/ writes.

Tables are read from the current version's file list with pyarrow.parquet, never through
DeltaTable.to_pyarrow_table()/to_pandas(): those abort the interpreter at exit with deltalake 1.x
(delta-rs issue 2184; see NOTES.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from schemas import Table

RUN_ID_KEY = "docpipe.run_id"  # commit metadata naming the run that wrote a table version (tasks/publish/)
RUNS_DIR = "_runs"  # per-run folders: checkpoints (flows/checkpoints.py), summary.json, run.log
SUMMARY = "summary.json"


def run_folder(warehouse: Path, run_id: str) -> Path:
    """warehouse/_runs/<run_id>/: the run's checkpoints, summary and log."""
    return Path(warehouse) / RUNS_DIR / run_id


def summary_path(warehouse: Path, run_id: str) -> Path:
    """The run's summary.json: its `runs` row, written also for no-op runs, which commit no `runs` row."""
    return run_folder(warehouse, run_id) / SUMMARY


def sql_string(text: str) -> str:
    """A SQL string literal (single quotes doubled): for Delta predicates and DuckDB statements."""
    return "'" + text.replace("'", "''") + "'"


def sql_list(values: Sequence[str]) -> str:
    """Comma-separated SQL string literals, for an `IN (...)` list or a DuckDB list `[...]`."""
    return ", ".join(sql_string(v) for v in values)


def query_arrow(sql: str, **tables: pa.Table) -> pa.Table:
    """`sql` run by a fresh in-memory DuckDB connection that sees `tables` under their names (Parquet files are
    read with `read_parquet([...])` in the SQL); the result as Arrow, the connection closed."""
    con = duckdb.connect()
    try:
        for name, table in tables.items():
            con.register(name, table)
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def rows_holding(files: Sequence[str], key: str, wanted: pa.Table, schema: pa.Schema) -> pa.Table:
    """The rows of the Parquet `files` whose `key` is one of `wanted`'s, as `schema` declares their columns (nulls
    for a column a file lacks). DuckDB finds them reading the key column only; the other columns are read of the
    row groups holding one of them only (a scan filtered on the key decodes every page text of the table: 1M
    documents, the version hashes of 13 of them: 3.3 s against 0.6 s)."""
    if not files:
        return schema.empty_table()
    return read_located(locate_rows(files, key, wanted), schema)


def locate_rows(files: Sequence[str], key: str, wanted: pa.Table) -> pa.Table:
    """(filename, row, `key`) of the rows of the Parquet `files` whose `key` is one of `wanted`'s, in no set
    order: DuckDB reads the key column only."""
    return query_arrow(
        f"SELECT filename, file_row_number AS row, d.{key} FROM read_parquet([{sql_list(files)}], filename=true, "
        f"file_row_number=true) d WHERE d.{key} IN (SELECT {key} FROM wanted)",
        wanted=wanted,
    )


def read_located(located: pa.Table, schema: pa.Schema) -> pa.Table:
    """The rows `located` names (its `filename` and `row` columns, as `locate_rows` gives them), as `schema`
    declares their columns: file by file in ascending rows, a row group at a time, row groups side by side."""
    names = pc.unique(located.column("filename")).to_pylist()
    rows = [np.sort(located.filter(pc.equal(located.column("filename"), f)).column("row").to_numpy()) for f in names]
    groups = [group for name, file_rows in zip(names, rows, strict=True) for group in _row_groups_of(name, file_rows)]
    with ThreadPoolExecutor(min(os.cpu_count() or 1, 4)) as pool:  # pyarrow decodes without the GIL
        parts = list(pool.map(lambda group: _rows_of_group(*group, schema), groups))
    return pa.concat_tables([schema.empty_table(), *parts])


def _row_groups_of(file: str, rows: np.ndarray) -> list[tuple[str, pq.FileMetaData, int, np.ndarray]]:
    """(file, its footer, row group, rows within it) of the ascending file rows `rows`, by row group."""
    metadata = pq.read_metadata(file)
    starts = np.cumsum([0] + [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)])
    group_of = np.searchsorted(starts, rows, side="right") - 1
    return [(file, metadata, g, rows[group_of == g] - starts[g]) for g in np.unique(group_of).tolist()]


def _rows_of_group(file: str, metadata: pq.FileMetaData, group: int, rows: np.ndarray, schema: pa.Schema) -> pa.Table:
    """Rows `rows` of one row group of a Parquet file (its footer read once: `metadata`), as `schema` declares
    them (nulls for a column it lacks)."""
    with pq.ParquetFile(file, metadata=metadata) as f:
        present = [name for name in schema.names if name in f.schema_arrow.names]
        part = f.read_row_group(group, columns=present).take(pa.array(rows))
    columns = [
        part.column(field.name).cast(field.type) if field.name in present else pa.nulls(len(part), field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def run_summaries(warehouse: Path) -> list[Path]:
    """Every run's summary.json, in run-id order."""
    return sorted(Path(warehouse).glob(f"{RUNS_DIR}/*/{SUMMARY}"))


def table_path(warehouse: Path, table: Table | str) -> Path:
    return Path(warehouse) / (table if isinstance(table, str) else table.name)


def open_delta(warehouse: Path, table: Table | str, version: int | None = None) -> DeltaTable | None:
    """The Delta table, at `version` or the latest; None when it does not exist yet."""
    try:
        return DeltaTable(str(table_path(warehouse, table)), version=version)
    except TableNotFoundError:
        return None


def read_delta_files(dt: DeltaTable, schema: pa.Schema, columns: Sequence[str] | None = None) -> pa.Table:
    """Rows of the DeltaTable's loaded version, read file by file."""
    files = dt.file_uris()
    if not files:
        return schema.empty_table() if columns is None else schema.empty_table().select(list(columns))
    parts = [pq.read_table(f, columns=list(columns) if columns else None, schema=schema) for f in files]
    return pa.concat_tables(parts)


def read_current(
    warehouse: Path, table: Table, columns: Sequence[str] | None = None, version: int | None = None
) -> pa.Table:
    """A table's rows at its latest (or given) version; an empty table with the declared schema if absent."""
    dt = open_delta(warehouse, table, version)
    if dt is None:
        empty = table.empty()
        return empty if columns is None else empty.select(list(columns))
    return read_delta_files(dt, table.arrow_schema, columns)


def current_version(warehouse: Path, table: Table | str) -> int | None:
    dt = open_delta(warehouse, table)
    return None if dt is None else dt.version()
