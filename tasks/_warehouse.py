"""Reading the warehouse's Delta tables (not a stage). Only tasks/publish/ writes.

Tables are read from the current version's file list with pyarrow.parquet, never through
DeltaTable.to_pyarrow_table()/to_pandas(): those abort the interpreter at exit with deltalake 1.x
(delta-rs issue 2184; see NOTES.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
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
