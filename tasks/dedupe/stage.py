"""Fold duplicate pages into one document, against everything published before.

In: stg_clean. Out: stg_unique (one row per document to publish: new or updated); in `outputs`: `duplicates`
rows, and `dedupe_signatures` / `dedupe_bands` rows of every document kept (the index publish adds to the
warehouse). Dropped (counted, not quarantined): records identical to their already-published document
(`unchanged`) and duplicates. State (read, and returned as new rows): `documents` (doc_id, content_hash) of the
published history, its near-duplicate index (`dedupe_bands`, `dedupe_signatures`), and the text of the history
documents tonight's pages are candidates of.

Identity (tasks/identity.py, shared with strip_boilerplate): `doc_id` is the hash of the canonical URL (lower-case
host without www., no fragment or trailing slash); else, for a one-page file (.txt, .html), of its path under
raw/; else of the normalised body. The same
URL (or file) with new text is an update of that document, not a duplicate — also when its text is merely
similar to its published version. A page is `unchanged` only when its doc_id is published with the same
content_hash and the same version hash (version.py: raw_text, text and contact_text, exact, and the line
fingerprints strip read), so an edit that leaves the normalised body alone (after the contact block, case,
spacing) is still an update, and so is the same text cleaned through other fingerprints (its stored ones are
what the re-strip tests); the version hash is computed only for pages that reach that test, and the published
one by DuckDB from the published columns.

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
Sharded (`dedupe_stage`, the flow's entry; shards.py): a map task per shard of tonight's pages writes its
identity, sketch and narrow columns (NARROW_COLUMNS) to a part file (~0.7 KB a page); the reduce (`decide_night`,
in a process of its own when the run has worker processes: tasks/_shards.apart) reads of those parts only numpy
arrays (keys.py: 64-bit hashes of doc_id and content_hash, exact identities,
fetched_at, band keys; source_uri as Arrow: ~0.3 KB a page), loads the matching history and takes every decision
(decide.py); strings are read back only at the rows that need them (hash repeats and history matches, checked
on the strings; duplicates; candidates), texts only for candidate pairs (shingled once, a segment at a time, sets
kept in a temporary file: near.py) and re-delivered bodies; a second map writes each shard's kept rows and index
rows, filtered by the kept-row file the reduce wrote. Results do not depend on the shard size. `dedupe_pages` is
the same work in this process (tests, bench scripts): its sketches become the same sketch rows, in memory.

Speed (bench/bench_dedupe.py): no Python per page beyond two hashlib calls (the map); the reduce is numpy.
content_hash uses str.split() (same whitespace set as re, ~10x re.sub); doc_ids canonicalises plain http(s) URLs
with Arrow kernels (others: canonical_url row by row); MinHash is rensa over the numpy shingle buffer; rows pass
through numpy as indices, texts only for the LSH candidates that need exact Jaccard and for the pages
re-delivered with their published body (hashed, a chunk at a time, for the `unchanged` test).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from schemas import STG_CLEAN, STG_UNIQUE
from tasks._progress import Laps, note, step
from tasks._shards import Shard, apart, as_spill, map_shards, plan_shards
from tasks._spill import Rows, Spill, chunks, read_columns, write_spill
from tasks._stage import StageResult, quarantine_table, with_columns
from tasks.dedupe.config import DedupeConfig
from tasks.dedupe.decide import Decisions, decide
from tasks.dedupe.history import DedupeIndex, history_files, read_history
from tasks.dedupe.keys import NightKeys, read_keys
from tasks.dedupe.outputs import duplicates_table, index_rows, kept_columns, spill_index_rows, take_in_order
from tasks.dedupe.shards import (
    NARROW_COLUMNS,
    STAGE,
    output_folders,
    sketch_columns,
    sketch_rows,
    sketch_shard,
    write_empty_outputs,
    write_kept_rows,
    write_shard,
)
from tasks.dedupe.sketches import Sketches, sketch_pages
from tasks.history import History
from tasks.sizes import DEFAULT_SIZES, Sizes

__all__ = ["NARROW_COLUMNS", "STAGE", "dedupe_pages", "dedupe_stage"]


def dedupe_pages(
    pages: pa.Table,
    history: pa.Table,
    cfg: DedupeConfig,
    index: DedupeIndex | None = None,
    sketches: Sketches | None = None,
    full: Rows | None = None,
    out: Path | None = None,
    sizes: Sizes = DEFAULT_SIZES,
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
        sizes: `chunk_rows` of `full` read at once.
    """
    sk = sketches or sketch_pages(pages, cfg)
    full = pages if full is None else full
    rows = sketch_columns(pages, sk, cfg)
    keys = read_keys(rows, cfg.bands, sizes.chunk_rows)
    decided = decide(rows, keys, history, cfg, index or DedupeIndex(), full, sizes.chunk_rows)
    at, extra = decided.kept, kept_columns(decided.kept, decided.is_update, sk)
    run_ids = pages.column("run_id").take(pa.array(at, pa.int64()))
    if out is None:
        unique: Rows = STG_UNIQUE.conform(with_columns(full.take(pa.array(at, pa.int64())), extra))
        index_tables: dict[str, Rows] = index_rows(at, extra["doc_id"], run_ids, sk)
    else:
        parts = take_in_order(chunks(full, sizes.chunk_rows), at, extra)
        unique = write_spill(Path(out) / "kept.parquet", STG_UNIQUE, parts)
        paths = {name: Path(out) / "outputs" / f"{name}.parquet" for name in ("dedupe_signatures", "dedupe_bands")}
        index_tables = spill_index_rows(at, extra["doc_id"], run_ids, sk, paths, sizes.chunk_rows)
    outputs = {"duplicates": duplicates_table(rows, decided.duplicates), **index_tables}
    return stage_result(decided, unique, outputs, pages.num_rows)


