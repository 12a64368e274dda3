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
Candidates of a contained pair come from the same LSH: a residue run of up to ~0.6 of the body still shares a band
(Jaccard ≥ 0.6: P = 0.80; measured recall in bench/eval_dedupe.py --set syndicated).

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
scan of `dedupe_bands` per run (10M documents: 200M int64 keys). Signatures are kept so the banding can change
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

import hashlib
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas import DEDUPE_BANDS, DEDUPE_SIGNATURES, DOCUMENTS, DUPLICATES, STG_UNIQUE
from schemas.duplicates import DUPLICATE_KINDS
from tasks import _spill
from tasks._spill import Rows, Spill, SpillWriter, chunks, column, read_columns, write_spill
from tasks._stage import StageResult, quarantine_table, sha256_hex, with_columns
from tasks._warehouse import open_delta
from tasks.dedupe.history import documents_matching, matching_bands, published_versions
from tasks.dedupe.minhash import Sketcher
from tasks.dedupe.near import fold_near
from tasks.dedupe.residue import ResidueRules
from tasks.dedupe.version import version_hashes

STAGE = "dedupe"
# Plain http(s) URLs of printable ASCII without user info or IPv6 host: canonicalised by Arrow kernels; any
# other URL goes through canonical_url (urllib). test_dedupe.py checks both paths agree.
_SIMPLE_URL = (
    r"^(?P<scheme>[Hh][Tt][Tt][Pp][Ss]?)://(?P<host>[A-Za-z0-9_.-]+)(?::[0-9]*)?"
    r"(?P<path>/[!-\"$->@-~]*)?(?:\?(?P<query>[!-\"$-~]*))?(?:#[!-~]*)?$"
)


@dataclass(frozen=True, slots=True)
class DedupeConfig:
    id_hex_chars: int = 32  # doc_id length (128 bits)
    min_jaccard: float = 0.8  # near duplicate: exact Jaccard of word n-gram sets at least this
    shingle_words: int = 3  # words per shingle
    num_perm: int = 100  # MinHash permutations
    # 20 bands x 5 rows: P(candidate) = 0.9996 at Jaccard 0.8, 0.9955 at 0.75, 0.47 at 0.5 (bench/bench_dedupe.py)
    bands: int = 20
    seed: int = 1  # permutations; changing it invalidates the stored index
    threads: int = 2  # sketching threads (numpy, Arrow and rensa release the GIL)
    engine: str = "rensa"  # MinHash engine (minhash.py); changing it invalidates the stored index
    # contained (residue.py): the smaller page's shingles in the larger at least this share, then Jaccard without
    # the larger's leading navigation run ≥ min_jaccard (bench/eval_dedupe.py --set syndicated)
    min_containment: float = 0.9
    max_nav_line_words: int = 4  # a menu line: at most this many words (corpus labels: 81 % of template lines)
    min_line_coverage: float = 0.5  # a line is found in the other page when this share of its shingles is

    def __post_init__(self) -> None:
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands})")
        if self.engine not in ("rensa", "numpy"):
            raise ValueError(f"engine must be 'rensa' or 'numpy', not {self.engine!r}")

    @property
    def residue_rules(self) -> ResidueRules:
        return ResidueRules(self.min_jaccard, self.min_containment, self.max_nav_line_words, self.min_line_coverage)

    @property
    def sketcher(self) -> Sketcher:
        return Sketcher(self.shingle_words, self.num_perm, self.bands, self.seed, self.threads, self.engine)


