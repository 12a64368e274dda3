"""Fold duplicate pages into one document, against everything published before.

In: stg_clean. Out: stg_unique (one row per document to publish: new or updated); in `outputs`: `duplicates`
rows, and `dedupe_signatures` / `dedupe_bands` rows of every document kept (the index publish adds to the
warehouse). Dropped (counted, not quarantined): records identical to their already-published document
(`unchanged`) and duplicates. State (read, and returned as new rows): `documents` (doc_id, content_hash) of the
published history, its near-duplicate index (`dedupe_bands`, `dedupe_signatures`), and the text of the history
documents tonight's pages are candidates of.

Identity (identity.py): `doc_id` is the hash of the canonical URL (lower-case host without www., no fragment or trailing
slash); else, for a one-page file (.txt, .html), of its path under raw/; else of the normalised body. The same
URL (or file) with new text is an update of that document, not a duplicate — also when its text is merely
similar to its published version. A page is `unchanged` only when its doc_id is published with the same
content_hash and the same version hash (version.py: raw_text, text and contact_text, exact), so an edit that
leaves the normalised body alone (after the contact block, case, spacing) is still an update; the version hash
is computed only for pages that reach that test, and the published one by DuckDB from the published columns.

Exact duplicates share `content_hash` = SHA-256 of the normalised body (NFKC, case-folded, whitespace collapsed).
Near duplicates (minhash.py, near.py): MinHash over word n-grams of the clean text (`shingle_words`,
`num_perm`), LSH with `bands` bands of num_perm/bands rows; pages sharing a band key with each other or with a
published document are candidates, and a candidate pair counts only when verified exactly on the two texts
(residue.py; so precision does not depend on the estimate's noise): `near` when the Jaccard of their shingle sets
is ≥ `min_jaccard` — computed without their identical leading lines when those are a menu, so pages sharing only
a menu (language versions) never merge; `contained` when the smaller page's set is ≥ `min_containment` inside
the larger and the larger is the smaller plus a leading navigation run (another site's menu strip_boilerplate
could not learn): Jaccard without that run ≥ `min_jaccard`. Verified pairs are joined transitively (union-find).
`similarity` of a near or contained duplicate is its best verified Jaccard in the cluster, `kind` that link's.
Candidates of a contained pair come from the same LSH, with a second source of band keys (menu_run.py): a page
whose leading menu-shaped run (found on the text alone) holds ≥ `min_menu_shingle_share` of its shingles also has
the band keys of its text from the end of that run, searched and stored (`dedupe_bands`) like its own; a copy under
a menu larger than its body (plain Jaccard ~0.6, often no shared band) then collides with its original. Measured
in bench/eval_dedupe.py --set syndicated (JSONL recall 0.975 -> 1.000, no merge below 0.7).

Canonical record of a group (documented rule, exact and near alike): the document already published (first
seen; between two published ones, the smaller doc_id), else the earliest `fetched_at`, else the smallest
`source_uri` — so the result does not depend on input order or on how pages are split across runs. Published
documents are never folded into another.

Scale (the task wrapper; history.py): the history is never loaded whole. DuckDB streams the band table's
(band_key, doc_id) columns from the current Delta version's Parquet files and keeps only rows whose key is one of
tonight's (20 keys a page: ~200k for 10k pages), then reads `documents` filtered to tonight's doc_ids and content
hashes and to the candidates' texts, and has DuckDB hash the published columns of the documents tonight
re-delivers with their published body (version.py; 100k published pages of 10 KB: 0.4 s for 10 of them, 3 s for
50k). Memory therefore follows tonight's batch; the history costs one columnar
scan of `dedupe_bands` per run (10M documents: 200M int64 keys, plus up to 20 menu-free keys a page that has a
large unstripped menu). Signatures are kept so the banding can change
without re-reading texts. `history_from_files` is the same read over explicit file lists (the bench's history).
Tonight's pages may be a spill (the task): they are sketched a chunk at a time, the decisions are taken on
their narrow columns (NARROW_COLUMNS) and sketches (~0.8 KB a page), texts are read back only for candidate
pairs, and the kept rows are copied to the output spill chunk by chunk.

Speed (bench/bench_dedupe.py): no Python per page beyond two hashlib calls and dict lookups on short strings.
content_hash uses str.split() (same whitespace set as re, ~10x re.sub); doc_ids canonicalises plain http(s) URLs
with Arrow kernels (others: canonical_url row by row); MinHash is rensa over the numpy shingle buffer; rows pass
through Python as indices, texts only for the LSH candidates that need exact Jaccard and for the pages
re-delivered with their published body (hashed, a chunk at a time, for the `unchanged` test).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas import STG_UNIQUE
from schemas.duplicates import DUPLICATE_KINDS
from tasks._spill import Rows, column, read_columns, write_spill
from tasks._stage import StageResult, quarantine_table, with_columns
from tasks.dedupe.config import DedupeConfig
from tasks.dedupe.history import DedupeIndex, load_history
from tasks.dedupe.near import fold_near
from tasks.dedupe.outputs import duplicates_table, index_rows, spill_index_rows, take_in_order
from tasks.dedupe.sketches import Sketches, sketch_chunks, sketch_pages
from tasks.dedupe.version import version_hashes

STAGE = "dedupe"
NARROW_COLUMNS = ("source_uri", "url", "fetched_at", "run_id")  # what dedupe needs of every row besides its text


def _version_by_doc(history: pa.Table, needed: bool) -> dict[str, str | None]:
    """{doc_id: version_hash} of the history; `needed`: some page re-delivers a published body."""
    if "version_hash" not in history.column_names:
        if needed:
            raise ValueError(
                "dedupe history lacks version_hash: pass load_history()'s table, or published_history(documents)"
            )
        return {}
    return dict(zip(history.column("doc_id").to_pylist(), history.column("version_hash").to_pylist(), strict=True))


def _order_table(pages: pa.Table, **extra: pa.Array) -> pa.Table:
    fetched = pc.fill_null(pages.column("fetched_at").cast(pa.int64()), 0)
    return pa.table({**extra, "fetched": fetched, "source_uri": pages.column("source_uri")})


def dedupe_pages(
    pages: pa.Table,
    history: pa.Table,
    cfg: DedupeConfig,
    index: DedupeIndex | None = None,
    sketches: Sketches | None = None,
    full: Rows | None = None,
    out: Path | None = None,
) -> StageResult:
    """Split pages into documents to publish, unchanged records and duplicates (exact or near) of documents.

    Args:
        history: documents(doc_id, content_hash, version_hash) of the published history (all, or those sharing
            tonight's ids or hashes); version_hash is read only for documents re-delivered with the same
            content_hash (and may be null elsewhere: `load_history`, `published_history`).
        index: near-duplicate history (none: compare tonight's pages with each other only).
        sketches: `sketch_pages(pages, cfg)` when the caller already computed it.
        full: the complete rows when `pages` holds only the narrow columns (source_uri, url, fetched_at,
            run_id): texts are then read only for near-duplicate candidates, and kept rows are copied from
            `full` chunk by chunk.
        out: folder for the spills of the kept rows and index rows (default: in memory).
    """
    sk = sketches or sketch_pages(pages, cfg)
    full = pages if full is None else full
    index = index or DedupeIndex()
    hist_by_doc = dict(
        zip(history.column("doc_id").to_pylist(), history.column("content_hash").to_pylist(), strict=False)
    )
    hist_by_hash = {h: d for d, h in hist_by_doc.items()}
    ids, hashes = sk.doc_id, sk.content_hash
    dup_at: list[int] = []
    dup_of: list[str] = []
    dup_kind: list[str] = []
    dup_sim: list[float] = []

    # One record per doc_id: the latest fetched copy of a URL wins (ties: smallest source_uri); the others are
    # superseded, or exact copies. Only rows, never their texts, pass through Python.
    by_latest = pc.sort_indices(
        _order_table(pages), sort_keys=[("fetched", "descending"), ("source_uri", "ascending")]
    ).to_numpy()
    winner: dict[str, int] = {}
    for i in by_latest.tolist():
        w = winner.setdefault(ids[i], i)
        if w != i:
            dup_at.append(i)
            dup_of.append(ids[w])
            dup_kind.append("exact" if hashes[w] == hashes[i] else "superseded")
            dup_sim.append(1.0)

    latest = np.fromiter(winner.values(), np.int64, len(winner))
    in_hist = np.fromiter((ids[i] in hist_by_doc for i in latest), bool, len(latest))
    order = pc.sort_indices(
        _order_table(pages.select(["fetched_at", "source_uri"]).take(pa.array(latest)), new=pa.array(~in_hist)),
        sort_keys=[("new", "ascending"), ("fetched", "ascending"), ("source_uri", "ascending")],
    ).to_numpy()
    # Same doc_id and body as published: unchanged only if what the page publishes is identical too.
    same_body = [i for i in latest.tolist() if hist_by_doc.get(ids[i]) == hashes[i]]
    published_version = _version_by_doc(history, bool(same_body))
    unchanged = {
        i for i, v in zip(same_body, version_hashes(full, same_body), strict=True) if published_version[ids[i]] == v
    }
    n_unchanged = 0
    redirect: dict[str, str] = {}  # doc_id of a winner folded later → the document it was folded into
    kept: list[int] = []
    canonical_by_hash: dict[str, str] = {}
    for i in latest[order].tolist():
        h, doc_id = hashes[i], ids[i]
        if i in unchanged:
            n_unchanged += 1
            continue
        owner = canonical_by_hash.get(h) or (hist_by_hash.get(h) if hist_by_hash.get(h) != doc_id else None)
        if owner:
            dup_at.append(i)
            dup_of.append(owner)
            dup_kind.append("exact")
            dup_sim.append(1.0)
            redirect[doc_id] = owner
            continue
        canonical_by_hash[h] = doc_id
        kept.append(i)

    at = np.array(kept, dtype=np.int64)
    kept_ids = [ids[i] for i in kept]
    is_update = np.fromiter((d in hist_by_doc for d in kept_ids), bool, len(kept_ids))
    matches, near_stats = fold_near(
        kept_ids,
        column(full, "text"),
        at,
        is_update,
        sk.band_keys[at],
        sk.n_shingles[at] > 0,
        menu_keys_of(sk, at),
        index.bands,
        index.texts,
        cfg.sketcher,
        cfg.residue_rules,
    )
    redirect.update({kept_ids[m.rank]: m.canonical for m in matches})
    dup_of = [_published_root(d, redirect) for d in dup_of]  # copies of a folded record name the published one
    for m in matches:
        dup_at.append(kept[m.rank])
        dup_of.append(m.canonical)
        dup_kind.append(m.kind)
        dup_sim.append(m.similarity)
    stay = np.ones(len(kept), bool)
    stay[[m.rank for m in matches]] = False
    at, is_update = at[stay], is_update[stay]
    in_order = np.argsort(at, kind="stable")  # published in input order (chunks of a spill are read in order)
    at, is_update = at[in_order], is_update[in_order]
    take = pa.array(at, pa.int64())
    doc_id = pa.array([ids[i] for i in at], pa.string())
    extra = {
        "doc_id": doc_id,
        "content_hash": pa.array([hashes[i] for i in at], pa.string()),
        "is_update": pa.array(is_update, pa.bool_()),
    }
    duplicates = duplicates_table(pages, sk, np.array(dup_at, np.int64), dup_of, dup_kind, dup_sim)
    run_ids = pages.column("run_id").take(take)
    if out is None:
        unique: Rows = STG_UNIQUE.conform(with_columns(full.take(take), extra))
        index_tables: dict[str, Rows] = index_rows(at, doc_id, run_ids, sk)
    else:
        unique = write_spill(Path(out) / "kept.parquet", STG_UNIQUE, take_in_order(full, at, extra))
        index_tables = spill_index_rows(at, doc_id, run_ids, sk, Path(out) / "outputs")

    stats = {"unchanged": n_unchanged, "duplicates": len(dup_at), "updates": int(is_update.sum())}
    for kind in DUPLICATE_KINDS:
        stats[f"duplicates.{kind}"] = dup_kind.count(kind)
    stats.update(near_stats)
    return StageResult(
        unique,
        quarantine_table([]),
        stats,
        outputs={"duplicates": duplicates, **index_tables},
        n_in=pages.num_rows,
        n_dropped=n_unchanged + len(dup_at),
    )


def menu_keys_of(sk: Sketches, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions in `at`, menu-free band keys) of the rows `at` that have menu-free keys."""
    menu = sk.menu_of[at]
    has = np.flatnonzero(menu >= 0)
    return has, sk.menu_keys[menu[has]]


def _published_root(doc_id: str, redirect: dict[str, str]) -> str:
    """The document `doc_id` ends in: a record superseded by a copy that was itself folded (exact, then near or
    contained) names the published document, never an unpublished one."""
    seen = {doc_id}
    while doc_id in redirect and redirect[doc_id] not in seen:
        doc_id = redirect[doc_id]
        seen.add(doc_id)
    return doc_id


@task(name="dedupe", cache_policy=NO_CACHE)
def dedupe_pages_task(pages: Rows, warehouse, cfg: DedupeConfig, out: Path | None = None) -> StageResult:
    """Sketch the night's pages chunk by chunk; decide on their narrow columns; copy the kept rows to the spill.
    Memory follows the number of pages (~0.8 KB each: ids, hashes, sketch), not their text."""
    sk = sketch_chunks(pages, cfg)
    history, index = load_history(warehouse, sk)
    narrow = read_columns(pages, NARROW_COLUMNS)
    return dedupe_pages(narrow, history, cfg, index, sk, full=pages, out=out)
