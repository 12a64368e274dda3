"""Dedupe stage: quality against brute-force exact Jaccard, throughput, MinHash engines, and a batched history.

    .venv/bin/python bench/bench_dedupe.py --quality-docs 3000 --docs 100000           # quality, one 100k batch
    .venv/bin/python bench/bench_dedupe.py --quality-docs 3000 --compare 20000 --docs   # rensa / numpy / datasketch
    .venv/bin/python bench/bench_dedupe.py --quality-docs 0 --docs --stream 1000000 --batch 50000 --new 10000
    .venv/bin/python bench/bench_dedupe.py --quality-docs 0 --docs --reduce 100000 300000  # the stage's reduce

A seeded corpus of ~3 KB pages of Zipf-distributed pseudo-words, generated per global row number (any batch
of rows can be made alone, so memory follows the batch); every 11th row is a planted copy of an earlier base row
(up to 100k rows back, so copies cross batches) with a contiguous span replaced, so its word-trigram Jaccard lands
across 0.5–1.0. Quality: every pair of the sample is scored by exact Jaccard (plain-Python casefolded word
trigrams, an implementation independent of the stage's, via a sparse product); recall = pairs with J ≥ 0.8 that
end in one cluster, precision = emitted near/exact duplicate rows whose exact J with duplicate_of is ≥ 0.8.

--stream feeds N documents in batches as successive runs: each run reads the history through
tasks/dedupe/history.py (DuckDB over the Parquet files of earlier runs) and appends its kept documents and band
keys as new Parquet files, like publish appends to the warehouse; then --new documents run against the whole
history (the incremental ratio: its time over the time of all batches). Peak RSS is the process's (ru_maxrss),
corpus generation included; run --stream in its own process (the brute force of --quality-docs 10000 alone peaks
at ~11 GiB).

Figures (2 shared cores, load ~2.5 from other work; rensa, 20 bands x 5 rows, 2,667 B/page), 2026-11-26:
  one batch of 100k: 8,000-10,100 pages/s (numpy engine 8,100), peak RSS 1.22 GiB
  100k in 50k batches: stage 16.0 s (6,239 pages/s), peak RSS 0.97 GiB; 10k new against it: 1.86 s
  1M in 50k batches: stage 180 s (5,542 pages/s; runs slow from 5,600 to ~4,700 pages/s as the history grows),
    Parquet writes 9 s, peak RSS 1.34 GiB; 10k new against the 1M history: 3.6 s = 0.020 of the 1M run
  sketching (shingles + signatures, 20k pages): rensa 15,100 pages/s, numpy 10,800, datasketch 3,400 (1 thread);
    quality n=10000 identical for the three: 499 true pairs, recall 1.0000, precision 1.0000 through true
    pairs (0.9938 counted against duplicate_of directly: 3 copies joined through a chain A~B~C)
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import resource
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy import sparse
from scipy.sparse.csgraph import connected_components

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from schemas import DOCUMENTS, STG_CLEAN  # noqa: E402
from tasks._shards import plan_shards  # noqa: E402
from tasks._spill import write_spill  # noqa: E402
from tasks.dedupe import DedupeConfig, Sketches, dedupe_pages, history_from_files, sketch_pages  # noqa: E402
from tasks.dedupe.decide import decide  # noqa: E402
from tasks.dedupe.keys import read_keys  # noqa: E402
from tasks.dedupe.minhash import mix64  # noqa: E402
from tasks.dedupe.shards import sketch_rows, sketch_shard, write_kept_rows  # noqa: E402
from tasks.dedupe.stage import night_history  # noqa: E402
from tasks.history import History  # noqa: E402
from tasks.sizes import DEFAULT_SIZES  # noqa: E402

NOW = datetime(2026, 11, 26, tzinfo=UTC)
WORDS = 480
VOCAB = 60000
WINDOW = 100_000  # a planted copy's source is at most this many rows earlier
_GEN_ROWS = 5000  # rows generated at a time
NO_HISTORY = DOCUMENTS.empty().select(["doc_id", "content_hash"])
_VOCAB = pa.array([f"w{i:x}{'abcdefg'[: i % 7]}" for i in range(VOCAB)])
_CDF = np.cumsum(np.arange(1, VOCAB + 1, dtype=np.float64) ** -1.3)
_CDF /= _CDF[-1]


def _uniform(rows: np.ndarray, salt: int, width: int = 1) -> np.ndarray:
    """Deterministic uniforms in [0, 1), shape (len(rows), width), from the row numbers."""
    x = rows.astype(np.uint64)[:, None] * np.uint64(width) + np.arange(width, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = mix64(mix64(x ^ np.uint64(salt * 0x9E3779B97F4A7C15 % 2**64)))
    return (x >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _base_words(rows: np.ndarray, seed: int) -> np.ndarray:
    return np.searchsorted(_CDF, _uniform(rows, 2 * seed + 1, WORDS)).astype(np.int32)


def _word_matrix(rows: np.ndarray, seed: int) -> np.ndarray:
    planted = rows % 11 == 10
    src = rows.copy()
    back = 1 + (_uniform(rows, 7 * seed + 3)[:, 0] * np.minimum(np.maximum(rows, 1), WINDOW)).astype(np.int64)
    src[planted] = rows[planted] - back[planted]
    src[planted & (src % 11 == 10)] -= 1
    src = np.maximum(src, 0)
    words = _base_words(src, seed)
    # planted: a contiguous span of up to 20% of the words replaced (~J from 1.0 down to ~0.5 on trigrams)
    u = _uniform(rows, 11 * seed + 5, 2)
    span = (u[:, 0] * 0.2 * WORDS).astype(np.int64)
    at = (u[:, 1] * (WORDS - span + 1)).astype(np.int64)
    col = np.arange(WORDS)
    mask = planted[:, None] & (col >= at[:, None]) & (col < (at + span)[:, None])
    fresh = (_uniform(rows, 13 * seed + 7, WORDS) * VOCAB).astype(np.int32)
    return np.where(mask, fresh, words)


def texts(start: int, n: int, seed: int = 0) -> pa.Array:
    parts = []
    for a in range(start, start + n, _GEN_ROWS):
        rows = np.arange(a, min(a + _GEN_ROWS, start + n), dtype=np.int64)
        words = _VOCAB.take(pa.array(_word_matrix(rows, seed).ravel()))
        lists = pa.ListArray.from_arrays(pa.array(np.arange(len(rows) + 1, dtype=np.int32) * WORDS), words)
        parts.append(pc.binary_join(lists, " "))
    return pa.concat_arrays(parts)


def pages(start: int, n: int, seed: int = 0) -> pa.Table:
    body = texts(start, n, seed)
    line = pc.cast(pa.array(np.arange(start, start + n)), pa.string())
    uris = pc.binary_join_element_wise("bench.jsonl#line=", line, "")
    return STG_CLEAN.conform(
        pa.table(
            {
                "record_id": uris,
                "source_uri": uris,
                "source_sha256": pa.array(["0" * 64] * n),
                "size_bytes": pc.binary_length(body).cast(pa.int64()),
                "format": pa.array(["jsonl"] * n),
                "url": pc.binary_join_element_wise("https://example.org/p/", line, ""),
                "ingested_at": pa.array([NOW] * n, pa.timestamp("us", tz="UTC")),
                "run_id": pa.array(["bench"] * n),
                "text": body,
                "n_boilerplate_lines": pa.array(np.zeros(n, np.int32)),
            }
        )
    )


def brute_force(texts: list[str]) -> sparse.csr_matrix:
    ids: dict[tuple, int] = {}
    rows, cols = [], []
    for i, t in enumerate(texts):
        w = re.findall(r"\w+", t.casefold())
        for s in {tuple(w[k : k + 3]) for k in range(len(w) - 2)}:
            rows.append(i)
            cols.append(ids.setdefault(s, len(ids)))
    m = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(texts), len(ids)))
    inter = (m @ m.T).tocoo()
    size = np.asarray(m.sum(axis=1)).ravel()
    j = inter.data / (size[inter.row] + size[inter.col] - inter.data)
    keep = inter.row < inter.col
    return sparse.coo_matrix((j[keep], (inter.row[keep], inter.col[keep])), shape=inter.shape).tocsr()


def datasketch_signatures(body: pa.Array, cfg: DedupeConfig) -> tuple[np.ndarray, np.ndarray]:
    """Signatures from datasketch's MinHash.bulk over the stage's own shingle hashes (only the MinHash differs)."""
    from datasketch import MinHash

    s, off = cfg.sketcher.shingles(body)
    tokens = [s[off[i] : off[i + 1]].tolist() for i in range(len(off) - 1)]
    mhs = MinHash.bulk(tokens, num_perm=cfg.num_perm, seed=cfg.seed, hashfunc=lambda x: x & 0xFFFFFFFF)
    return np.array([m.hashvalues for m in mhs], np.uint64).astype(np.uint32), np.diff(off)


def datasketch_sketches(table: pa.Table, cfg: DedupeConfig) -> Sketches:
    base = sketch_pages(table, cfg)
    sig, n_shingles = datasketch_signatures(table.column("text").combine_chunks(), cfg)
    return replace(base, signatures=sig, n_shingles=n_shingles, band_keys=cfg.sketcher.band_keys(sig))


def quality(n: int, cfg: DedupeConfig, engine: str = "") -> None:
    table = pages(0, n, seed=1)
    body = table.column("text").to_pylist()
    truth = brute_force(body).tocoo()
    true_pairs = {(a, b) for a, b, j in zip(truth.row, truth.col, truth.data, strict=True) if j >= cfg.min_jaccard}
    sk = datasketch_sketches(table, cfg) if engine == "datasketch" else None
    result = dedupe_pages(table, NO_HISTORY, cfg, sketches=sk)
    line = {u: int(u.split("=")[1]) for u in table.column("source_uri").to_pylist()}
    kept = result.kept
    by_id = {
        d: line[u]
        for d, u in zip(kept.column("doc_id").to_pylist(), kept.column("source_uri").to_pylist(), strict=True)
    }
    cluster = {i: i for i in range(n)}
    dups = result.outputs["duplicates"].to_pylist()
    jd = {(min(a, b), max(a, b)): j for a, b, j in zip(truth.row, truth.col, truth.data, strict=True)}
    good = 0
    for d in dups:
        a, b = line[d["source_uri"]], by_id[d["duplicate_of"]]
        cluster[a] = b
        good += jd.get((min(a, b), max(a, b)), 0.0) >= cfg.min_jaccard
    found = sum(1 for a, b in true_pairs if cluster[a] == cluster[b])
    # a copy folded into a cluster through a chain of true pairs (A~B, B~C: C into A) is right by the rule
    edges = np.array(sorted(true_pairs), np.int64).reshape(-1, 2)
    graph = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    component = connected_components(graph, directed=False)[1]
    chained = sum(1 for d in dups if component[line[d["source_uri"]]] == component[by_id[d["duplicate_of"]]])
    print(
        f"quality n={n} engine={engine or cfg.engine}: true pairs (J>={cfg.min_jaccard}) {len(true_pairs)}, "
        f"emitted {len(dups)}, precision {good / max(len(dups), 1):.4f} (J with duplicate_of), "
        f"{chained / max(len(dups), 1):.4f} (through true pairs), recall {found / max(len(true_pairs), 1):.4f}"
    )


def _rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def compare(n: int, cfg: DedupeConfig, quality_docs: int) -> None:
    """Sketching pages/s (shingles + signatures, single process; datasketch: single thread, on n/4 pages) and
    quality of each MinHash engine at the same settings (shingles, num_perm, bands, verification)."""
    body = texts(0, n, seed=2)
    for engine in ("rensa", "numpy", "datasketch"):
        c = DedupeConfig(threads=cfg.threads, engine="rensa" if engine == "datasketch" else engine)
        # datasketch on a quarter of the pages: one Python call per shingle
        sample = body.slice(0, n // 4) if engine == "datasketch" else body
        t0 = time.perf_counter()
        if engine == "datasketch":
            datasketch_signatures(sample, c)
        else:
            c.sketcher.signatures(sample)
        rate = len(sample) / (time.perf_counter() - t0)
        print(f"engine {engine}: sketching {rate:,.0f} pages/s (threads={c.threads})")
        if quality_docs:
            quality(quality_docs, c, engine)


def throughput(n: int, cfg: DedupeConfig) -> None:
    table = pages(0, n, seed=2)
    t0 = time.perf_counter()
    result = dedupe_pages(table, NO_HISTORY, cfg)
    dt = time.perf_counter() - t0
    size = pc.sum(pc.binary_length(table.column("text"))).as_py() / n
    print(
        f"throughput n={n} ({size:.0f} B/page, threads={cfg.threads}, engine={cfg.engine}): {n / dt:,.0f} pages/s, "
        f"{dt:.1f} s, duplicates {result.stats['duplicates']}, peak RSS {_rss_gib():.2f} GiB (process, incl. corpus)"
    )


def _run(table: pa.Table, work: Path, name: str, cfg: DedupeConfig) -> tuple[float, float, dict]:
    """One run against the history in `work`: stage seconds (sketch, history reads, dedupe), write seconds."""
    docs, bands = work / "documents", work / "dedupe_bands"
    t0 = time.perf_counter()
    sk = sketch_pages(table, cfg)
    history, index = history_from_files(
        [str(p) for p in sorted(docs.glob("*.parquet"))], [str(p) for p in sorted(bands.glob("*.parquet"))], sk
    )
    result = dedupe_pages(table, history, cfg, index, sk)
    t1 = time.perf_counter()
    pq.write_table(result.kept.select(["doc_id", "content_hash", "text"]), docs / f"{name}.parquet")
    pq.write_table(result.outputs["dedupe_bands"], bands / f"{name}.parquet")
    return t1 - t0, time.perf_counter() - t1, result.stats


def stream(n: int, batch: int, new: int, cfg: DedupeConfig, work: Path) -> None:
    (work / "documents").mkdir(parents=True)
    (work / "dedupe_bands").mkdir()
    stage = write = 0.0
    near = 0
    for start in range(0, n, batch):
        table = pages(start, min(batch, n - start))
        s, w, stats = _run(table, work, f"run-{start:09d}", cfg)
        stage, write, near = stage + s, write + w, near + stats["duplicates.near"]
        print(
            f"  run at {start:,}: {table.num_rows / s:,.0f} pages/s, near {stats['duplicates.near']}, "
            f"history candidates {stats['near_candidates']}, peak RSS {_rss_gib():.2f} GiB",
            flush=True,
        )
    print(
        f"stream n={n:,} in batches of {batch:,}: stage {stage:.1f} s ({n / stage:,.0f} pages/s), Parquet writes "
        f"{write:.1f} s, near duplicates {near}, peak RSS {_rss_gib():.2f} GiB (process, incl. corpus)"
    )
    if new:
        s, _, stats = _run(pages(n, new), work, "run-new", cfg)
        print(
            f"incremental: {new:,} new against {n:,} in history: {s:.2f} s, ratio {s / stage:.3f} of the full run; "
            f"near duplicates {stats['duplicates.near']}, candidate pairs {stats['near_candidates']}"
        )


class _PeakRss(threading.Thread):
    """Samples this process's RSS every 10 ms; `peak` in MB."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.running = _rss_mb(), True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, _rss_mb())
            time.sleep(0.01)


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reduce_only(n: int, cfg: DedupeConfig, work: Path) -> None:
    """The sharded stage's reduce alone (stage.py: sketch rows → keys → history → decide → kept rows), on n
    generated pages sketched by the map beforehand: its peak RSS over the RSS before it, and its CPU seconds."""
    spill = write_spill(work / "pages.parquet", STG_CLEAN, (pages(a, min(4000, n - a)) for a in range(0, n, 4000)))
    shards = plan_shards(spill, DEFAULT_SIZES.shard_rows, DEFAULT_SIZES.chunk_rows)
    for shard in shards:
        sketch_shard(shard, cfg, work)
    gc.collect()
    sampler = _PeakRss()
    start, cpu = sampler.peak, time.process_time()
    sampler.start()
    rows = sketch_rows(work, len(shards), cfg)
    keys = read_keys(rows, cfg.bands, DEFAULT_SIZES.chunk_rows)
    history, index = night_history(History.latest(work / "warehouse"), rows, keys)
    decided = decide(rows, keys, history, cfg, index, spill, DEFAULT_SIZES.chunk_rows)
    write_kept_rows(work, decided, [s.rows for s in shards])
    cpu = time.process_time() - cpu
    sampler.running = False
    sampler.join()
    print(
        f"reduce n={n:,}: CPU {cpu:.1f} s, peak RSS {sampler.peak - start:,.0f} MB over its start "
        f"({(sampler.peak - start) * 2**20 / n:,.0f} B/page); duplicates {len(decided.duplicates):,}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quality-docs", type=int, default=3000)
    ap.add_argument("--docs", type=int, nargs="*", default=[100_000])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--engine", default="rensa", choices=["rensa", "numpy"])
    ap.add_argument("--compare", type=int, default=0, help="pages for the engine comparison (0: none)")
    ap.add_argument("--stream", type=int, default=0, help="documents fed in batches against a Parquet history")
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--new", type=int, default=10_000, help="new documents run against the streamed history")
    ap.add_argument("--work", type=Path, default=None, help="history directory (default: a temporary one)")
    ap.add_argument("--reduce", type=int, nargs="*", default=[], help="pages for the sharded stage's reduce alone")
    args = ap.parse_args()
    cfg = DedupeConfig(threads=args.threads, engine=args.engine)
    if args.compare:
        compare(args.compare, cfg, args.quality_docs)
    elif args.quality_docs:
        quality(args.quality_docs, cfg)
    for n in args.docs:
        throughput(n, cfg)
    for n in args.reduce:
        with tempfile.TemporaryDirectory() as tmp:
            reduce_only(n, cfg, Path(tmp))
    if args.stream:
        if args.work:
            stream(args.stream, args.batch, args.new, cfg, args.work)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                stream(args.stream, args.batch, args.new, cfg, Path(tmp))


if __name__ == "__main__":
    main()