@dataclass(frozen=True, slots=True)
class Sketches:
    """Per page of a batch: content_hash, doc_id, MinHash signature, shingle count and band keys."""

    content_hash: list[str]
    doc_id: list[str]
    signatures: np.ndarray
    n_shingles: np.ndarray
    band_keys: np.ndarray

    @classmethod
    def concat(cls, parts: list[Sketches], cfg: DedupeConfig) -> Sketches:
        if not parts:
            return cls(
                [],
                [],
                np.zeros((0, cfg.num_perm), np.uint32),
                np.zeros(0, np.int64),
                np.zeros((0, cfg.bands), np.int64),
            )
        return cls(
            [h for p in parts for h in p.content_hash],
            [d for p in parts for d in p.doc_id],
            np.concatenate([p.signatures for p in parts]),
            np.concatenate([p.n_shingles for p in parts]),
            np.concatenate([p.band_keys for p in parts]),
        )


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
    """SHA-256 of the normalised body: NFKC, case-folded, whitespace collapsed (as `_stage.normalise_text`;
    str.split() splits on exactly the characters `re`'s \\s matches, and is ~10x faster than re.sub)."""
    return hashlib.sha256(" ".join(unicodedata.normalize("NFKC", text).casefold().split()).encode()).hexdigest()


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


def doc_ids(urls: pa.Array, hashes: list[str], uris: pa.Array, cfg: DedupeConfig) -> list[str]:
    """`doc_id_for` of every row: simple URLs canonicalised with Arrow kernels, the rest row by row."""
    m = pc.extract_regex(pc.fill_null(urls, ""), _SIMPLE_URL)
    host = pc.replace_substring_regex(pc.utf8_lower(m.field("host")), "^www\\.", "")
    path = pc.utf8_rtrim(m.field("path"), "/")
    path = pc.if_else(pc.equal(path, ""), "/", path)
    query = m.field("query")
    query = pc.if_else(pc.equal(query, ""), "", pc.binary_join_element_wise("?", query, ""))
    keys = pc.binary_join_element_wise("url:", pc.utf8_lower(m.field("scheme")), "://", host, path, query, "")
    fast = pc.and_(m.is_valid(), pc.not_equal(host, "")).to_numpy(zero_copy_only=False)
    keys = keys.to_pylist()
    url_list = urls.to_pylist()
    out = []
    for i, key in enumerate(keys):
        if fast[i]:
            out.append(hashlib.sha256(key.encode()).hexdigest()[: cfg.id_hex_chars])
        else:
            out.append(doc_id_for(url_list[i], hashes[i], cfg, uris[i].as_py()))
    return out


def sketch_pages(pages: pa.Table, cfg: DedupeConfig) -> Sketches:
    """Identity and MinHash sketch of every page (row order kept)."""
    texts = pages.column("text").combine_chunks()
    urls, uris = pages.column("url").combine_chunks(), pages.column("source_uri").combine_chunks()

    def identity() -> tuple[list[str], list[str]]:
        # a slice at a time: the batch's texts never all exist as Python strings
        hashes = [content_hash(t) for a in range(0, len(texts), 5000) for t in texts.slice(a, 5000).to_pylist()]
        return hashes, doc_ids(urls, hashes, uris, cfg)

    sketcher = cfg.sketcher
    # hashing holds the GIL, sketching mostly does not: run them side by side
    with ThreadPoolExecutor(1) as pool:
        ident = pool.submit(identity)
        sig, n_shingles = sketcher.signatures(texts)
        hashes, ids = ident.result()
    return Sketches(hashes, ids, sig, n_shingles, sketcher.band_keys(sig))


def published_history(docs: pa.Table) -> pa.Table:
    """The `history` dedupe_pages takes, (doc_id, content_hash, version_hash), of documents held in memory."""
    versions = version_hashes(docs, range(docs.num_rows))
    return pa.table(
        {
            "doc_id": docs.column("doc_id"),
            "content_hash": docs.column("content_hash"),
            "version_hash": pa.array(versions, pa.string()),
        }
    )


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


def _duplicates(pages: pa.Table, sk: Sketches, at: np.ndarray, of: list[str], kind: list[str], sim: list) -> pa.Table:
    take = pa.array(at, pa.int64())
    return DUPLICATES.conform(
        pa.table(
            {
                "source_uri": pages.column("source_uri").take(take),
                "doc_id": pa.array([sk.doc_id[i] for i in at], pa.string()),
                "duplicate_of": pa.array(of, pa.string()),
                "kind": pa.array(kind, pa.string()),
                "similarity": pa.array(sim, pa.float64()),
                "url": pages.column("url").take(take),
                "content_hash": pa.array([sk.content_hash[i] for i in at], pa.string()),
                "run_id": pages.column("run_id").take(take),
            }
        )
    )


