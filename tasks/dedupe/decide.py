"""Dedupe's decisions over a night's rows (stage.py's docstring has the rules): one record per doc_id, the
`unchanged` test, the exact pass by content_hash in canonical order, the near fold, and the `duplicates` each
pass adds. Works on numpy identities and band keys (keys.py); strings are read only for the rows that become
duplicates or candidates, texts only for near candidates and re-delivered bodies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.duplicates import DUPLICATE_KINDS
from tasks._spill import Rows, column
from tasks.dedupe.config import DedupeConfig
from tasks.dedupe.history import DedupeIndex
from tasks.dedupe.keys import NightKeys, array_strings, join_exact, strings_of
from tasks.dedupe.minhash import string_hashes
from tasks.dedupe.near import fold_near
from tasks.dedupe.version import keys_hashes, version_hashes


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A record folded into document `of`: its row, `kind` (schemas.duplicates.DUPLICATE_KINDS), `similarity`."""

    row: int
    of: str
    kind: str
    similarity: float = 1.0


@dataclass(frozen=True, slots=True)
class Published:
    """The history matched to tonight's rows: `doc[i]` the history row with row i's doc_id, `owner[i]` the last
    history row with row i's content_hash (-1: none), `same_body[i]`: row i has its published document's body."""

    history: pa.Table
    doc: np.ndarray
    owner: np.ndarray
    same_body: np.ndarray

    @classmethod
    def of(cls, history: pa.Table, keys: NightKeys, rows: Rows) -> Published:
        ids, hashes = history.column("doc_id"), history.column("content_hash")
        night_hashes = strings_of(rows, "content_hash")
        doc = join_exact(
            keys.doc_hash, strings_of(rows, "doc_id"), string_hashes(ids.combine_chunks()), array_strings(ids)
        )
        hash_codes = string_hashes(hashes.combine_chunks())
        owner = join_exact(keys.body_hash, night_hashes, hash_codes, array_strings(hashes))
        same_body = np.zeros(len(doc), bool)
        has = np.flatnonzero(doc >= 0)
        has = has[keys.body_hash[has] == hash_codes[doc[has]]]
        if len(has):
            equal = pc.equal(night_hashes(has), array_strings(hashes)(doc[has]))
            same_body[has] = np.asarray(equal.fill_null(False), bool)
        return cls(history, doc, owner, same_body)


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


@dataclass(frozen=True, slots=True)
class Folded:
    """Rows folded into another document, in the order decided: the document is tonight's row `owner_row`, else
    the history's row `owner_hist` (-1: not that side); `exact[i]`: same body as the owner (else superseded)."""

    rows: np.ndarray
    owner_row: np.ndarray
    owner_hist: np.ndarray
    exact: np.ndarray


def latest_per_doc(keys: NightKeys) -> tuple[np.ndarray, Folded]:
    """One row per doc_id, the latest fetched copy (ties: smallest source_uri), in that order; the others are
    superseded, or exact copies of it."""
    order_keys = pa.table({"fetched": keys.fetched, "source_uri": keys.source_uri})
    by_latest = np.asarray(
        pc.sort_indices(order_keys, sort_keys=[("fetched", "descending"), ("source_uri", "ascending")]), np.int64
    )
    doc_in_order = keys.doc[by_latest]
    _, first = np.unique(doc_in_order, return_index=True)
    first.sort()
    winner_of_doc = np.full(len(keys), -1, np.int64)
    winner_of_doc[doc_in_order[first]] = by_latest[first]
    winner = winner_of_doc[doc_in_order]
    lost = winner != by_latest
    rows, owners = by_latest[lost], winner[lost]
    folded = Folded(rows, owners, np.full(len(rows), -1, np.int64), keys.body[rows] == keys.body[owners])
    return by_latest[first], folded


def canonical_order(keys: NightKeys, rows: np.ndarray, published: np.ndarray) -> np.ndarray:
    """`rows` in canonical order: records of published documents first, then by fetched_at, source_uri."""
    take = pa.array(rows, pa.int64())
    order_keys = pa.table(
        {"new": pa.array(~published), "fetched": keys.fetched[rows], "source_uri": keys.source_uri.take(take)}
    )
    sort_keys = [("new", "ascending"), ("fetched", "ascending"), ("source_uri", "ascending")]
    return rows[np.asarray(pc.sort_indices(order_keys, sort_keys=sort_keys), np.int64)]


def unchanged_rows(rows: np.ndarray, published: Published, full: Rows, chunk_rows: int) -> np.ndarray:
    """Which of `rows` have their doc_id's published body and published columns identical too, and line keys the
    document stores (none stored: any; version.py)."""
    same = rows[published.same_body[rows]]
    history = published.history
    out = np.zeros(len(rows), bool)
    if not len(same):
        return out
    if "version_hash" not in history.column_names:
        raise ValueError(
            "dedupe history lacks version_hash: pass load_history()'s table, or published_history(documents)"
        )
    stored = array_strings(history.column("version_hash"))(published.doc[same])
    ours = pa.array(version_hashes(full, same, chunk_rows), pa.string())
    equal = np.asarray(pc.equal(ours, stored).fill_null(False), bool)
    if "keys_hash" in history.column_names:
        stored_keys = array_strings(history.column("keys_hash"))(published.doc[same])
        our_keys = pa.array(keys_hashes(full, same, chunk_rows), pa.string())
        equal &= np.asarray(pc.or_kleene(pc.is_null(stored_keys), pc.equal(our_keys, stored_keys)).fill_null(False))
    out[np.flatnonzero(published.same_body[rows])[equal]] = True
    return out


