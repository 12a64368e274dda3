"""The analysts' DuckDB file `warehouse/analyst.duckdb` and the rule it is pinned by: readers see each table as
of the last complete run (`complete_versions`), never a version of a run still publishing or killed."""

from __future__ import annotations

from pathlib import Path

from handoff.versions import complete_runs
from schemas import PUBLISHED, RUNS
from tasks._warehouse import open_delta, sql_string


def complete_versions(warehouse: Path) -> dict[str, int]:
    """Version of each table as of the last complete run (`handoff.versions.complete_runs`): what readers and
    exports should read.

    Commits after those versions belong to a run that has not finished (or was killed) and are not visible
    through this; `runs` itself is read at its latest version."""
    runs = complete_runs(warehouse)
    if not runs:
        return {}
    return {name: version for name, version in runs[-1].table_versions.items() if name != RUNS.name}


# DuckDB resolves a relative path against the working directory (and `file_search_path`), never against the
# database file. By default a persistent database's `temp_directory` is "<database file>.tmp", so this macro,
# stored in analyst.duckdb, turns a path relative to the warehouse into an absolute one wherever the file now
# lives. When that setting says otherwise (the database ATTACHed to another one, or temp_directory set), the path
# stays relative: run from the warehouse folder or `SET file_search_path = '<warehouse>'`.
_WAREHOUSE_FILE_MACRO = """CREATE MACRO warehouse_file(relative) AS CASE
  WHEN suffix(current_setting('temp_directory'), '/{db_name}.tmp')
  THEN parse_dirpath(current_setting('temp_directory')) || '/' || relative
  ELSE relative END"""


def refresh_analyst_db(warehouse: Path, db_name: str = "analyst.duckdb") -> Path:
    """(Re)create warehouse/analyst.duckdb: one view per published table over its current version's files.

    Offline by design: the views read the Parquet files listed by the Delta log (no `delta` extension to download),
    so removed files of older versions are never read. Each view is pinned to the table's version in the last
    succeeded run (`complete_versions`): a run that has not finished publishing is invisible here. The views name
    their files relative to the warehouse (macro `warehouse_file`), so the warehouse can be moved or copied.
    """
    import duckdb  # only needed here

    warehouse = Path(warehouse).resolve()
    path = warehouse / db_name
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    pinned = complete_versions(warehouse)
    try:
        con.execute("SET file_search_path = ?", [str(warehouse)])  # binds the views while tmp is not yet in place
        con.execute(_WAREHOUSE_FILE_MACRO.format(db_name=db_name))
        for table in PUBLISHED:
            dt = open_delta(warehouse, table, pinned.get(table.name))
            files = [Path(f).relative_to(warehouse).as_posix() for f in dt.file_uris()] if dt is not None else []
            if files:
                listing = ", ".join(f"warehouse_file({sql_string(f)})" for f in files)
                con.execute(f'CREATE VIEW "{table.name}" AS SELECT * FROM read_parquet([{listing}])')
            else:
                empty = table.empty()  # noqa: F841 - read by DuckDB's replacement scan below
                con.execute(f'CREATE TABLE "{table.name}" AS SELECT * FROM empty')
    finally:
        con.close()
    tmp.replace(path)  # readers never see a half-built database
    return path
