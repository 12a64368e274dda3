"""Verifying the near fold's candidate pairs (residue.py's rules), in this process or side by side on helper
processes: the same steps either way, on numbered nodes, so that a step's input pickles small.

The candidate nodes are numbered in row order (tonight's rows first, then published documents). Segments of
MAX_SEGMENT_TEXTS nodes are shingled once each (`shingle_segment`), their distinct shingle sets written to a file
of a scratch folder (`SetStore`); chunks of the pairs keep those whose sets leave a verdict open (`open_pairs`:
`may_match`); blocks of the open pairs, of at most MAX_SEGMENT_TEXTS nodes, read their nodes' texts once for
`verify_pair` (`verify_block`). Memory follows a segment or a block, not the candidates; a verdict depends only on
its pair, so neither the cuts nor the processes change the result. Helper processes pay off on a large night only
(1M pages: 675k candidate pairs; 100k: 14k, verified in 3.3 s, its shingling already on two threads).
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tasks._shards import helper_processes, in_order
from tasks.dedupe.minhash import Sketcher, shingle_sets
from tasks.dedupe.residue import ResidueRules, may_match, verify_pair

MAX_SEGMENT_TEXTS = 5000  # candidate texts (and their shingle sets) in memory at once
MIN_HELPER_PAIRS = 100_000  # candidate pairs that make helper processes worth their start (~1 s of imports each)
CHUNKS_PER_PROCESS = 4  # pair chunks a helper process checks (`may_match`) on average
Verdict = tuple[int, int, str, float]  # node, node, kind, similarity


@dataclass(frozen=True, slots=True)
class NodeTexts:
    """Where the texts of some nodes (ascending numbers) are: `rows[i]` of `texts` for tonight's nodes, then the
    `published` texts of the published nodes, in order (they are numbered after every row node)."""

    numbers: np.ndarray
    rows: np.ndarray
    published: list[str | None]

    def read(self, texts: Any) -> pa.Array:
        """The texts, in node order."""
        row_texts = texts.take(pa.array(self.rows, pa.int64()))
        if isinstance(row_texts, pa.ChunkedArray):
            row_texts = row_texts.combine_chunks()
        return pa.concat_arrays([row_texts.cast(pa.string()), pa.array(self.published, pa.string())])


@dataclass(frozen=True, slots=True)
class Nodes:
    """The candidate nodes in number order: tonight's rows (`rows`: their row in the texts), then published
    documents (`published`: their texts)."""

    rows: np.ndarray
    published: list[str | None]

    def texts_of(self, numbers: np.ndarray) -> NodeTexts:
        """Where the texts of nodes `numbers` (ascending) are."""
        n_rows = len(self.rows)
        split = int(np.searchsorted(numbers, n_rows))
        published = [self.published[i - n_rows] for i in numbers[split:].tolist()]
        return NodeTexts(numbers, self.rows[numbers[:split]], published)


class SetStore:
    """The distinct shingle sets of the nodes: one file a segment in `folder`, and `index.npy` with each node's
    segment, offset and size; read back one set at a time (a seek and a read)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.segments, self.offsets, self.sizes = np.load(self.folder / "index.npy")
        self.files: dict[int, Any] = {}

    @staticmethod
    def segment_file(folder: Path, segment: int) -> Path:
        return Path(folder) / f"sets-{segment:05d}.bin"

    @staticmethod
    def write_index(folder: Path, sizes: list[np.ndarray]) -> None:
        """The index of the segments' sets (`sizes`: each segment's set sizes, in node order)."""
        none = np.zeros(0, np.int64)
        segments = np.repeat(np.arange(len(sizes), dtype=np.int64), [len(s) for s in sizes])
        offsets = np.concatenate([none, *(np.cumsum(s) - s for s in sizes)])
        np.save(Path(folder) / "index.npy", np.stack([segments, offsets, np.concatenate([none, *sizes])]))

    def get(self, node: int) -> np.ndarray:
        segment = int(self.segments[node])
        file = self.files.get(segment)
        if file is None:
            file = self.files[segment] = open(self.segment_file(self.folder, segment), "rb")  # noqa: SIM115
        file.seek(int(self.offsets[node]) * 8)
        return np.frombuffer(file.read(int(self.sizes[node]) * 8), np.uint64)

    def close(self) -> None:
        for file in self.files.values():
            file.close()


def shingle_segment(path: Path, where: NodeTexts, texts: Any, sketcher: Sketcher) -> np.ndarray:
    """The distinct shingle sets of a segment's nodes written one after the other to `path`; their sizes."""
    sets = shingle_sets(sketcher, where.read(texts))
    values = np.concatenate([np.zeros(0, np.uint64), *sets]).astype(np.uint64, copy=False)
    Path(path).write_bytes(values.tobytes())
    return np.array([len(s) for s in sets], np.int64)