def fold_exact(ordered: np.ndarray, keys: NightKeys, published: Published) -> tuple[np.ndarray, Folded]:
    """The rows still standing (canonical order) and the exact duplicates: a body already owned (by a published
    document of another doc_id, else by the first row of that body tonight) is an exact duplicate of its owner.
    A published document's own record always stands: given another page's body it is an update, never folded."""
    body = keys.body[ordered]
    owner_hist = published.owner[ordered]
    _, first = np.unique(body, return_index=True)
    is_first = np.zeros(len(ordered), bool)
    is_first[first] = True
    first_row = np.full(len(keys), -1, np.int64)
    first_row[body[first]] = ordered[first]
    has_owner = owner_hist >= 0
    # a published owner keeps only its own record; else the body's first record stays
    stays = np.where(has_owner, published.doc[ordered] == owner_hist, is_first) | (published.doc[ordered] >= 0)
    lost = ~stays
    owner_row = np.where(has_owner[lost], -1, first_row[body[lost]])
    folded = Folded(
        ordered[lost], owner_row, np.where(has_owner[lost], owner_hist[lost], -1), np.ones(int(lost.sum()), bool)
    )
    return ordered[stays], folded


def published_root(doc_id: str, redirect: dict[str, str]) -> str:
    """The document `doc_id` ends in: a record superseded by a copy that was itself folded (exact, then near or
    contained) names the published document, never an unpublished one."""
    seen = {doc_id}
    while doc_id in redirect and redirect[doc_id] not in seen:
        doc_id = redirect[doc_id]
        seen.add(doc_id)
    return doc_id


def folded_duplicates(
    superseded: Folded, exact: Folded, near: list[Duplicate], history: pa.Table, rows: Rows
) -> list[Duplicate]:
    """The duplicates in the order decided (superseded and exact copies, then near): doc_ids are read for the
    folded rows and their owners only; a copy of a folded record names the published one."""
    needed = np.unique(np.concatenate([superseded.owner_row, exact.rows, exact.owner_row, [-1]]))[1:]
    doc_of = dict(zip(needed.tolist(), strings_of(rows, "doc_id")(needed).to_pylist(), strict=True))
    hist_rows = np.unique(np.concatenate([superseded.owner_hist, exact.owner_hist, [-1]]))[1:]
    hist_ids = array_strings(history.column("doc_id"))(hist_rows).to_pylist() if len(hist_rows) else []
    doc_of.update({-2 - h: d for h, d in zip(hist_rows.tolist(), hist_ids, strict=True)})  # history rows: -2 - row

    def owners(folded: Folded) -> list[str]:
        return [doc_of[r] for r in np.where(folded.owner_row >= 0, folded.owner_row, -2 - folded.owner_hist).tolist()]

    exact_owners = owners(exact)
    redirect = dict(zip((doc_of[r] for r in exact.rows.tolist()), exact_owners, strict=True))
    redirect.update({own_id: d.of for d, own_id in near_docs(near, rows)})
    early = []
    for folded, of in ((superseded, owners(superseded)), (exact, exact_owners)):
        kinds = np.where(folded.exact, "exact", "superseded").tolist()
        early += [
            Duplicate(r, published_root(o, redirect), k)
            for r, o, k in zip(folded.rows.tolist(), of, kinds, strict=True)
        ]
    return early + near


def near_docs(near: list[Duplicate], rows: Rows) -> list[tuple[Duplicate, str]]:
    """Each near duplicate with its own doc_id."""
    at = np.array([d.row for d in near], np.int64)
    return list(zip(near, strings_of(rows, "doc_id")(at).to_pylist(), strict=True))


def decide(
    rows: Rows, keys: NightKeys, history: pa.Table, cfg: DedupeConfig, index: DedupeIndex, full: Rows, chunk_rows: int
) -> Decisions:
    """Every decision of the night over the sketch `rows` (their identities and band keys: `keys`); `full` holds
    the texts, read for near candidates and re-delivered bodies only (`chunk_rows` at a time)."""
    published = Published.of(history, keys, rows)
    latest, superseded = latest_per_doc(keys)
    ordered = canonical_order(keys, latest, published.doc[latest] >= 0)
    unchanged = unchanged_rows(ordered, published, full, chunk_rows)
    kept, exact = fold_exact(ordered[~unchanged], keys, published)
    is_update = published.doc[kept] >= 0
    doc_ids = strings_of(rows, "doc_id")
    args = (column(full, "text"), index.bands, index.texts, cfg.sketcher, cfg.residue_rules)
    matches, near_stats = fold_near(keys, kept, is_update, doc_ids, *args)
    near = [Duplicate(int(kept[m.rank]), m.canonical, m.kind, m.similarity) for m in matches]
    stay = ~np.isin(kept, np.array([d.row for d in near], np.int64))
    at = kept[stay]
    in_order = np.argsort(at, kind="stable")  # published in input order (chunks of a spill are read in order)
    duplicates = folded_duplicates(superseded, exact, near, history, rows)
    return Decisions(at[in_order], is_update[stay][in_order], duplicates, int(unchanged.sum()), near_stats)
