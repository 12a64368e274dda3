"""The night's identities and band keys as numpy arrays, for the reduce: no Python object per page.

Strings (doc_id, content_hash) become 64-bit hashes (`string_hashes`); two rows are the same document or body only
when their strings are equal: `identity` reads back and compares the strings of the rows whose hashes repeat, and
`join_exact` compares the strings of the pairs whose hashes match, so a 64-bit collision never merges two values.
The rows are the sketch rows (shards.sketch_schema: a spill of the sketch parts, or a table of them); a
column's strings are read only at the rows asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks._spill import Rows, chunks, column
from tasks.dedupe.minhash import string_hashes

# the sketch rows' columns a decision reads (the rest is read at the few rows that need it)
KEY_COLUMNS = ("fetched_at", "source_uri", "doc_id", "content_hash", "n_shingles", "band_keys", "menu_keys")
Strings = Callable[[np.ndarray], pa.Array]  # the values of one string column at the given rows


@dataclass(frozen=True, slots=True)
class NightKeys:
    """Per row of the night: `doc` / `body` (the first row with the same doc_id / content_hash), their 64-bit
    hashes, `fetched` (fetched_at as int64, null 0) and `source_uri` (the canonical order's keys), shingle count,
    band keys; `menu_of[i]`: the row of `menu_keys` holding row i's menu-free band keys (-1: none)."""

    doc: np.ndarray
    body: np.ndarray
    doc_hash: np.ndarray
    body_hash: np.ndarray
    fetched: np.ndarray
    source_uri: pa.Array
    n_shingles: np.ndarray
    band_keys: np.ndarray
    menu_of: np.ndarray
    menu_keys: np.ndarray

    def __len__(self) -> int:
        return len(self.doc)


def strings_of(rows: Rows, name: str) -> Strings:
    """The values of column `name` of the rows at given positions (read only there)."""

    def take(at: np.ndarray) -> pa.Array:
        values = column(rows, name).take(pa.array(np.asarray(at, np.int64), pa.int64()))
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values

    return take


def read_keys(rows: Rows, bands: int, chunk_rows: int) -> NightKeys:
    """The NightKeys of the sketch rows, read `chunk_rows` at a time (strings only of rows whose hashes repeat)."""
    parts: dict[str, list] = {k: [] for k in ("doc", "body", "fetched", "uri", "n", "bands", "menu", "has_menu")}
    for part in chunks(rows, chunk_rows, KEY_COLUMNS):
        parts["doc"].append(string_hashes(part.column("doc_id").combine_chunks()))
        parts["body"].append(string_hashes(part.column("content_hash").combine_chunks()))
        parts["fetched"].append(np.asarray(pc.fill_null(part.column("fetched_at").cast(pa.int64()), 0), np.int64))
        parts["uri"].append(part.column("source_uri").combine_chunks())
        parts["n"].append(np.asarray(part.column("n_shingles"), np.int64))
        parts["bands"].append(fixed_rows(part.column("band_keys"), bands))
        menu = part.column("menu_keys").combine_chunks()
        has = np.asarray(menu.is_valid(), bool)
        parts["has_menu"].append(has)
        parts["menu"].append(fixed_rows(menu, bands)[has])
    if not parts["doc"]:
        empty = np.zeros(0, np.int64)
        bands_empty = np.zeros((0, bands), np.int64)
        hashes = np.zeros(0, np.uint64)
        return NightKeys(
            empty, empty, hashes, hashes, empty, pa.array([], pa.string()), empty, bands_empty, empty, bands_empty
        )
    doc_hash, body_hash = np.concatenate(parts["doc"]), np.concatenate(parts["body"])
    has_menu = np.concatenate(parts["has_menu"])
    menu_of = np.full(len(has_menu), -1, np.int64)
    menu_of[has_menu] = np.arange(int(has_menu.sum()))
    keys = NightKeys(
        identity(doc_hash, strings_of(rows, "doc_id")),
        identity(body_hash, strings_of(rows, "content_hash")),
        doc_hash,
        body_hash,
        np.concatenate(parts["fetched"]),
        pa.concat_arrays(parts["uri"]),
        np.concatenate(parts["n"]),
        np.concatenate(parts["bands"]),
        menu_of,
        np.concatenate(parts["menu"]),
    )
    del parts  # the chunks' arrays (views of Arrow's decoded buffers): Arrow's pool gives them back now
    pa.default_memory_pool().release_unused()
    return keys


def fixed_rows(values: pa.ChunkedArray | pa.Array, width: int, dtype: type = np.int64) -> np.ndarray:
    """A fixed-size list column as an (n × width) array (null rows hold zeros)."""
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    # Parquet gives a null list null children: fill them, so the values stay integers (never floats with NaN)
    flat = np.asarray(pc.fill_null(array.values, 0).to_numpy(), dtype)
    return flat[array.offset * width : (array.offset + len(array)) * width].reshape(len(array), width)


def identity(hashes: np.ndarray, strings: Strings) -> np.ndarray:
    """Per row, the first row whose string equals its own. A row whose hash no other row has is its own; the
    strings of rows sharing a hash are read and compared."""
    out = np.arange(len(hashes), dtype=np.int64)
    order = np.argsort(hashes, kind="stable")
    h = hashes[order]
    repeated = np.zeros(len(h), bool)
    repeated[1:] = h[1:] == h[:-1]
    repeated[:-1] |= repeated[1:]
    shared = np.sort(order[repeated])
    if len(shared):
        codes = np.asarray(pc.dictionary_encode(strings(shared)).indices, np.int64)
        _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        out[shared] = shared[first[inverse]]
    return out


def join_exact(left_hash: np.ndarray, left: Strings, right_hash: np.ndarray, right: Strings) -> np.ndarray:
    """Per left row, the last right row with an equal string (-1: none): pairs of equal hashes, then their strings
    compared."""
    out = np.full(len(left_hash), -1, np.int64)
    if not len(left_hash) or not len(right_hash):
        return out
    order = np.argsort(right_hash, kind="stable")
    sorted_hash = right_hash[order]
    lo = np.searchsorted(sorted_hash, left_hash, "left")
    hi = np.searchsorted(sorted_hash, left_hash, "right")
    count = hi - lo
    li = np.repeat(np.arange(len(left_hash)), count)
    ri = order[np.repeat(lo, count) + np.arange(len(li)) - np.repeat(np.cumsum(count) - count, count)]
    if not len(li):
        return out
    same = np.asarray(pc.equal(left(li), right(ri)).fill_null(False), bool)
    li, ri = li[same], ri[same]
    np.maximum.at(out, li, ri)
    return out


def array_strings(values: pa.Array | pa.ChunkedArray) -> Strings:
    """`Strings` of an array in memory."""
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return lambda at: array.take(pa.array(np.asarray(at, np.int64), pa.int64()))
