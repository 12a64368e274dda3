"""The dedupe history: what dedupe_pages compares tonight's pages with. Read from Parquet files (the current
Delta version's file list, or a bench's files) with DuckDB, filtered to what tonight's pages can match, so memory
follows tonight's batch, not the history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas import DEDUPE_BANDS, DOCUMENTS
from schemas.documents import VERSION_COLUMNS
from tasks._warehouse import locate_rows, query_arrow, read_located, rows_holding, sql_list
from tasks.dedupe.sketches import Sketches
from tasks.dedupe.version import KEYS, KEYS_HASH_SQL, VERSION_HASH_SQL, keys_hashes, version_hashes
from tasks.history import History
from tasks.sizes import DEFAULT_SIZES

HASHES = ("version_hash", "keys_hash")  # the `unchanged` test's columns of the history (version.py)


TEXT_SCHEMA = pa.schema([DOCUMENTS.arrow_schema.field(c) for c in ("doc_id", "text")])


class CandidateTexts(Protocol):
    """The texts of published documents that are near candidates tonight, read a segment at a time."""

    def read_order(self, doc_ids: Iterable[str]) -> list[str]:
        """`doc_ids` in the order their texts are best read (segments of it read few row groups)."""
        ...

    def take(self, doc_ids: Sequence[str]) -> pa.Array:
        """Their texts, in that order (null: none published)."""
        ...


class TextsInMemory:
    """`CandidateTexts` of documents held in memory ({doc_id: text}): tests, and histories built in memory."""

    def __init__(self, texts: Mapping[str, str]) -> None:
        self._texts = texts

    def read_order(self, doc_ids: Iterable[str]) -> list[str]:
        return sorted(doc_ids)

    def take(self, doc_ids: Sequence[str]) -> pa.Array:
        return pa.array([self._texts.get(d) for d in doc_ids], pa.string())


class PublishedTexts:
    """`CandidateTexts` read from the `documents` files when asked, by file and row (`locate_rows`), in the
    files' order: a segment's texts come from a few row groups. Held at once, the candidates' texts took 264 MB
    (1M-page warehouse, a night of 12,485 pages)."""

    def __init__(self, located: pa.Table) -> None:
        self._located = located.sort_by([("filename", "ascending"), ("row", "ascending")])
        self._position = {doc_id: k for k, doc_id in enumerate(self._located.column("doc_id").to_pylist())}

    def read_order(self, doc_ids: Iterable[str]) -> list[str]:
        return sorted(doc_ids, key=lambda doc_id: self._position.get(doc_id, -1))

    def take(self, doc_ids: Sequence[str]) -> pa.Array:
        found = [self._position[d] for d in doc_ids if d in self._position]
        rows = read_located(self._located.take(pa.array(found, pa.int64())), TEXT_SCHEMA)
        at = pc.index_in(pa.array(doc_ids, pa.string()), value_set=rows.column("doc_id").combine_chunks())
        return rows.column("text").combine_chunks().take(at)


@dataclass(frozen=True, slots=True)
class DedupeIndex:
    """Near-duplicate history: published band rows (band_key, doc_id) — all, or only those matching tonight's
    keys — and the texts of the published documents they name."""

    bands: pa.Table = field(default_factory=lambda: DEDUPE_BANDS.empty().select(["band_key", "doc_id"]))
    texts: CandidateTexts = field(default_factory=lambda: TextsInMemory({}))

    @classmethod
    def of_documents(cls, bands: pa.Table, documents: pa.Table) -> DedupeIndex:
        """The index of published `bands` and `documents` held in memory (doc_id, text)."""
        ids, texts = (documents.column(c).to_pylist() for c in ("doc_id", "text"))
        return cls(bands, TextsInMemory(dict(zip(ids, texts, strict=True))))


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
    if not len(candidate_ids) or not doc_files:
        return history, DedupeIndex(bands)
    located = locate_rows(doc_files, "doc_id", pa.table({"doc_id": candidate_ids}))
    return history, DedupeIndex(bands, PublishedTexts(located))
