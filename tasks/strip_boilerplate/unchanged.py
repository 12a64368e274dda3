"""Records re-delivered as they were published: recognised before any stripping, so an unchanged page costs a hash.

A text record is *unchanged* when its doc_id (canonical URL, or a one-page file's path: tasks/identity.py) is
published with the same `raw_text` and no other record of the night has that doc_id. Its published text was
stripped from that raw_text under the model of its group and is kept current by the re-strip (a group whose
model changes has its published documents stripped again, these included), so stripping it again would give the
published text back, and dedupe would call it `unchanged` (same doc_id, body and version). Such records leave
the night here, counted in the stage's `unchanged`; the others go on. Not recognised here (they take the whole
path): HTML records (their raw_text is what stripping produces), records identified by their body (a JSON line
or archive member without URL), and every record of a night delivering a doc_id twice.

Tonight's side is hashed here (`raw_keys`: the first 16 hex digits of the SHA-256 of raw_text's UTF-8 bytes). The
published side is the stored `documents.raw_key`, the same hash taken when the row was extracted, so only the
doc_id and raw_key columns are read; a data file written before docpipe stored raw_key (its statistics show keys
missing) has DuckDB hash its raw_text instead, in the same query, until publish rewrites the file (rewrite.py fills
the keys of the rows it copies). Only the ids of the matches come back. Memory: ~60 bytes a record of the night
(doc_id and hash as Arrow strings), released once the matches are known.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas import DOCUMENTS, STG_PAGES
from tasks._spill import Spill, write_spill
from tasks._stage import RAW_KEY_CHARS, raw_keys
from tasks._warehouse import query_arrow, sql_list
from tasks.history import History
from tasks.identity import doc_ids

_COLUMNS = ("url", "source_uri", "raw_text")


def night_keys(spill: Spill, chunk_rows: int) -> pa.Table:
    """(row, doc_id, raw_key) of every record of the night, in spill order (read `chunk_rows` at a time): doc_id
    null when known only from the body, raw_key null for a record without raw_text."""
    ids: list[pa.Array] = []
    keys: list[pa.Array] = []
    for batch in spill.batches(chunk_rows, _COLUMNS):
        ids.append(pa.array(doc_ids(batch.column("url"), None, batch.column("source_uri")), pa.string()))
        keys.append(raw_keys(batch.column("raw_text")))
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


def keyed(file: str) -> bool:
    """Whether every row of a `documents` data file with a raw_text has its raw_key (from the file's row-group
    statistics; a file without them, or without the column, is not keyed). A speed choice only: a row whose key is
    missing from a file taken as keyed takes the whole path, and dedupe finds it unchanged."""
    meta = pq.read_metadata(file)
    names = meta.schema.names
    if "raw_key" not in names:
        return False
    key, text = names.index("raw_key"), names.index("raw_text")
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        key_stats, text_stats = group.column(key).statistics, group.column(text).statistics
        counted = key_stats is not None and text_stats is not None and key_stats.has_null_count
        if not counted or not text_stats.has_null_count or key_stats.null_count != text_stats.null_count:
            return False
    return True


def published_matches(doc_files: Sequence[str], wanted: pa.Table) -> set[int]:
    """Rows of `wanted` (row, doc_id, raw_key) whose doc_id is published with the same raw_text: compared by the
    stored raw_key, or by hashing raw_text in files that do not hold every key (`keyed`)."""
    if not doc_files or wanted.num_rows == 0:
        return set()
    with_keys: list[str] = []
    without: list[str] = []
    for file in doc_files:
        (with_keys if keyed(file) else without).append(file)
    parts = []
    if with_keys:
        parts.append(
            f"SELECT w.row FROM read_parquet([{sql_list(with_keys)}], union_by_name = true) d "
            "JOIN wanted w ON d.doc_id = w.doc_id WHERE d.raw_key = w.raw_key"
        )
    if without:
        parts.append(
            f"SELECT w.row FROM read_parquet([{sql_list(without)}], union_by_name = true) d "
            "JOIN wanted w ON d.doc_id = w.doc_id "
            f"WHERE d.raw_text IS NOT NULL AND left(sha256(d.raw_text), {RAW_KEY_CHARS}) = w.raw_key"
        )
    return set(query_arrow(" UNION ALL ".join(parts), wanted=wanted).column("row").to_pylist())


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
