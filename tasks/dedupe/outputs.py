"""The rows dedupe writes besides the kept pages: `duplicates`, and the index rows (`dedupe_signatures`,
`dedupe_bands`) of the kept documents, in memory or spilled a slice at a time; and the kept rows copied from a
spill chunk by chunk."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from schemas import DEDUPE_BANDS, DEDUPE_SIGNATURES, DUPLICATES
from tasks._spill import Rows, Spill, SpillWriter
from tasks._stage import with_columns
from tasks.dedupe.decide import Duplicate
from tasks.dedupe.keys import strings_of
from tasks.dedupe.sketches import Sketches

INDEX_TABLES = (DEDUPE_SIGNATURES, DEDUPE_BANDS)


def duplicates_table(rows: Rows, duplicates: list[Duplicate]) -> pa.Table:
    """`duplicates` rows of the decided duplicates (`rows`: the night's sketch rows, read at those rows only)."""
    at = np.array([d.row for d in duplicates], np.int64)
    names = ("source_uri", "doc_id", "url", "content_hash", "run_id", "raw_key")
    columns = {name: strings_of(rows, name)(at) for name in names}
    columns["duplicate_of"] = pa.array([d.of for d in duplicates], pa.string())
    columns["kind"] = pa.array([d.kind for d in duplicates], pa.string())
    columns["similarity"] = pa.array([d.similarity for d in duplicates], pa.float64())
    return DUPLICATES.conform(pa.table(columns))


def kept_columns(rows: np.ndarray, is_update: np.ndarray, sk: Sketches) -> dict[str, pa.Array]:
    """The columns dedupe adds to the kept rows `rows`: doc_id, content_hash, is_update."""
    return {
        "doc_id": pa.array([sk.doc_id[i] for i in rows], pa.string()),
        "content_hash": pa.array([sk.content_hash[i] for i in rows], pa.string()),
        "is_update": pa.array(is_update, pa.bool_()),
    }


def index_rows(at: np.ndarray, doc_id: pa.Array, run_id: pa.Array, sk: Sketches) -> dict[str, pa.Table]:
    """dedupe_signatures and dedupe_bands rows of the kept documents (pages without shingles get no band rows;
    a page with menu-free keys gets those of them that its whole text does not have)."""
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
    # then the menu-free keys (menu_run.py) that differ from the same band's key of the whole text
    menu = sk.menu_of[at]
    with_menu = np.flatnonzero(menu >= 0)
    menu_keys = sk.menu_keys[menu[with_menu]]
    differs = menu_keys != sk.band_keys[at[with_menu]]
    take = pa.array(np.concatenate([np.repeat(with_bands, n_bands), np.repeat(with_menu, differs.sum(axis=1))]))
    keys = np.concatenate([sk.band_keys[at[with_bands]].ravel(), menu_keys[differs]])
    bands = pa.table({"band_key": keys, "doc_id": doc_id.take(take), "run_id": run_id.take(take)})
    return {"dedupe_signatures": DEDUPE_SIGNATURES.conform(signatures), "dedupe_bands": DEDUPE_BANDS.conform(bands)}


def spill_index_rows(
    at: np.ndarray, doc_id: pa.Array, run_id: pa.Array, sk: Sketches, paths: dict[str, Path], step: int
) -> dict[str, Spill]:
    """`index_rows`, written to `paths[table name]` `step` documents at a time (20 band rows a document)."""
    writers = {t.name: SpillWriter(paths[t.name], t) for t in INDEX_TABLES}
    for lo in range(0, len(at), step):
        part = index_rows(at[lo : lo + step], doc_id.slice(lo, step), run_id.slice(lo, step), sk)
        for name, table in part.items():
            writers[name].write(table)
    return {name: w.close() for name, w in writers.items()}


def take_in_order(parts: Iterable[pa.Table], at: np.ndarray, extra: dict[str, pa.Array]) -> Iterator[pa.Table]:
    """Rows `at` (ascending positions in the concatenated `parts`) with the `extra` columns, a part at a time."""
    start = 0
    for part in parts:
        lo, hi = np.searchsorted(at, [start, start + part.num_rows])
        if hi > lo:
            rows = pa.array(at[lo:hi] - start, pa.int64())
            yield with_columns(part.take(rows), {k: v.slice(lo, hi - lo) for k, v in extra.items()})
        start += part.num_rows
