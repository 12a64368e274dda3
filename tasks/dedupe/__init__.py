"""Fold duplicate pages into one document, against everything published before.

In: stg_clean. Out: stg_unique (one row per document to publish: new or updated); in `outputs`: `duplicates`
rows, and `dedupe_signatures` / `dedupe_bands` rows of every document kept (the index publish adds to the
warehouse). Dropped (counted, not quarantined): records identical to their already-published document
(`unchanged`) and duplicates. State (read, and returned as new rows): `documents` (doc_id, content_hash) of the
published history, its near-duplicate index (`dedupe_bands`, `dedupe_signatures`), and the text of the history
documents tonight's pages are candidates of.

Identity: `doc_id` is the hash of the canonical URL (lower-case host without www., no fragment or trailing
slash); else, for a one-page file (.txt, .html), of its path under raw/; else of the normalised body. The same
URL (or file) with new text is an update of that document, not a duplicate — also when its text is merely
similar to its published version.

Exact duplicates share `content_hash` = SHA-256 of the normalised body (NFKC, case-folded, whitespace collapsed).
Near duplicates (minhash.py, near.py): MinHash over word n-grams of the clean text (`shingle_words`,
`num_perm`), LSH with `bands` bands of num_perm/bands rows; pages sharing a band key with each other or with a
published document are candidates, and a candidate pair counts only when its exact Jaccard over the two texts'
shingle sets is ≥ `min_jaccard` (so precision does not depend on the estimate's noise). Verified pairs are
joined transitively (union-find). `similarity` of a near duplicate is its best verified Jaccard in the cluster.

Canonical record of a group (documented rule, exact and near alike): the document already published (first
seen; between two published ones, the smaller doc_id), else the earliest `fetched_at`, else the smallest
`source_uri` — so the result does not depend on input order or on how pages are split across runs. Published
documents are never folded into another.

Scale (the task wrapper; history.py): the history is never loaded whole. DuckDB streams the band table's
(band_key, doc_id) columns from the current Delta version's Parquet files and keeps only rows whose key is one of
tonight's (20 keys a page: ~200k for 10k pages), then reads `documents` filtered to tonight's doc_ids and content
hashes and to the candidates' texts. Memory therefore follows tonight's batch; the history costs one columnar
scan of `dedupe_bands` per run (10M documents: 200M int64 keys). Signatures are kept so the banding can change
without re-reading texts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas import DEDUPE_BANDS, DEDUPE_SIGNATURES, DOCUMENTS, DUPLICATES, STG_UNIQUE
from tasks._stage import StageResult, normalise_text, quarantine_table, sha256_hex
from tasks._warehouse import open_delta
from tasks.dedupe.history import documents_matching, matching_bands
from tasks.dedupe.minhash import Sketcher
from tasks.dedupe.near import fold_near

STAGE = "dedupe"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DedupeConfig:
    id_hex_chars: int = 32  # doc_id length (128 bits)
    min_jaccard: float = 0.8  # near duplicate: exact Jaccard of word n-gram sets at least this
    shingle_words: int = 3  # words per shingle
    num_perm: int = 100  # MinHash permutations
    # 20 bands x 5 rows: P(candidate) = 0.9996 at Jaccard 0.8, 0.9955 at 0.75, 0.47 at 0.5 (bench/bench_dedupe.py)
    bands: int = 20
    seed: int = 1  # permutations; changing it invalidates the stored index
    threads: int = 2  # sketching threads (numpy and Arrow release the GIL)

    def __post_init__(self) -> None:
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands})")

    @property
    def sketcher(self) -> Sketcher:
        return Sketcher(self.shingle_words, self.num_perm, self.bands, self.seed, self.threads)


@dataclass(frozen=True, slots=True)
class Sketches:
    """Per page of a batch: content_hash, doc_id, MinHash signature, shingle count and band keys."""

    content_hash: list[str]
    doc_id: list[str]
    signatures: np.ndarray
    n_shingles: np.ndarray
    band_keys: np.ndarray


@dataclass(frozen=True, slots=True)
class DedupeIndex:
    """Near-duplicate history: published band rows (band_key, doc_id) — all, or only those matching tonight's
    keys — and the current text of the published documents they name ({doc_id: text})."""

    bands: pa.Table = field(default_factory=lambda: DEDUPE_BANDS.empty().select(["band_key", "doc_id"]))
    texts: dict[str, str] = field(default_factory=dict)


def canonical_url(url: str) -> str:
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    host = host[4:] if host.startswith("www.") else host
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower() or "http", host, path, parts.query, ""))


def content_hash(text: str) -> str:
    return sha256_hex(normalise_text(text))


def doc_id_for(url: str | None, body_hash: str, cfg: DedupeConfig, source_uri: str | None = None) -> str:
    """Stable id: the canonical URL; else the file a one-page file came from (a re-scraped file with new text is
    an update); else (a JSON line or archive member without URL) the normalised body."""
    if url:
        key = "url:" + canonical_url(url)
    elif source_uri and "#" not in source_uri:
        key = "path:" + source_uri
    else:
        key = "body:" + body_hash
    return sha256_hex(key)[: cfg.id_hex_chars]


def sketch_pages(pages: pa.Table, cfg: DedupeConfig) -> Sketches:
    """Identity and MinHash sketch of every page (row order kept)."""
    hashes = [content_hash(t) for t in pages.column("text").to_pylist()]
    ids = [
        doc_id_for(u, h, cfg, uri)
        for u, h, uri in zip(
            pages.column("url").to_pylist(), hashes, pages.column("source_uri").to_pylist(), strict=True
        )
    ]
    sketcher = cfg.sketcher
    sig, n_shingles = sketcher.signatures(pages.column("text"))
    return Sketches(hashes, ids, sig, n_shingles, sketcher.band_keys(sig))


def _order_key(row: dict[str, Any]) -> tuple[datetime, str]:
    return (row["fetched_at"] or _EPOCH, row["source_uri"])


def _duplicate_row(row: dict[str, Any], of: str, kind: str, similarity: float = 1.0) -> dict[str, Any]:
    return {
        "source_uri": row["source_uri"],
        "doc_id": row["doc_id"],
        "duplicate_of": of,
        "kind": kind,
        "similarity": similarity,
        "url": row["url"],
        "content_hash": row["content_hash"],
        "run_id": row["run_id"],
    }


def _index_rows(kept: list[dict[str, Any]], sk: Sketches) -> dict[str, pa.Table]:
    """dedupe_signatures and dedupe_bands rows of the kept documents (pages without shingles get no band rows)."""
    at = np.array([r["_at"] for r in kept], dtype=np.int64)
    doc_ids = pa.array([r["doc_id"] for r in kept], pa.string())
    run_ids = pa.array([r["run_id"] for r in kept], pa.string())
    sig = sk.signatures[at].astype("<u4")
    signatures = pa.table(
        {
            "doc_id": doc_ids,
            "content_hash": pa.array([r["content_hash"] for r in kept], pa.string()),
            "signature": pa.array([s.tobytes() for s in sig], pa.binary()),
            "n_shingles": pa.array(sk.n_shingles[at], pa.int32()),
            "run_id": run_ids,
        }
    )
    with_bands = np.flatnonzero(sk.n_shingles[at] > 0)
    n_bands = sk.band_keys.shape[1]
    take = pa.array(np.repeat(with_bands, n_bands))
    bands = pa.table(
        {
            "band_key": sk.band_keys[at[with_bands]].ravel(),
            "doc_id": doc_ids.take(take),
            "run_id": run_ids.take(take),
        }
    )
    return {"dedupe_signatures": DEDUPE_SIGNATURES.conform(signatures), "dedupe_bands": DEDUPE_BANDS.conform(bands)}


def dedupe_pages(
    pages: pa.Table,
    history: pa.Table,
    cfg: DedupeConfig,
    index: DedupeIndex | None = None,
    sketches: Sketches | None = None,
) -> StageResult:
    """Split pages into documents to publish, unchanged records and duplicates (exact or near) of documents.

    Args:
        history: documents(doc_id, content_hash) of the published history (all, or those sharing tonight's ids
            or hashes).
        index: near-duplicate history (none: compare tonight's pages with each other only).
        sketches: `sketch_pages(pages, cfg)` when the caller already computed it.
    """
    sk = sketches or sketch_pages(pages, cfg)
    index = index or DedupeIndex()
    hist_by_doc = dict(
        zip(history.column("doc_id").to_pylist(), history.column("content_hash").to_pylist(), strict=False)
    )
    hist_by_hash = {h: d for d, h in hist_by_doc.items()}
    rows = pages.to_pylist()
    for i, row in enumerate(rows):
        row["content_hash"], row["doc_id"], row["_at"] = sk.content_hash[i], sk.doc_id[i], i

    duplicates: list[dict[str, Any]] = []
    n_unchanged = 0
    # One record per doc_id: the latest fetched copy of a URL wins (ties: smallest source_uri); the others are
    # superseded, or exact copies.
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: (-(r["fetched_at"] or _EPOCH).timestamp(), r["source_uri"])):
        winner = latest.setdefault(row["doc_id"], row)
        if winner is not row:
            kind = "exact" if winner["content_hash"] == row["content_hash"] else "superseded"
            duplicates.append(_duplicate_row(row, winner["doc_id"], kind))

    kept: list[dict[str, Any]] = []
    canonical_by_hash: dict[str, str] = {}
    for row in sorted(latest.values(), key=lambda r: (r["doc_id"] not in hist_by_doc, *_order_key(r))):
        h, doc_id = row["content_hash"], row["doc_id"]
        if hist_by_doc.get(doc_id) == h:
            n_unchanged += 1
            continue
        owner = canonical_by_hash.get(h) or (hist_by_hash.get(h) if hist_by_hash.get(h) != doc_id else None)
        if owner:
            duplicates.append(_duplicate_row(row, owner, "exact"))
            continue
        canonical_by_hash[h] = doc_id
        kept.append({**row, "is_update": doc_id in hist_by_doc})

    at = np.array([r["_at"] for r in kept], dtype=np.int64)
    matches, near_stats = fold_near(
        kept,
        sk.band_keys[at],
        sk.n_shingles[at] > 0,
        index.bands,
        index.texts,
        cfg.sketcher,
        cfg.min_jaccard,
    )
    folded = {m.rank for m in matches}
    duplicates += [_duplicate_row(kept[m.rank], m.canonical, "near", m.similarity) for m in matches]
    kept = [r for i, r in enumerate(kept) if i not in folded]

    stats = {"unchanged": n_unchanged, "duplicates": len(duplicates), "updates": sum(1 for r in kept if r["is_update"])}
    for kind in ("exact", "near", "superseded"):
        stats[f"duplicates.{kind}"] = sum(1 for d in duplicates if d["kind"] == kind)
    stats.update(near_stats)
    return StageResult(
        STG_UNIQUE.conform(kept),
        quarantine_table([]),
        stats,
        outputs={"duplicates": DUPLICATES.conform(duplicates), **_index_rows(kept, sk)},
        n_in=pages.num_rows,
        n_dropped=n_unchanged + len(duplicates),
    )


def load_history(warehouse: Path, sk: Sketches) -> tuple[pa.Table, DedupeIndex]:
    """The part of the published history tonight's pages can match (filtered reads; see the module docstring)."""

    def files(table) -> list[str]:
        dt = open_delta(warehouse, table)
        return dt.file_uris() if dt is not None else []

    doc_files = files(DOCUMENTS)
    wanted = pa.table({"doc_id": pa.array(sk.doc_id, pa.string()), "content_hash": pa.array(sk.content_hash)})
    empty_docs = DOCUMENTS.empty().select(["doc_id", "content_hash"])
    history = documents_matching(doc_files, wanted, ["doc_id", "content_hash"], empty_docs)
    keys = pa.table({"band_key": pa.array(np.unique(sk.band_keys), pa.int64())})
    bands = matching_bands(files(DEDUPE_BANDS), keys, DEDUPE_BANDS.empty().select(["band_key", "doc_id"]))
    candidate_ids = pa.compute.unique(bands.column("doc_id"))
    ids = pa.table({"doc_id": candidate_ids, "content_hash": pa.nulls(len(candidate_ids), pa.string())})
    texts = documents_matching(doc_files, ids, ["doc_id", "text"], DOCUMENTS.empty().select(["doc_id", "text"]))
    by_id = dict(zip(texts.column("doc_id").to_pylist(), texts.column("text").to_pylist(), strict=True))
    return history, DedupeIndex(bands, by_id)


@task(name="dedupe", cache_policy=NO_CACHE)
def dedupe_pages_task(pages: pa.Table, warehouse, cfg: DedupeConfig) -> StageResult:
    sk = sketch_pages(pages, cfg)
    history, index = load_history(warehouse, sk)
    return dedupe_pages(pages, history, cfg, index, sk)
