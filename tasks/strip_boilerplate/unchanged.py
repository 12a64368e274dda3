"""Records re-delivered as they were published: recognised before any stripping, so an unchanged page costs a hash.

A text record is *unchanged* when its doc_id (canonical URL, or a one-page file's path: tasks/identity.py) is
published with the same `raw_text` and no other record of the night has that doc_id. Its published text was
stripped from that raw_text under the model of its group and is kept current by the re-strip (a group whose
model changes has its published documents stripped again, these included), so stripping it again would give the
published text back, and dedupe would call it `unchanged` (same doc_id, body and version). Such records leave
the night here, counted in the stage's `unchanged`; the others go on. Not recognised here (they take the whole
path): HTML records (their raw_text is what stripping produces), records identified by their body (a JSON line
or archive member without URL), and every record of a night delivering a doc_id twice.

Tonight's side is hashed here (the first 16 hex digits of the SHA-256 of raw_text's UTF-8 bytes), the published
side by DuckDB from the `documents` files of the current version, in one query; only the ids of the matches come
back. Memory: ~60 bytes a record of the night (doc_id and hash as Arrow strings), released once the matches are
known.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas import DOCUMENTS, STG_PAGES
from tasks._spill import Spill, write_spill
from tasks._warehouse import query_arrow, sql_list
from tasks.history import History
from tasks.identity import doc_ids

HASH_CHARS = 16  # 64 bits of SHA-256: a chance collision among a night's re-delivered pages is ~1e-8 at 1M pages
_COLUMNS = ("url", "source_uri", "raw_text")


def raw_key(text: str) -> str:
    """The hash compared with the published raw_text (DuckDB: `left(sha256(raw_text), HASH_CHARS)`)."""
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def night_keys(spill: Spill, chunk_rows: int) -> pa.Table:
    """(row, doc_id, raw_key) of every record of the night, in spill order (read `chunk_rows` at a time): doc_id
    null when known only from the body, raw_key null for a record without raw_text."""
    ids: list[pa.Array] = []
    keys: list[pa.Array] = []
    for batch in spill.batches(chunk_rows, _COLUMNS):
        ids.append(pa.array(doc_ids(batch.column("url"), None, batch.column("source_uri")), pa.string()))
        keys.append(pa.array([None if t is None else raw_key(t) for t in batch.column("raw_text").to_pylist()]))
    n = sum(len(a) for a in ids)
    return pa.table(
        {
            "row": pa.array(np.arange(n, dtype=np.int64)),
            "doc_id": pa.chunked_array(ids, pa.string()),
            "raw_key": pa.chunked_array(keys, pa.string()),
        }
    )


def candidates(night: pa.Table) -> pa.Table:
    """The records that may be unchanged: a doc_id known before stripping and delivered once tonight, with a
    raw_text."""
    counts = night.filter(night["doc_id"].is_valid()).group_by("doc_id").aggregate([("row", "count")])
    repeated = counts.filter(pc.greater(counts["row_count"], 1))["doc_id"]
    once = pc.invert(pc.is_in(night["doc_id"], repeated))
    return night.filter(pc.and_(pc.and_(night["doc_id"].is_valid(), night["raw_key"].is_valid()), once))


def published_matches(doc_files: Sequence[str], wanted: pa.Table) -> set[int]:
    """Rows of `wanted` (row, doc_id, raw_key) whose doc_id is published with the same raw_text."""
    if not doc_files or wanted.num_rows == 0:
        return set()
    sql = (
        f"SELECT w.row FROM read_parquet([{sql_list(doc_files)}]) d JOIN wanted w ON d.doc_id = w.doc_id "
        f"WHERE d.raw_text IS NOT NULL AND left(sha256(d.raw_text), {HASH_CHARS}) = w.raw_key"
    )
    return set(query_arrow(sql, wanted=wanted).column("row").to_pylist())


def without_unchanged(spill: Spill, history: History, path: Path, chunk_rows: int) -> tuple[Spill, int]:
    """The night's records without the unchanged ones (written to `path`, `chunk_rows` at a time, when any is
    found; else `spill` as it is), and how many were unchanged."""
    files = history.files(DOCUMENTS)
    if not files or spill.num_rows == 0:
        return spill, 0
    unchanged = published_matches(files, candidates(night_keys(spill, chunk_rows)))
    if not unchanged:
        return spill, 0
    drop = np.zeros(spill.num_rows, bool)
    drop[list(unchanged)] = True

    def kept_parts():
        start = 0
        for batch in spill.batches(chunk_rows):
            yield batch.filter(pa.array(~drop[start : start + batch.num_rows]))
            start += batch.num_rows

    return write_spill(path, STG_PAGES, kept_parts()), len(unchanged)
