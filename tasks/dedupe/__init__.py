"""Fold duplicate pages into one document, against everything published before.

In: stg_clean. Out: stg_unique (one row per document to publish: new or updated), `duplicates` rows in
`outputs`. Dropped (counted, not quarantined): records identical to their already-published document
(`unchanged`) and duplicates. State: `documents` (doc_id, content_hash) of all published history (read).

Identity: `doc_id` is the hash of the canonical URL (lower-case host without www., no fragment or trailing
slash), else of the normalised body. The same URL with new text is an update of that document, not a
duplicate. Exact duplicates share `content_hash` = SHA-256 of the normalised body (NFKC, case-folded,
whitespace collapsed). Canonical record of a group (documented rule): the document already published, else
the earliest `fetched_at`, else the smallest `source_uri` — so the result does not depend on input order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas import DOCUMENTS, DUPLICATES, STG_UNIQUE
from tasks._stage import StageResult, normalise_text, quarantine_table, sha256_hex
from tasks._warehouse import read_current

STAGE = "dedupe"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DedupeConfig:
    id_hex_chars: int = 32  # doc_id length (128 bits)


def canonical_url(url: str) -> str:
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    host = host[4:] if host.startswith("www.") else host
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower() or "http", host, path, parts.query, ""))


def content_hash(text: str) -> str:
    return sha256_hex(normalise_text(text))


def doc_id_for(url: str | None, body_hash: str, cfg: DedupeConfig) -> str:
    key = "url:" + canonical_url(url) if url else "body:" + body_hash
    return sha256_hex(key)[: cfg.id_hex_chars]


def _order_key(row: dict[str, Any]) -> tuple[datetime, str]:
    return (row["fetched_at"] or _EPOCH, row["source_uri"])


def _duplicate_row(row: dict[str, Any], of: str, kind: str) -> dict[str, Any]:
    return {
        "source_uri": row["source_uri"],
        "doc_id": row["doc_id"],
        "duplicate_of": of,
        "kind": kind,
        "similarity": 1.0,
        "url": row["url"],
        "content_hash": row["content_hash"],
        "run_id": row["run_id"],
    }


def dedupe_pages(pages: pa.Table, history: pa.Table, cfg: DedupeConfig) -> StageResult:
    """Split pages into documents to publish, unchanged records and duplicates of published documents."""
    hist_by_doc = dict(
        zip(history.column("doc_id").to_pylist(), history.column("content_hash").to_pylist(), strict=False)
    )
    hist_by_hash = {h: d for d, h in hist_by_doc.items()}
    rows = []
    for row in pages.to_pylist():
        row["content_hash"] = content_hash(row["text"])
        row["doc_id"] = doc_id_for(row["url"], row["content_hash"], cfg)
        rows.append(row)

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

    stats = {"unchanged": n_unchanged, "duplicates": len(duplicates), "updates": sum(1 for r in kept if r["is_update"])}
    for kind in ("exact", "near", "superseded"):
        stats[f"duplicates.{kind}"] = sum(1 for d in duplicates if d["kind"] == kind)
    return StageResult(
        STG_UNIQUE.conform(kept),
        quarantine_table([]),
        stats,
        outputs={"duplicates": DUPLICATES.conform(duplicates)},
        n_in=pages.num_rows,
        n_dropped=n_unchanged + len(duplicates),
    )


@task(name="dedupe", cache_policy=NO_CACHE)
def dedupe_pages_task(pages: pa.Table, warehouse, cfg: DedupeConfig) -> StageResult:
    return dedupe_pages(pages, read_current(warehouse, DOCUMENTS, ["doc_id", "content_hash"]), cfg)
