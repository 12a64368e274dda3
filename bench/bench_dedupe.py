"""Dedupe stage: quality against brute-force exact Jaccard, throughput and peak RSS.

    .venv/bin/python bench/bench_dedupe.py --quality-docs 3000 --docs 100000

A seeded corpus of ~3 KB pages of Zipf-distributed pseudo-words; 10% of base pages get a planted copy with a
contiguous span replaced so its word-trigram Jaccard lands across 0.5–1.0. Quality: every pair of the sample is
scored by exact Jaccard (plain-Python casefolded word trigrams, an implementation independent of the stage's,
via a sparse product); recall = pairs with J ≥ 0.8 that end in one cluster, precision = emitted near/exact
duplicate rows whose exact J with duplicate_of is ≥ 0.8.
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from schemas import DOCUMENTS, STG_CLEAN  # noqa: E402
from tasks.dedupe import DedupeConfig, dedupe_pages  # noqa: E402

NOW = datetime(2026, 11, 26, tzinfo=UTC)
WORDS = 480


def corpus(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i:x}{'abcdefg'[: i % 7]}" for i in range(60000)])
    n_base = n - n // 11
    base = [vocab[rng.zipf(1.3, WORDS) % len(vocab)] for _ in range(n_base)]
    texts = [" ".join(b) for b in base]
    for k in range(n - n_base):
        words = base[k * 10 % n_base].copy()
        span = int(rng.uniform(0.0, 0.2) * WORDS)  # ~J from 1.0 down to ~0.5 on trigrams
        at = rng.integers(0, WORDS - span + 1)
        words[at : at + span] = vocab[rng.integers(0, len(vocab), span)]
        texts.append(" ".join(words))
    return texts


def pages(texts: list[str]) -> pa.Table:
    n = len(texts)
    uris = [f"bench.jsonl#line={i}" for i in range(n)]
    return STG_CLEAN.conform(
        pa.table(
            {
                "record_id": uris,
                "source_uri": uris,
                "source_sha256": ["0" * 64] * n,
                "size_bytes": [len(t) for t in texts],
                "format": ["jsonl"] * n,
                "url": [f"https://example.org/p/{i}" for i in range(n)],
                "ingested_at": pa.array([NOW] * n, pa.timestamp("us", tz="UTC")),
                "run_id": ["bench"] * n,
                "text": texts,
                "n_boilerplate_lines": pa.array([0] * n, pa.int32()),
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


def quality(n: int, cfg: DedupeConfig) -> None:
    texts = corpus(n, seed=1)
    truth = brute_force(texts).tocoo()
    true_pairs = {(a, b) for a, b, j in zip(truth.row, truth.col, truth.data, strict=True) if j >= cfg.min_jaccard}
    result = dedupe_pages(pages(texts), DOCUMENTS.empty().select(["doc_id", "content_hash"]), cfg)
    by_id = {}
    line = {u: int(u.split("=")[1]) for u in pages(texts).column("source_uri").to_pylist()}
    kept = result.kept
    for d, u in zip(kept.column("doc_id").to_pylist(), kept.column("source_uri").to_pylist(), strict=True):
        by_id[d] = line[u]
    cluster = {i: i for i in range(n)}
    dups = result.outputs["duplicates"].to_pylist()
    jd = {(min(a, b), max(a, b)): j for a, b, j in zip(truth.row, truth.col, truth.data, strict=True)}
    good = 0
    for d in dups:
        a, b = line[d["source_uri"]], by_id[d["duplicate_of"]]
        cluster[a] = b
        good += jd.get((min(a, b), max(a, b)), 0.0) >= cfg.min_jaccard
    found = sum(1 for a, b in true_pairs if cluster[a] == cluster[b])
    print(
        f"quality n={n}: true pairs (J>={cfg.min_jaccard}) {len(true_pairs)}, emitted {len(dups)}, "
        f"precision {good / max(len(dups), 1):.4f}, recall {found / max(len(true_pairs), 1):.4f}"
    )


def throughput(n: int, cfg: DedupeConfig) -> None:
    table = pages(corpus(n, seed=2))
    t0 = time.perf_counter()
    result = dedupe_pages(table, DOCUMENTS.empty().select(["doc_id", "content_hash"]), cfg)
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    mb = sum(len(t) for t in table.column("text").to_pylist()) / n
    print(
        f"throughput n={n} ({mb:.0f} B/page, threads={cfg.threads}): {n / dt:,.0f} pages/s, {dt:.1f} s, "
        f"duplicates {result.stats['duplicates']}, peak RSS {rss:.2f} GiB (process, incl. corpus)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quality-docs", type=int, default=3000)
    ap.add_argument("--docs", type=int, nargs="*", default=[100_000])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    cfg = DedupeConfig(threads=args.threads)
    if args.quality_docs:
        quality(args.quality_docs, cfg)
    for n in args.docs:
        throughput(n, cfg)


if __name__ == "__main__":
    main()
