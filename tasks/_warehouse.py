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
    found = query_arrow(
        f"SELECT filename, file_row_number AS row FROM read_parquet([{sql_list(files)}], filename=true, "
        f"file_row_number=true) d WHERE d.{key} IN (SELECT {key} FROM wanted)",
        wanted=wanted,
    )
    names = pc.unique(found.column("filename")).to_pylist()
    rows = [np.sort(found.filter(pc.equal(found.column("filename"), f)).column("row").to_numpy()) for f in names]
    with ThreadPoolExecutor(min(os.cpu_count() or 1, 4)) as pool:  # pyarrow decodes without the GIL
        parts = [
            part for file_parts in pool.map(_rows_of_file, names, rows, [schema] * len(names)) for part in file_parts
        ]
    return pa.concat_tables([schema.empty_table(), *parts])


def _rows_of_file(file: str, rows: np.ndarray, schema: pa.Schema) -> list[pa.Table]:
    """Rows `rows` (ascending) of one Parquet file, a row group at a time, as `schema` declares them."""
    with pq.ParquetFile(file) as f:
        present = [name for name in schema.names if name in f.schema_arrow.names]
        sizes = [f.metadata.row_group(g).num_rows for g in range(f.num_row_groups)]
        starts = np.concatenate([[0], np.cumsum(sizes)])
        group_of = np.searchsorted(starts, rows, side="right") - 1
        parts = []
        for group in np.unique(group_of).tolist():
            part = f.read_row_group(group, columns=present).take(pa.array(rows[group_of == group] - starts[group]))
            columns = [
                part.column(field.name).cast(field.type) if field.name in present else pa.nulls(len(part), field.type)
                for field in schema
            ]
            parts.append(pa.Table.from_arrays(columns, schema=schema))
        return parts


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
