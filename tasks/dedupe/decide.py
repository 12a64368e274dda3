"""Dedupe's decisions over a night's rows (stage.py's docstring has the rules): one record per doc_id, the
`unchanged` test, the exact pass by content_hash in canonical order, the near fold, and the `duplicates` each
pass adds. Works on narrow columns and sketches; texts are read only for near candidates and re-delivered bodies.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.duplicates import DUPLICATE_KINDS
from tasks._spill import Rows, column
from tasks.dedupe.config import DedupeConfig
from tasks.dedupe.history import DedupeIndex
from tasks.dedupe.near import fold_near
from tasks.dedupe.sketches import Sketches
from tasks.dedupe.version import version_hashes


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A record folded into document `of`: its row, `kind` (schemas.duplicates.DUPLICATE_KINDS), `similarity`."""

    row: int
    of: str
    kind: str
    similarity: float = 1.0


@dataclass(frozen=True, slots=True)
class Published:
    """The history's identities: content_hash by doc_id, and a doc_id by content_hash."""

    hash_of: dict[str, str]
    doc_of: dict[str, str]

    @classmethod
    def of(cls, history: pa.Table) -> Published:
        ids, hashes = history.column("doc_id").to_pylist(), history.column("content_hash").to_pylist()
        hash_of = dict(zip(ids, hashes, strict=False))
        return cls(hash_of, {h: d for d, h in hash_of.items()})


@dataclass(slots=True)
class Decisions:
    """What dedupe decided for a night: rows to publish (`kept`, ascending) with `is_update`, the duplicates (in
    the order they were decided), unchanged records and the near fold's counters."""

    kept: np.ndarray
    is_update: np.ndarray
    duplicates: list[Duplicate]
    n_unchanged: int = 0
    near_stats: dict[str, int] = field(default_factory=dict)

    def stats(self) -> dict[str, int]:
        stats = {"unchanged": self.n_unchanged, "duplicates": len(self.duplicates)}
        stats["updates"] = int(self.is_update.sum())
        kinds = [d.kind for d in self.duplicates]
        stats.update({f"duplicates.{kind}": kinds.count(kind) for kind in DUPLICATE_KINDS})
        return {**stats, **self.near_stats}


def order_table(pages: pa.Table, **extra: pa.Array) -> pa.Table:
    """The sort keys of the canonical order: fetched_at (null first) then source_uri, after any `extra`."""
    fetched = pc.fill_null(pages.column("fetched_at").cast(pa.int64()), 0)
    return pa.table({**extra, "fetched": fetched, "source_uri": pages.column("source_uri")})


def latest_per_doc(pages: pa.Table, sk: Sketches) -> tuple[np.ndarray, list[Duplicate]]:
    """One row per doc_id, the latest fetched copy (ties: smallest source_uri); the others are superseded, or
    exact copies of it. Only rows, never their texts, pass through Python."""
    by_latest = pc.sort_indices(
        order_table(pages), sort_keys=[("fetched", "descending"), ("source_uri", "ascending")]
    ).to_numpy()
    ids, hashes = sk.doc_id, sk.content_hash
    winner: dict[str, int] = {}
    duplicates = []
    for i in by_latest.tolist():
        w = winner.setdefault(ids[i], i)
        if w != i:
            duplicates.append(Duplicate(i, ids[w], "exact" if hashes[w] == hashes[i] else "superseded"))
    return np.fromiter(winner.values(), np.int64, len(winner)), duplicates


def canonical_order(pages: pa.Table, rows: np.ndarray, published: np.ndarray) -> np.ndarray:
    """`rows` in canonical order: records of published documents first, then by fetched_at, source_uri."""
    keys = order_table(pages.select(["fetched_at", "source_uri"]).take(pa.array(rows)), new=pa.array(~published))
    sort_keys = [("new", "ascending"), ("fetched", "ascending"), ("source_uri", "ascending")]
    order = pc.sort_indices(keys, sort_keys=sort_keys)
    return rows[order.to_numpy()]


def version_by_doc(history: pa.Table, needed: bool) -> dict[str, str | None]:
    """{doc_id: version_hash} of the history; `needed`: some page re-delivers a published body."""
    if "version_hash" not in history.column_names:
        if needed:
            raise ValueError(
                "dedupe history lacks version_hash: pass load_history()'s table, or published_history(documents)"
            )
        return {}
    return dict(zip(history.column("doc_id").to_pylist(), history.column("version_hash").to_pylist(), strict=True))