def _index_rows(at: np.ndarray, doc_id: pa.Array, run_id: pa.Array, sk: Sketches) -> dict[str, pa.Table]:
    """dedupe_signatures and dedupe_bands rows of the kept documents (pages without shingles get no band rows)."""
    sig = np.ascontiguousarray(sk.signatures[at].astype("<u4"))
    width = sig.shape[1] * 4
    signature = pa.Array.from_buffers(
        pa.binary(), len(at), [None, pa.py_buffer(np.arange(len(at) + 1, dtype=np.int32) * width), pa.py_buffer(sig)]
    )
    signatures = pa.table(
        {
            "doc_id": doc_id,
            "content_hash": pa.array([sk.content_hash[i] for i in at], pa.string()),
            "signature": signature,
            "n_shingles": pa.array(sk.n_shingles[at], pa.int32()),
            "run_id": run_id,
        }
    )
    with_bands = np.flatnonzero(sk.n_shingles[at] > 0)
    n_bands = sk.band_keys.shape[1]
    take = pa.array(np.repeat(with_bands, n_bands))
    bands = pa.table(
        {"band_key": sk.band_keys[at[with_bands]].ravel(), "doc_id": doc_id.take(take), "run_id": run_id.take(take)}
    )
    return {"dedupe_signatures": DEDUPE_SIGNATURES.conform(signatures), "dedupe_bands": DEDUPE_BANDS.conform(bands)}


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
    duplicates = _duplicates(pages, sk, np.array(dup_at, np.int64), dup_of, dup_kind, dup_sim)
    run_ids = pages.column("run_id").take(take)
    if out is None:
        unique: Rows = STG_UNIQUE.conform(with_columns(full.take(take), extra))
        index_rows: dict[str, Rows] = _index_rows(at, doc_id, run_ids, sk)
    else:
        unique = write_spill(Path(out) / "kept.parquet", STG_UNIQUE, _take_in_order(full, at, extra))
        index_rows = _spill_index_rows(at, doc_id, run_ids, sk, Path(out) / "outputs")

    stats = {"unchanged": n_unchanged, "duplicates": len(dup_at), "updates": int(is_update.sum())}
    for kind in DUPLICATE_KINDS:
        stats[f"duplicates.{kind}"] = dup_kind.count(kind)
    stats.update(near_stats)
    return StageResult(
        unique,
        quarantine_table([]),
        stats,
        outputs={"duplicates": duplicates, **index_rows},
        n_in=pages.num_rows,
        n_dropped=n_unchanged + len(dup_at),
    )


def _published_root(doc_id: str, redirect: dict[str, str]) -> str:
    """The document `doc_id` ends in: a record superseded by a copy that was itself folded (exact, then near or
    contained) names the published document, never an unpublished one."""
    seen = {doc_id}
    while doc_id in redirect and redirect[doc_id] not in seen:
        doc_id = redirect[doc_id]
        seen.add(doc_id)
    return doc_id


def _take_in_order(full: Rows, at: np.ndarray, extra: dict[str, pa.Array]) -> Iterator[pa.Table]:
    """Rows `at` (ascending) of `full` with the `extra` columns, one chunk of `full` at a time."""
    start = 0
    for part in chunks(full):
        lo, hi = np.searchsorted(at, [start, start + part.num_rows])
        if hi > lo:
            rows = pa.array(at[lo:hi] - start, pa.int64())
            yield with_columns(part.take(rows), {k: v.slice(lo, hi - lo) for k, v in extra.items()})
        start += part.num_rows