def stage_result(decided: Decisions, unique: Rows, outputs: dict[str, Rows], n_in: int) -> StageResult:
    """The StageResult of the decisions (conservation checked against the `n_in` rows that came in)."""
    n_dropped = decided.n_unchanged + len(decided.duplicates)
    return StageResult(unique, quarantine_table([]), decided.stats(), outputs=outputs, n_in=n_in, n_dropped=n_dropped)


def dedupe_stage(
    pages: Rows, history: History, cfg: DedupeConfig, sizes: Sizes = DEFAULT_SIZES, *, out: Path
) -> StageResult:
    """The stage as the flow runs it: sketch shards (map), decide (reduce, in a process of its own when the run
    has worker processes), write kept shards (map). A night of at most `sizes.local_dedupe_rows` pages takes all
    three steps in that one process (`small_night`): its sketching already uses two threads (`Sketcher.threads`),
    and starting worker processes twice and a reduce process cost more than the work (1M warehouse, a night of
    9,990 pages; NOTES.md), while the run process does not keep what dedupe allocated (~280 MB, measured)."""
    out, laps = Path(out), Laps()
    full = as_spill(pages, out / "input.parquet", STG_CLEAN, sizes.shard_rows)
    shards = plan_shards(full, sizes.shard_rows, sizes.chunk_rows)
    if full.num_rows <= sizes.local_dedupe_rows:
        with step("deduplicating a small night in one process"):
            night, manifests = apart(small_night, history, cfg, full, shards, sizes, out)
        laps.lap(f"small night ({night.steps})")
    else:
        with step("sketching pages"):
            map_shards(sketch_shard, shards, cfg=cfg, out=out)
        laps.lap("sketch")
        with step("deciding duplicates in one process: band keys, history, exact and near duplicates"):
            night = apart(decide_night, history, cfg, full, [s.rows for s in shards], sizes, out)
        laps.lap(f"decide ({night.steps})")
        with step("writing the kept pages"):
            manifests = map_shards(write_shard, shards, cfg=cfg, out=out, kept_rows=night.kept_rows)
        laps.lap("write")
    note(laps.line(STAGE))
    if not shards:
        write_empty_outputs(out)
    written = sum(m["kept"] for m in manifests)
    if written != night.n_kept:
        raise AssertionError(f"dedupe shards wrote {written} kept rows of {night.n_kept}")
    kept, signatures, bands = (Spill(f) for f in output_folders(out))
    outputs = {"duplicates": night.duplicates, "dedupe_signatures": signatures, "dedupe_bands": bands}
    return StageResult(
        kept, quarantine_table([]), night.stats, outputs=outputs, n_in=pages.num_rows, n_dropped=night.n_dropped
    )


@dataclass(frozen=True, slots=True)
class NightDecisions:
    """The reduce's decisions as the flow carries them: the kept-row file the second map reads, the duplicates
    rows, the counters."""

    kept_rows: Path
    n_kept: int
    duplicates: pa.Table
    stats: dict[str, int]
    n_dropped: int  # unchanged records and duplicates
    steps: str = ""  # where the reduce's time went (Laps.text), for the run's log


def decide_night(
    history: History,
    cfg: DedupeConfig,
    full: Spill,
    shard_rows: list[int],
    sizes: Sizes,
    out: Path,
    laps: Laps | None = None,
) -> NightDecisions:
    """The reduce over the sketch parts of the night's shards (`shard_rows` rows each, of `full`): load the
    matching history, decide every row, write the kept-row file; `laps` times its steps (its own by default)."""
    laps = laps or Laps()
    rows = sketch_rows(out, len(shard_rows), cfg)
    if rows.num_rows != sum(shard_rows):
        raise AssertionError(f"dedupe shards sketched {rows.num_rows} rows of {sum(shard_rows)}")
    keys = read_keys(rows, cfg.bands, sizes.chunk_rows)
    laps.lap("band keys")
    published, index = night_history(history, rows, keys)
    laps.lap("history")
    decided = decide(rows, keys, published, cfg, index, full, sizes.chunk_rows)
    laps.lap("decisions")
    kept_rows = write_kept_rows(out, decided, shard_rows)
    duplicates = duplicates_table(rows, decided.duplicates)
    laps.lap("kept rows")
    n_dropped = decided.n_unchanged + len(decided.duplicates)
    return NightDecisions(kept_rows, len(decided.kept), duplicates, decided.stats(), n_dropped, laps.text())


def small_night(
    history: History, cfg: DedupeConfig, full: Spill, shards: list[Shard], sizes: Sizes, out: Path
) -> tuple[NightDecisions, list[dict[str, Any]]]:
    """The map, the reduce and the second map of a small night, one shard after the other in this process."""
    laps = Laps()
    for shard in shards:
        sketch_shard(shard, cfg=cfg, out=out)
    laps.lap("sketch")
    night = decide_night(history, cfg, full, [s.rows for s in shards], sizes, out, laps)
    manifests = [write_shard(shard, cfg=cfg, out=out, kept_rows=night.kept_rows) for shard in shards]
    laps.lap("write")
    return dataclasses.replace(night, steps=laps.text()), manifests


def night_history(history: History, rows: Rows, keys: NightKeys) -> tuple[pa.Table, DedupeIndex]:
    """`load_history` for the night's sketch rows: their doc_id and content_hash are read only when there are
    published documents, their band keys taken from `keys`."""
    wanted = lambda: read_columns(rows, ["doc_id", "content_hash"])  # noqa: E731
    return read_history(*history_files(history), wanted, lambda: [keys.band_keys, keys.menu_keys])
