"""Near-duplicate clusters among tonight's documents and against the published history: LSH candidate pairs,
exact verification on template-free bodies (residue.py: Jaccard, or containment once a leading navigation run is
dropped), union-find, one canonical document per cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.dedupe.minhash import Sketcher, shingle_sets
from tasks.dedupe.residue import ResidueRules, verify_pair


@dataclass(frozen=True, slots=True)
class NearMatch:
    """A new document folded into the cluster of `canonical`, with its best verified link in that cluster:
    `kind` near or contained, `similarity` its Jaccard (contained: without the other page's residue)."""

    rank: int
    canonical: str
    similarity: float
    kind: str = "near"


def batch_pairs(keys: np.ndarray, ranks: np.ndarray) -> set[tuple[int, int]]:
    """Candidate pairs (lower rank, higher rank) of rows sharing a band key. Linear in the rows: within a key's
    group each row pairs with the group's first row and with its predecessor, never all pairs of a large group."""
    if not len(ranks):
        return set()
    flat_key = keys.ravel()
    flat_rank = np.repeat(ranks, keys.shape[1])
    order = np.lexsort((flat_rank, flat_key))
    k, r = flat_key[order], flat_rank[order]
    same = k[1:] == k[:-1]
    start = np.where(np.concatenate([[True], ~same]), np.arange(len(k)), 0)
    first = np.maximum.accumulate(start)
    prev_pairs = np.stack([r[:-1][same], r[1:][same]], axis=1)
    star = first[1:][same]
    star_pairs = np.stack([r[star], r[1:][same]], axis=1)
    pairs = np.unique(np.concatenate([prev_pairs, star_pairs]), axis=0)
    return {(int(a), int(b)) for a, b in pairs if a != b}


def history_pairs(keys: np.ndarray, ranks: np.ndarray, bands: pa.Table) -> set[tuple[int, str]]:
    """Candidate pairs (rank, history doc_id) of rows whose band key is also a published document's."""
    if not len(ranks) or not bands.num_rows:
        return set()
    tonight = pa.table({"band_key": keys.ravel(), "rank": np.repeat(ranks, keys.shape[1])})
    joined = tonight.join(bands.select(["band_key", "doc_id"]), "band_key", join_type="inner")
    return set(zip(joined.column("rank").to_pylist(), joined.column("doc_id").to_pylist(), strict=True))


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def find(self, x: Any) -> Any:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: Any, b: Any) -> None:
        self.parent[self.find(a)] = self.find(b)


def fold_near(
    doc_ids: list[str],
    texts: pa.Array | pa.ChunkedArray,
    at: np.ndarray,
    is_update: np.ndarray,
    keys: np.ndarray,
    eligible: np.ndarray,
    menu: tuple[np.ndarray, np.ndarray],
    bands: pa.Table,
    history_texts: dict[str, str],
    sketcher: Sketcher,
    rules: ResidueRules,
) -> tuple[list[NearMatch], dict[str, int]]:
    """Near duplicates among the kept rows (in canonical order: published first, then fetched_at, source_uri).

    Per kept row: `doc_ids`, its text `texts[at[row]]`, `is_update`, `keys` (band keys), `eligible` (has
    shingles); `menu`: (rows, keys) menu-free band keys of some kept rows (menu_run.py), a second candidate source
    searched like the first. Returns the rows to fold and counters. Published documents (history, or rows
    updating one) are never folded; they are canonical first. Only the texts of candidate rows are read.
    """
    ranks = np.flatnonzero(eligible)
    pairs = candidate_pairs(doc_ids, np.concatenate([keys[ranks], menu[1]]), np.concatenate([ranks, menu[0]]), bands)
    rows = sorted({n for p in pairs for n in p if isinstance(n, int)})
    hist = sorted({n for p in pairs for n in p if isinstance(n, str)})
    row_texts = texts.take(pa.array(at[rows], pa.int64()))
    if isinstance(row_texts, pa.ChunkedArray):
        row_texts = row_texts.combine_chunks()
    node_texts = pa.concat_arrays(
        [row_texts.cast(pa.string()), pa.array([history_texts.get(n) for n in hist], pa.string())]
    )
    nodes = rows + hist
    sets = dict(zip(nodes, shingle_sets(sketcher, node_texts), strict=True))
    at_node = {n: k for k, n in enumerate(nodes)}
    uf, best = _UnionFind(), {}
    n_verified = n_contained = 0
    for a, b in sorted(pairs, key=str):  # a fixed order: ties between links never depend on set iteration
        texts_ab = (node_texts[at_node[a]].as_py() or "", node_texts[at_node[b]].as_py() or "")
        verdict = verify_pair(sets[a], sets[b], *texts_ab, sketcher, rules)
        if verdict is None:
            continue
        kind, sim = verdict
        n_verified += 1
        n_contained += kind == "contained"
        uf.union(a, b)
        for n in (a, b):
            if sim > best.get(n, (0.0, ""))[0]:
                best[n] = (sim, kind)

    matches = cluster_matches(uf, best, doc_ids, is_update)
    return matches, {"near_candidates": len(pairs), "near_verified": n_verified, "near_contained": n_contained}


def candidate_pairs(doc_ids: list[str], keys: np.ndarray, ranks: np.ndarray, bands: pa.Table) -> set[tuple[Any, Any]]:
    """Candidate pairs of kept rows (rank, rank) and of a kept row with a published document (rank, doc_id)."""
    by_doc = {d: i for i, d in enumerate(doc_ids)}
    pairs: set[tuple[Any, Any]] = set(batch_pairs(keys, ranks))
    for rank, doc_id in history_pairs(keys, ranks, bands):
        other = by_doc.get(doc_id, doc_id)  # tonight's version of a published document replaces its old text
        if other != rank and doc_id != doc_ids[rank]:
            pairs.add((min(rank, other), max(rank, other)) if isinstance(other, int) else (rank, other))
    return pairs


def cluster_matches(
    uf: _UnionFind, best: dict[Any, tuple[float, str]], doc_ids: list[str], is_update: np.ndarray
) -> list[NearMatch]:
    """Each verified cluster's canonical document (published first, then canonical order) and the new rows folded
    into it, with their best link."""

    def published(n: Any) -> bool:
        return isinstance(n, str) or bool(is_update[n])

    def order(n: Any) -> tuple:
        return (0, n if isinstance(n, str) else doc_ids[n], 0) if published(n) else (1, "", n)

    clusters: dict[Any, list[Any]] = {}
    for n in best:
        clusters.setdefault(uf.find(n), []).append(n)
    matches = []
    for members in clusters.values():
        canonical = min(members, key=order)
        canonical_id = canonical if isinstance(canonical, str) else doc_ids[canonical]
        matches += [NearMatch(n, canonical_id, *best[n]) for n in members if n != canonical and not published(n)]
    return matches