def _spill_index_rows(
    at: np.ndarray, doc_id: pa.Array, run_id: pa.Array, sk: Sketches, folder: Path
) -> dict[str, Spill]:
    """`_index_rows`, written a slice of documents at a time (band rows are 20 per document)."""
    writers = {t.name: SpillWriter(folder / f"{t.name}.parquet", t) for t in (DEDUPE_SIGNATURES, DEDUPE_BANDS)}
    step = _spill.CHUNK_ROWS
    for lo in range(0, len(at), step):
        part = _index_rows(at[lo : lo + step], doc_id.slice(lo, step), run_id.slice(lo, step), sk)
        for name, table in part.items():
            writers[name].write(table)
    return {name: w.close() for name, w in writers.items()}


def load_history(warehouse: Path, sk: Sketches) -> tuple[pa.Table, DedupeIndex]:
    """The part of the published history tonight's pages can match (filtered reads; see the module docstring)."""

    def files(table) -> list[str]:
        dt = open_delta(warehouse, table)
        return dt.file_uris() if dt is not None else []

    return history_from_files(files(DOCUMENTS), files(DEDUPE_BANDS), sk)


def history_from_files(doc_files: list[str], band_files: list[str], sk: Sketches) -> tuple[pa.Table, DedupeIndex]:
    """`load_history` over explicit Parquet file lists of `documents` and `dedupe_bands` (the bench's history).
    The history's version_hash is set for the documents tonight re-delivers with the same content_hash only."""
    wanted = pa.table({"doc_id": pa.array(sk.doc_id, pa.string()), "content_hash": pa.array(sk.content_hash)})
    empty_docs = DOCUMENTS.empty().select(["doc_id", "content_hash"])
    history = documents_matching(doc_files, wanted, ["doc_id", "content_hash"], empty_docs)
    # version hashes only of the documents tonight re-delivers with their published body (the `unchanged` test)
    tonight = set(zip(sk.doc_id, sk.content_hash, strict=True))
    hist_ids = history.column("doc_id").to_pylist()
    pairs = zip(hist_ids, history.column("content_hash").to_pylist(), strict=True)
    versions = published_versions(doc_files, [d for d, h in pairs if (d, h) in tonight])
    history = history.append_column("version_hash", pa.array([versions.get(d) for d in hist_ids], pa.string()))
    keys = pa.table({"band_key": pa.array(np.unique(sk.band_keys), pa.int64())})
    bands = matching_bands(band_files, keys, DEDUPE_BANDS.empty().select(["band_key", "doc_id"]))
    candidate_ids = pc.unique(bands.column("doc_id"))
    ids = pa.table({"doc_id": candidate_ids, "content_hash": pa.nulls(len(candidate_ids), pa.string())})
    texts = documents_matching(doc_files, ids, ["doc_id", "text"], DOCUMENTS.empty().select(["doc_id", "text"]))
    text_by_id = dict(zip(texts.column("doc_id").to_pylist(), texts.column("text").to_pylist(), strict=True))
    return history, DedupeIndex(bands, text_by_id)


NARROW_COLUMNS = ("source_uri", "url", "fetched_at", "run_id")  # what dedupe needs of every row besides its text


def sketch_chunks(pages: Rows, cfg: DedupeConfig) -> Sketches:
    """`sketch_pages` of every row, reading the texts one chunk at a time."""
    parts = [sketch_pages(part, cfg) for part in chunks(pages, columns=["text", "url", "source_uri"])]
    return Sketches.concat(parts, cfg)


@task(name="dedupe", cache_policy=NO_CACHE)
def dedupe_pages_task(pages: Rows, warehouse, cfg: DedupeConfig, out: Path | None = None) -> StageResult:
    """Sketch the night's pages chunk by chunk; decide on their narrow columns; copy the kept rows to the spill.
    Memory follows the number of pages (~0.8 KB each: ids, hashes, sketch), not their text."""
    sk = sketch_chunks(pages, cfg)
    history, index = load_history(warehouse, sk)
    narrow = read_columns(pages, NARROW_COLUMNS)
    return dedupe_pages(narrow, history, cfg, index, sk, full=pages, out=out)
