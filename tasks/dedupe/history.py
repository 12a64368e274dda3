"""The dedupe history: what dedupe_pages compares tonight's pages with. Read from Parquet files (the current
Delta version's file list, or a bench's files) with DuckDB, filtered to what tonight's pages can match, so memory
follows tonight's batch, not the history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas import DEDUPE_BANDS, DOCUMENTS
from schemas.documents import VERSION_COLUMNS
from tasks._warehouse import query_arrow, rows_holding, sql_list
from tasks.dedupe.sketches import Sketches
from tasks.dedupe.version import KEYS, KEYS_HASH_SQL, VERSION_HASH_SQL, keys_hashes, version_hashes
from tasks.history import History
from tasks.sizes import DEFAULT_SIZES

HASHES = ("version_hash", "keys_hash")  # the `unchanged` test's columns of the history (version.py)


class PublishedTexts(Mapping[str, str]):
    """{doc_id: text} over Arrow arrays: the texts stay Arrow strings and a Python string is made only for the
    text asked for (1M pages, night 2: 98,865 candidates' texts as a dict took dedupe's reduce +260 MB)."""

    def __init__(self, doc_ids: pa.Array, texts: pa.Array):
        self._texts = texts
        self._row = {doc_id: row for row, doc_id in enumerate(doc_ids.to_pylist())}

    def __getitem__(self, doc_id: str) -> str:
        return self._texts[self._row[doc_id]].as_py()

    def __iter__(self) -> Iterator[str]:
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)


@dataclass(frozen=True, slots=True)
class DedupeIndex:
    """Near-duplicate history: published band rows (band_key, doc_id) — all, or only those matching tonight's
    keys — and the current text of the published documents they name ({doc_id: text})."""

    bands: pa.Table = field(default_factory=lambda: DEDUPE_BANDS.empty().select(["band_key", "doc_id"]))
    texts: Mapping[str, str] = field(default_factory=dict)


def _query(sql: str, files: Sequence[str], empty: pa.Table, **tables: pa.Table) -> pa.Table:
    if not files:
        return empty
    out = query_arrow(sql.format(files=f"[{sql_list(files)}]"), **tables)
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


def published_versions(doc_files: Sequence[str], doc_ids: Sequence[str] | pa.Array) -> dict[str, tuple[str, str]]:
    """{doc_id: (version_hash, keys_hash)} of these published documents, hashed by DuckDB from the published
    columns (version.py) of just their rows (`rows_holding`). Files written before `documents` had line_keys give
    null keys."""
    if not len(doc_ids):
        return {}
    wanted = pa.table({"doc_id": pa.array(doc_ids, pa.string())})
    schema = pa.schema([DOCUMENTS.arrow_schema.field(c) for c in ("doc_id", *VERSION_COLUMNS, KEYS)])
    published = rows_holding(doc_files, "doc_id", wanted, schema)
    sql = f"SELECT d.doc_id, {VERSION_HASH_SQL} AS version_hash, {KEYS_HASH_SQL} AS keys_hash FROM published d"
    out = query_arrow(sql, published=published)
    hashes = zip(*(out.column(c).to_pylist() for c in HASHES), strict=True)
    return dict(zip(out.column("doc_id").to_pylist(), hashes, strict=True))


def published_history(docs: pa.Table) -> pa.Table:
    """The `history` dedupe_pages takes, (doc_id, content_hash, version_hash, keys_hash), of documents held in
    memory."""
    at = range(docs.num_rows)
    keys = keys_hashes(docs, at, DEFAULT_SIZES.chunk_rows) if KEYS in docs.column_names else [None] * len(at)
    return pa.table(
        {
            "doc_id": docs.column("doc_id"),
            "content_hash": docs.column("content_hash"),
            "version_hash": pa.array(version_hashes(docs, at, DEFAULT_SIZES.chunk_rows), pa.string()),
            "keys_hash": pa.array(keys, pa.string()),
        }
    )


def load_history(history: History, sk: Sketches) -> tuple[pa.Table, DedupeIndex]:
    """The part of the published history tonight's pages can match (filtered reads; see stage.py's docstring)."""
    return history_from_files(*history_files(history), sk)


def history_files(history: History) -> tuple[list[str], list[str]]:
    """The Parquet files of the run's `documents` and `dedupe_bands` versions."""
    return history.files(DOCUMENTS), history.files(DEDUPE_BANDS)


def history_from_files(doc_files: list[str], band_files: list[str], sk: Sketches) -> tuple[pa.Table, DedupeIndex]:
    """`load_history` over explicit Parquet file lists of `documents` and `dedupe_bands` (the bench's history)."""
    wanted = pa.table({"doc_id": pa.array(sk.doc_id, pa.string()), "content_hash": pa.array(sk.content_hash)})
    return read_history(doc_files, band_files, lambda: wanted, lambda: [sk.band_keys, sk.menu_keys])


def read_history(
    doc_files: list[str],
    band_files: list[str],
    wanted: Callable[[], pa.Table],
    band_keys: Callable[[], list[np.ndarray]],
) -> tuple[pa.Table, DedupeIndex]:
    """The history tonight can match: documents sharing a doc_id or content_hash with a row of `wanted()` (doc_id,
    content_hash: read only when there are documents), with version_hash and keys_hash set for the documents
    tonight re-delivers with the same content_hash; band rows sharing one of `band_keys()` (menu-free keys too: a second
    source), and the candidates' texts."""
    history = DOCUMENTS.empty().select(["doc_id", "content_hash"])
    for name in HASHES:
        history = history.append_column(name, pa.array([], pa.string()))
    if doc_files:
        tonight = wanted()
        history = documents_matching(doc_files, tonight, ["doc_id", "content_hash"], history.select([0, 1]))
        # version hashes only of the documents tonight re-delivers with their published body (the `unchanged` test)
        same_body = tonight.join(history, keys=["doc_id", "content_hash"], join_type="left semi").column("doc_id")
        del tonight
        versions = published_versions(doc_files, same_body.combine_chunks())
        at = pc.index_in(history.column("doc_id"), value_set=pa.array(list(versions), pa.string()))
        for i, name in enumerate(HASHES):
            history = history.append_column(name, pa.array([v[i] for v in versions.values()], pa.string()).take(at))
    bands = DEDUPE_BANDS.empty().select(["band_key", "doc_id"])
    if band_files:
        keys = pa.table({"band_key": pa.array(np.unique(np.concatenate([k.ravel() for k in band_keys()])), pa.int64())})
        bands = matching_bands(band_files, keys, bands)
    candidate_ids = pc.unique(bands.column("doc_id"))
    texts = DOCUMENTS.empty().select(["doc_id", "text"])
    if len(candidate_ids) and doc_files:
        texts = rows_holding(doc_files, "doc_id", pa.table({"doc_id": candidate_ids}), texts.schema)
    texts = texts.combine_chunks()
    return history, DedupeIndex(bands, PublishedTexts(texts.column("doc_id"), texts.column("text")))