def open_pairs(pairs: np.ndarray, folder: Path, rules: ResidueRules) -> np.ndarray:
    """The pairs (node numbers) whose shingle sets, from the store in `folder`, leave a verdict open."""
    store = SetStore(folder)
    try:
        keep = [may_match(store.get(a), store.get(b), rules) for a, b in pairs.tolist()]
    finally:
        store.close()
    return pairs[np.array(keep, bool)] if keep else pairs


def blocks_of(pairs: np.ndarray, block_texts: int) -> list[np.ndarray]:
    """Consecutive runs of the pairs whose nodes number at most `block_texts` (a pair alone may have two)."""
    blocks, start, nodes = [], 0, set()
    for k, pair in enumerate(pairs.tolist()):
        if len(nodes | set(pair)) > block_texts and nodes:
            blocks.append(pairs[start:k])
            start, nodes = k, set()
        nodes.update(pair)
    return [*blocks, pairs[start:]] if len(pairs) else blocks


def verify_block(
    block: np.ndarray, where: NodeTexts, folder: Path, texts: Any, sketcher: Sketcher, rules: ResidueRules
) -> list[Verdict]:
    """`verify_pair` of each pair of a block (node numbers) whose nodes' texts are `where`, read at once; their
    shingle sets from the store in `folder`."""
    values = where.read(texts)
    position = dict(zip(where.numbers.tolist(), range(len(where.numbers)), strict=True))
    store = SetStore(folder)
    out = []
    try:
        for a, b in block.tolist():
            text_a, text_b = values[position[a]].as_py() or "", values[position[b]].as_py() or ""
            verdict = verify_pair(store.get(a), store.get(b), text_a, text_b, sketcher, rules)
            if verdict is not None:
                out.append((a, b, *verdict))
    finally:
        store.close()
    return out


def verify_pairs(
    pairs: set[tuple[Any, Any]],
    at: np.ndarray,
    texts: Any,
    history_texts: Mapping[str, str],
    sketcher: Sketcher,
    rules: ResidueRules,
    processes: int = 1,
    segment_texts: int | None = None,
) -> dict[tuple[Any, Any], tuple[str, float]]:
    """The verified candidate pairs and their verdict (kind, similarity). Pairs name kept rows by rank (row
    `at[rank]` of `texts`) or published documents by doc_id (`history_texts`). `processes`: helper processes to
    spread the steps over, started for a night of at least MIN_HELPER_PAIRS pairs (else: here, one after the
    other); `segment_texts`: texts shingled, or read for verification, at once (default MAX_SEGMENT_TEXTS)."""
    if not pairs:
        return {}
    segment_texts = segment_texts or MAX_SEGMENT_TEXTS
    ranks = sorted({n for p in pairs for n in p if not isinstance(n, str)}, key=lambda r: int(at[r]))
    doc_ids = sorted({n for p in pairs for n in p if isinstance(n, str)})
    nodes = [*ranks, *doc_ids]
    number = {n: k for k, n in enumerate(nodes)}
    all_nodes = Nodes(at[np.array(ranks, np.int64)], [history_texts.get(d) for d in doc_ids])
    coded = np.array([(number[a], number[b]) for a, b in pairs], np.int64)
    coded = coded[np.lexsort((coded[:, 1], coded[:, 0]))]
    with (
        helper_processes(processes if len(pairs) >= MIN_HELPER_PAIRS else 1) as helpers,
        tempfile.TemporaryDirectory(prefix="near-sets-") as scratch,
    ):
        run, folder = helpers.each if helpers is not None else in_order, Path(scratch)
        if helpers is not None:
            sketcher = dataclasses.replace(sketcher, threads=1)  # the processes are the parallelism
        spans = [np.arange(lo, min(lo + segment_texts, len(nodes))) for lo in range(0, len(nodes), segment_texts)]
        segments = [(SetStore.segment_file(folder, k), all_nodes.texts_of(span)) for k, span in enumerate(spans)]
        SetStore.write_index(folder, run(shingle_segment, segments, texts, sketcher))
        n_chunks = CHUNKS_PER_PROCESS * helpers.processes if helpers is not None else 1
        chunks = [(chunk,) for chunk in np.array_split(coded, n_chunks) if len(chunk)]
        still_open = np.concatenate([np.zeros((0, 2), np.int64), *run(open_pairs, chunks, folder, rules)])
        blocks = [(b, all_nodes.texts_of(np.unique(b))) for b in blocks_of(still_open, segment_texts)]
        verdicts = run(verify_block, blocks, folder, texts, sketcher, rules)
    return {(nodes[a], nodes[b]): (kind, sim) for part in verdicts for a, b, kind, sim in part}
