"""Near-duplicate clusters among tonight's documents and against the published history: LSH candidate pairs,
exact verification on template-free bodies (residue.py: Jaccard, or containment once a leading navigation run is
dropped), union-find, one canonical document per cluster.

Candidates come from the band keys in numpy, a slice of the key space at a time (`key_buckets`): a pair of rows
sharing a key, or a row and a published document's band row, are found by sorting that slice's (key, rank)
entries, so memory follows the slice, not the night. Only candidates become Python objects.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks._shards import trim_memory
from tasks.dedupe.history import CandidateTexts
from tasks.dedupe.keys import NightKeys, Strings, array_strings, join_exact
from tasks.dedupe.minhash import Sketcher, shingle_sets, string_hashes
from tasks.dedupe.residue import ResidueRules, may_match, verify_pair

MAX_BUCKET_KEYS = 1 << 20  # band-key entries sorted at once (a few arrays of 8 bytes each)
_BLOCK_ROWS = 1 << 16  # rows of the key arrays scanned at a time for one bucket
MAX_SEGMENT_TEXTS = 5000  # candidate texts (and their shingle sets) in memory at once


@dataclass(frozen=True, slots=True)
class NearMatch:
    """A new document folded into the cluster of `canonical`, with its best verified link in that cluster:
    `kind` near or contained, `similarity` its Jaccard (contained: without the other page's residue)."""

    rank: int
    canonical: str
    similarity: float
    kind: str = "near"


def batch_pairs(k: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Candidate pairs (lower rank, higher rank) of entries (key `k`, rank `r`) sharing a key. Linear in the
    entries: within a key's group each rank pairs with the group's first and with its predecessor."""
    if len(k) < 2:
        return np.zeros((0, 2), np.int64)
    order = np.lexsort((r, k))
    k, r = k[order], r[order]
    same = k[1:] == k[:-1]
    start = np.where(np.concatenate([[True], ~same]), np.arange(len(k)), 0)
    first = np.maximum.accumulate(start)
    prev_pairs = np.stack([r[:-1][same], r[1:][same]], axis=1)
    star_pairs = np.stack([r[first[1:][same]], r[1:][same]], axis=1)
    pairs = np.unique(np.concatenate([prev_pairs, star_pairs]), axis=0)
    return pairs[pairs[:, 0] != pairs[:, 1]]


def key_buckets(n_entries: int) -> int:
    """How many slices of the key space (a power of two) keep a slice's entries under MAX_BUCKET_KEYS."""
    return 1 << max(0, int(np.ceil(np.log2(max(n_entries, 1) / MAX_BUCKET_KEYS))))


def bucket_entries(
    sources: list[tuple[np.ndarray, np.ndarray]], bucket: int, n_buckets: int
) -> tuple[np.ndarray, np.ndarray]:
    """(key, rank) of every entry whose key falls in the bucket; a source is (keys n × bands, rank per row, -1:
    none), scanned a block of rows at a time."""
    shift = np.uint64(64 - int(np.log2(n_buckets))) if n_buckets > 1 else None
    ks, rs = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for keys, ranks in sources:
        for lo in range(0, len(keys), _BLOCK_ROWS):
            block, block_ranks = keys[lo : lo + _BLOCK_ROWS], ranks[lo : lo + _BLOCK_ROWS]
            inside = np.broadcast_to(block_ranks[:, None] >= 0, block.shape)
            if shift is not None:
                inside = inside & ((block.view(np.uint64) >> shift) == np.uint64(bucket))
            row, _ = np.nonzero(inside)
            ks.append(block[inside])
            rs.append(block_ranks[row])
    return np.concatenate(ks), np.concatenate(rs)


def candidate_pairs(keys: NightKeys, at: np.ndarray, doc_ids: Strings, bands: pa.Table) -> set[tuple[Any, Any]]:
    """Candidate pairs of kept rows `at` (ranks: positions in `at`): (rank, rank), and (rank, doc_id) of a kept
    row with a published document sharing a band key. Rows without shingles search only their menu-free keys."""
    rank_of_row = np.full(len(keys), -1, np.int64)
    rank_of_row[at] = np.arange(len(at))
    eligible = np.where(keys.n_shingles > 0, rank_of_row, -1)
    menu_ranks = rank_of_row[keys.menu_of >= 0]  # menu_keys holds the rows with menu-free keys, in row order
    sources = [(keys.band_keys, eligible), (keys.menu_keys, menu_ranks)]
    n_entries = (int((eligible >= 0).sum()) + int((menu_ranks >= 0).sum())) * keys.band_keys.shape[1]
    hist_keys = np.asarray(bands.column("band_key"), np.int64)
    hist_order = np.argsort(hist_keys, kind="stable")
    pairs: set[tuple[Any, Any]] = set()
    hits = []
    n_buckets = key_buckets(n_entries)
    for bucket in range(n_buckets):
        k, r = bucket_entries(sources, bucket, n_buckets)
        pairs.update(map(tuple, batch_pairs(k, r).tolist()))
        hits.append(history_hits(k, r, hist_keys[hist_order], hist_order))
    rank_hist = np.concatenate(hits) if hits else np.zeros((0, 2), np.int64)
    pairs.update(history_pairs(rank_hist, keys, at, doc_ids, bands))
    return pairs


def history_hits(k: np.ndarray, r: np.ndarray, sorted_keys: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(rank, band row) of the entries whose key a published band row has."""
    lo, hi = np.searchsorted(sorted_keys, k, "left"), np.searchsorted(sorted_keys, k, "right")
    count = hi - lo
    ranks = np.repeat(r, count)
    band_rows = order[np.repeat(lo, count) + np.arange(len(ranks)) - np.repeat(np.cumsum(count) - count, count)]
    return np.stack([ranks, band_rows], axis=1)


def history_pairs(
    rank_band: np.ndarray, keys: NightKeys, at: np.ndarray, doc_ids: Strings, bands: pa.Table
) -> set[tuple[Any, Any]]:
    """Pairs of the (rank, band row) hits: with tonight's version of the published document when tonight has one
    (its text replaces the old), else with the published doc_id; never a row with its own document."""
    if not len(rank_band):
        return set()
    rank_band = np.unique(rank_band, axis=0)
    band_rows = np.unique(rank_band[:, 1])
    ids = bands.column("doc_id").take(pa.array(band_rows, pa.int64())).combine_chunks()
    # the kept row holding each hit document's doc_id (-1: none)
    tonight = join_exact(string_hashes(ids), array_strings(ids), keys.doc_hash[at], lambda r: doc_ids(at[r]))
    other_of = dict(zip(band_rows.tolist(), tonight.tolist(), strict=True))
    id_of = dict(zip(band_rows.tolist(), ids.to_pylist(), strict=True))
    pairs: set[tuple[Any, Any]] = set()
    for rank, row in rank_band.tolist():
        other = other_of[row]
        if other == rank:
            continue
        pairs.add((min(rank, other), max(rank, other)) if other >= 0 else (rank, id_of[row]))
    return pairs


class _UnionFind:
    """Union-find over node numbers 0..n-1."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = int(parent[x])
        return x

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def fold_near(
    keys: NightKeys,
    at: np.ndarray,
    is_update: np.ndarray,
    doc_ids: Strings,
    texts: Any,
    bands: pa.Table,
    history_texts: CandidateTexts,
    sketcher: Sketcher,
    rules: ResidueRules,
) -> tuple[list[NearMatch], dict[str, int]]:
    """Near duplicates among the kept rows `at` (in canonical order: published first, then fetched_at, source_uri).

    Per kept row (its rank in `at`): `is_update`; `doc_ids` gives the doc_id of rows, `texts.take(rows)` their
    texts (read for candidates only). Returns the rows to fold and counters. Published documents (history, or
    rows updating one) are never folded; they are canonical first.
    """
    pairs = candidate_pairs(keys, at, doc_ids, bands)
    verdicts = verify_pairs(pairs, at, texts, history_texts, sketcher, rules)
    nodes = sorted({n for p in verdicts for n in p}, key=str)
    at_node = {n: k for k, n in enumerate(nodes)}
    uf, best = _UnionFind(len(nodes)), {}
    for a, b in sorted(verdicts, key=str):  # a fixed order: ties between links never depend on set iteration
        kind, sim = verdicts[(a, b)]
        uf.union(at_node[a], at_node[b])
        for n in (a, b):
            if sim > best.get(n, (0.0, ""))[0]:
                best[n] = (sim, kind)
    rows = np.array([n for n in nodes if isinstance(n, int)], np.int64)
    row_ids = dict(zip(rows.tolist(), doc_ids(at[rows]).to_pylist(), strict=True))
    matches = cluster_matches(uf, at_node, best, row_ids, is_update)
    n_contained = sum(kind == "contained" for kind, _ in verdicts.values())
    return matches, {"near_candidates": len(pairs), "near_verified": len(verdicts), "near_contained": n_contained}


class NodeStore:
    """Each candidate node's distinct shingle set and text, kept in an unnamed temporary file and read back one
    node at a time: one pass over the candidates' texts, a segment at a time in the order they are best read,
    writes them, so memory follows a segment, not the candidates, and verifying a pair reads its two texts from
    the file (at 1M pages, a block of 5,000 scattered texts read from the night's Parquet took ~6 s)."""

    def __init__(self, file: BinaryIO, nodes: list[Any]) -> None:
        self.fd = file.fileno()
        self.end = 0
        self.slot = {node: k for k, node in enumerate(nodes)}
        self.shingles_at, self.n_shingles, self.text_at, self.n_bytes = np.zeros((4, len(nodes)), np.int64)

    def add(self, nodes: list[Any], sets: list[np.ndarray], texts: pa.Array) -> None:
        """Write a segment: its shingle sets, then its texts' UTF-8 bytes as Arrow holds them (null: empty)."""
        k = np.array([self.slot[n] for n in nodes], np.int64)
        counts = np.array([len(values) for values in sets], np.int64)
        self.n_shingles[k] = counts
        self.shingles_at[k] = self.end + 8 * (np.cumsum(counts) - counts)
        shingles = np.concatenate([np.zeros(0, np.uint64), *sets]).astype(np.uint64, copy=False)
        self._append(memoryview(shingles.tobytes()))
        texts = pc.fill_null(texts, "")
        offsets = np.frombuffer(texts.buffers()[1], np.int32)[texts.offset : texts.offset + len(texts) + 1]
        self.text_at[k] = self.end + offsets[:-1] - offsets[0]
        self.n_bytes[k] = np.diff(offsets)
        if len(texts) and offsets[-1] > offsets[0]:
            self._append(memoryview(texts.buffers()[2])[offsets[0] : offsets[-1]])

    def _append(self, data: memoryview) -> None:
        while len(data):
            written = os.pwrite(self.fd, data, self.end)
            self.end, data = self.end + written, data[written:]

    def shingles(self, node: Any) -> np.ndarray:
        k = self.slot[node]
        return np.frombuffer(os.pread(self.fd, int(self.n_shingles[k]) * 8, int(self.shingles_at[k])), np.uint64)

    def text(self, node: Any) -> str:
        k = self.slot[node]
        return os.pread(self.fd, int(self.n_bytes[k]), int(self.text_at[k])).decode()


def read_order(pairs: set[tuple[Any, Any]], at: np.ndarray, history_texts: CandidateTexts) -> list[Any]:
    """The candidate nodes of `pairs`: tonight's ranks in row order, then published doc_ids in their texts' order."""
    nodes = {n for p in pairs for n in p}
    ranks = sorted((n for n in nodes if isinstance(n, int)), key=lambda n: int(at[n]))
    return ranks + history_texts.read_order(n for n in nodes if isinstance(n, str))


def node_texts(nodes: list[Any], at: np.ndarray, texts: Any, history_texts: CandidateTexts) -> pa.Array:
    """The texts of candidate nodes, ranks first (rows `at[rank]` read from `texts`), then doc_ids (published
    texts)."""
    ranks = [n for n in nodes if isinstance(n, int)]
    row_texts = texts.take(pa.array(at[np.array(ranks, np.int64)], pa.int64()))
    if isinstance(row_texts, pa.ChunkedArray):
        row_texts = row_texts.combine_chunks()
    hist = history_texts.take([n for n in nodes if isinstance(n, str)])
    return pa.concat_arrays([row_texts.cast(pa.string()), hist.cast(pa.string())])


def verify_pairs(
    pairs: set[tuple[Any, Any]],
    at: np.ndarray,
    texts: Any,
    history_texts: CandidateTexts,
    sketcher: Sketcher,
    rules: ResidueRules,
) -> dict[tuple[Any, Any], tuple[str, float]]:
    """The verified candidate pairs and their verdict (kind, similarity), residue.py. Each candidate's text is
    read and shingled once, MAX_SEGMENT_TEXTS texts at a time (`read_order`), into a `NodeStore`; a pair's texts
    are read back only when its sets leave a verdict open (`may_match`)."""
    nodes = read_order(pairs, at, history_texts)
    verdicts: dict[tuple[Any, Any], tuple[str, float]] = {}
    with tempfile.TemporaryFile() as file:
        store = NodeStore(file, nodes)
        for lo in range(0, len(nodes), MAX_SEGMENT_TEXTS):
            segment = nodes[lo : lo + MAX_SEGMENT_TEXTS]
            values = node_texts(segment, at, texts, history_texts)
            store.add(segment, shingle_sets(sketcher, values), values)
            del values
            trim_memory()  # the row groups a segment's texts were read from
        for a, b in pairs:
            set_a, set_b = store.shingles(a), store.shingles(b)
            if may_match(set_a, set_b, rules):
                verdict = verify_pair(set_a, set_b, store.text(a), store.text(b), sketcher, rules)
                if verdict is not None:
                    verdicts[(a, b)] = verdict
    return verdicts


def cluster_matches(
    uf: _UnionFind,
    at_node: dict[Any, int],
    best: dict[Any, tuple[float, str]],
    row_ids: dict[int, str],
    is_update: np.ndarray,
) -> list[NearMatch]:
    """Each verified cluster's canonical document (published first, then canonical order) and the new rows folded
    into it, with their best link."""

    def published(n: Any) -> bool:
        return isinstance(n, str) or bool(is_update[n])

    def order(n: Any) -> tuple:
        return (0, n if isinstance(n, str) else row_ids[n], 0) if published(n) else (1, "", n)

    clusters: dict[int, list[Any]] = {}
    for n in best:
        clusters.setdefault(uf.find(at_node[n]), []).append(n)
    matches = []
    for members in clusters.values():
        canonical = min(members, key=order)
        canonical_id = canonical if isinstance(canonical, str) else row_ids[canonical]
        matches += [NearMatch(n, canonical_id, *best[n]) for n in members if n != canonical and not published(n)]
    return matches
