"""Reading the dedupe history from Parquet files (the current Delta version's file list, or a bench's files)
with DuckDB, filtered to what tonight's pages can match, so memory follows tonight's batch, not the history.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from tasks.dedupe.version import VERSION_HASH_SQL


def _files(files: Sequence[str]) -> str:
    return "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"


def _query(sql: str, files: Sequence[str], empty: pa.Table, **tables: pa.Table) -> pa.Table:
    if not files:
        return empty
    con = duckdb.connect()
    try:
        for name, table in tables.items():
            con.register(name, table)
        out = con.sql(sql.format(files=_files(files))).to_arrow_table()
    finally:
        con.close()
    return out.cast(empty.schema) if out.num_rows else empty


def matching_bands(band_files: Sequence[str], keys: pa.Table, empty: pa.Table) -> pa.Table:
    """History (band_key, doc_id) rows whose band_key is one of `keys.band_key`: a hash join that streams the
    band table's two columns and holds only tonight's keys (a few MB at 10M history documents)."""
    sql = "SELECT h.band_key, h.doc_id FROM read_parquet({files}) h WHERE h.band_key IN (SELECT band_key FROM keys)"
    return _query(sql, band_files, empty, keys=keys)


def documents_matching(doc_files: Sequence[str], wanted: pa.Table, columns: Sequence[str], empty: pa.Table) -> pa.Table:
    """History documents whose doc_id or content_hash is in `wanted` (columns doc_id, content_hash)."""
    cols = ", ".join(f"d.{c}" for c in columns)
    sql = (
        f"SELECT {cols} FROM read_parquet({{files}}) d WHERE d.doc_id IN (SELECT doc_id FROM wanted) "
        "OR d.content_hash IN (SELECT content_hash FROM wanted)"
    )
    return _query(sql, doc_files, empty, wanted=wanted)


def published_versions(doc_files: Sequence[str], doc_ids: Sequence[str]) -> dict[str, str]:
    """{doc_id: version_hash} of these published documents, hashed by DuckDB from the published columns
    (version.py), so only 64 characters a document leave DuckDB."""
    if not doc_ids:
        return {}
    sql = f"SELECT d.doc_id, {VERSION_HASH_SQL} AS version_hash FROM read_parquet({{files}}) d "
    sql += "WHERE d.doc_id IN (SELECT doc_id FROM ids)"
    empty = pa.table({"doc_id": pa.array([], pa.string()), "version_hash": pa.array([], pa.string())})
    out = _query(sql, doc_files, empty, ids=pa.table({"doc_id": pa.array(doc_ids, pa.string())}))
    return dict(zip(out.column("doc_id").to_pylist(), out.column("version_hash").to_pylist(), strict=True))
