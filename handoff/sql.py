"""SQL time travel: the published tables as of any complete run, in an in-memory DuckDB (`docpipe sql`).

Each published table is a view `delta_scan('<table>', version => N)`, N its version in that run (the `runs` row,
`handoff.versions.resolve_as_of`), read by DuckDB's `delta` extension. The extension is loaded from the file the
`duckdb-extension-delta` package ships for the pinned DuckDB, never downloaded: DuckDB's automatic install and
load of known extensions are off, so a missing file is an error, not a network fetch. `run_versions` lists every
complete run's table versions, for `delta_scan(…, version => …)` by hand.
"""

from __future__ import annotations

import csv
import importlib.resources
import json
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pyarrow as pa

from handoff.versions import RunVersions, complete_runs
from schemas import PUBLISHED
from tasks._warehouse import sql_string, table_path

if TYPE_CHECKING:
    import duckdb

DELTA_PACKAGE = "duckdb_extension_delta"
DELTA_FILE = "delta.duckdb_extension"
RUN_VERSIONS = "run_versions"  # run_id, finished_at, table_name, version: one row per table of each complete run
AS_OF_VARIABLE = "as_of_run"  # getvariable('as_of_run'): the run the views show
OFFLINE_CONFIG = {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}


class DeltaExtensionMissing(RuntimeError):
    """The installed duckdb-extension-delta has no extension file for the running DuckDB version."""


def delta_extension_path() -> Path:
    """The `delta` extension file that `duckdb-extension-delta` ships for the running DuckDB version."""
    import duckdb

    root = importlib.resources.files(DELTA_PACKAGE) / "extensions"
    path = root / f"v{duckdb.__version__}" / DELTA_FILE
    if not path.is_file():
        shipped = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
        raise DeltaExtensionMissing(
            f"{DELTA_PACKAGE} has no delta extension for DuckDB {duckdb.__version__} (it ships {shipped or 'none'}): "
            "install duckdb and duckdb-extension-delta of the same version (pip install -c constraints.txt -e .)"
        )
    return Path(str(path))


def connect_offline(extension_directory: Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with `delta` loaded from the package file; it never installs an extension by itself.

    `extension_directory` replaces DuckDB's own (~/.duckdb/extensions): nothing is written there by this."""
    import duckdb

    config = dict(OFFLINE_CONFIG)
    if extension_directory is not None:
        config["extension_directory"] = str(extension_directory)
    con = duckdb.connect(config=config)
    con.execute(f"LOAD {sql_string(str(delta_extension_path()))}")
    return con


def run_versions_table(runs: list[RunVersions]) -> pa.Table:
    """One row per (complete run, table): the table's Delta version as of that run's end."""
    rows = [
        {"run_id": r.run_id, "finished_at": r.finished_at, "table_name": name, "version": version}
        for r in runs
        for name, version in sorted(r.table_versions.items())
    ]
    schema = pa.schema(
        [("run_id", pa.string()), ("finished_at", pa.timestamp("us", "UTC")), ("table_name", pa.string())]
        + [("version", pa.int64())]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def open_as_of(warehouse: Path, run: RunVersions, extension_directory: Path | None = None) -> duckdb.DuckDBPyConnection:
    """An offline DuckDB whose views show each published table as of `run` (empty when the run predates it)."""
    con = connect_offline(extension_directory)
    for table in PUBLISHED:
        version = run.version(table)
        if version is None:
            empty = table.empty()  # noqa: F841 - read by DuckDB's replacement scan below
            con.execute(f'CREATE TABLE "{table.name}" AS SELECT * FROM empty')
            continue
        location = sql_string(table_path(Path(warehouse).resolve(), table).as_uri())
        con.execute(f'CREATE VIEW "{table.name}" AS SELECT * FROM delta_scan({location}, version => {int(version)})')
    listing = run_versions_table(complete_runs(warehouse))  # noqa: F841 - read by DuckDB's replacement scan below
    con.execute(f"CREATE TABLE {RUN_VERSIONS} AS SELECT * FROM listing")
    con.execute(f"SET VARIABLE {AS_OF_VARIABLE} = {sql_string(run.run_id)}")
    return con


def query_as_of(warehouse: Path, run: RunVersions, query: str) -> pa.Table:
    """The result of `query` (SQL; the last statement's result) over the tables as of `run`."""
    con = open_as_of(warehouse, run)
    try:
        con.execute(query)
        return con.fetch_arrow_table() if con.description is not None else pa.table({})
    finally:
        con.close()


def write_csv(result: pa.Table, stream: IO[str]) -> None:
    """CSV with a header row; lists, maps and structs as JSON, nulls as empty cells."""

    def cell(value: object) -> object:
        if value is None:
            return ""
        return json.dumps(value, ensure_ascii=False, default=str) if isinstance(value, list | dict | tuple) else value

    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(result.column_names)
    for row in zip(*(c.to_pylist() for c in result.columns), strict=True):
        writer.writerow([cell(v) for v in row])