def unchanged_rows(rows: np.ndarray, sk: Sketches, history: pa.Table, published: Published, full: Rows) -> set[int]:
    """Rows with their doc_id's published body whose published columns are identical too (version.py)."""
    ids, hashes = sk.doc_id, sk.content_hash
    same_body = [i for i in rows.tolist() if published.hash_of.get(ids[i]) == hashes[i]]
    version = version_by_doc(history, bool(same_body))
    pairs = zip(same_body, version_hashes(full, same_body), strict=True)
    return {i for i, v in pairs if version[ids[i]] == v}


@dataclass(slots=True)
class ExactPass:
    """The exact pass's result: rows still standing (canonical order), duplicates, and which doc_id went where."""

    kept: list[int] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    redirect: dict[str, str] = field(default_factory=dict)  # doc_id of a folded winner → where it went
    n_unchanged: int = 0


def fold_exact(ordered: np.ndarray, sk: Sketches, unchanged: set[int], published: Published) -> ExactPass:
    """Walk the rows in canonical order: unchanged ones leave, a body already owned (tonight or published under
    another doc_id) is an exact duplicate of its owner, the rest stay."""
    result = ExactPass()
    canonical_by_hash: dict[str, str] = {}
    for i in ordered.tolist():
        h, doc_id = sk.content_hash[i], sk.doc_id[i]
        if i in unchanged:
            result.n_unchanged += 1
            continue
        published_owner = published.doc_of.get(h)
        owner = canonical_by_hash.get(h) or (published_owner if published_owner != doc_id else None)
        if owner:
            result.duplicates.append(Duplicate(i, owner, "exact"))
            result.redirect[doc_id] = owner
            continue
        canonical_by_hash[h] = doc_id
        result.kept.append(i)
    return result


def menu_keys_of(sk: Sketches, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions in `at`, menu-free band keys) of the rows `at` that have menu-free keys."""
    menu = sk.menu_of[at]
    has = np.flatnonzero(menu >= 0)
    return has, sk.menu_keys[menu[has]]


def fold_near_rows(
    kept: list[int], sk: Sketches, published: Published, full: Rows, index: DedupeIndex, cfg: DedupeConfig
) -> tuple[list[Duplicate], np.ndarray, dict[str, int]]:
    """The near fold (near.py) over the rows the exact pass kept (canonical order): their near and contained
    duplicates, each row's is_update, and the fold's counters."""
    at = np.array(kept, dtype=np.int64)
    kept_ids = [sk.doc_id[i] for i in kept]
    is_update = np.fromiter((d in published.hash_of for d in kept_ids), bool, len(kept_ids))
    eligible = sk.n_shingles[at] > 0
    menu = menu_keys_of(sk, at)
    args = (column(full, "text"), at, is_update, sk.band_keys[at], eligible, menu, index.bands, index.texts)
    matches, near_stats = fold_near(kept_ids, *args, cfg.sketcher, cfg.residue_rules)
    duplicates = [Duplicate(kept[m.rank], m.canonical, m.kind, m.similarity) for m in matches]
    return duplicates, is_update, near_stats


def published_root(doc_id: str, redirect: dict[str, str]) -> str:
    """The document `doc_id` ends in: a record superseded by a copy that was itself folded (exact, then near or
    contained) names the published document, never an unpublished one."""
    seen = {doc_id}
    while doc_id in redirect and redirect[doc_id] not in seen:
        doc_id = redirect[doc_id]
        seen.add(doc_id)
    return doc_id


def decide(
    pages: pa.Table, history: pa.Table, cfg: DedupeConfig, index: DedupeIndex, sk: Sketches, full: Rows
) -> Decisions:
    """Every decision of the night over `pages` (the narrow columns: source_uri, url, fetched_at, run_id) and
    their sketches; `full` holds the texts, read for near candidates and re-delivered bodies only."""
    published = Published.of(history)
    latest, superseded = latest_per_doc(pages, sk)
    is_published = np.fromiter((sk.doc_id[i] in published.hash_of for i in latest), bool, len(latest))
    ordered = canonical_order(pages, latest, is_published)
    exact = fold_exact(ordered, sk, unchanged_rows(latest, sk, history, published, full), published)
    near, is_update, near_stats = fold_near_rows(exact.kept, sk, published, full, index, cfg)
    redirect = {**exact.redirect, **{sk.doc_id[d.row]: d.of for d in near}}
    # copies of a folded record name the published one
    early = [replace(d, of=published_root(d.of, redirect)) for d in superseded + exact.duplicates]
    at = np.array(exact.kept, dtype=np.int64)
    stay = ~np.isin(at, np.array([d.row for d in near], np.int64))
    at = at[stay]
    in_order = np.argsort(at, kind="stable")  # published in input order (chunks of a spill are read in order)
    return Decisions(at[in_order], is_update[stay][in_order], early + near, exact.n_unchanged, near_stats)
