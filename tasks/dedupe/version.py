"""Whether a re-delivered page is its published document unchanged: the hash of what the document publishes
from the page (`VERSION_COLUMNS`: raw_text, text, contact_text, exact strings).

`content_hash` (the normalised body) decides exact duplicates between documents; it cannot decide this, since an
edit after the contact block, or in case or spacing only, leaves it as it was. The version hash is not stored:
tonight's side is computed here in Python, the published side by DuckDB from the published columns (history.py,
`VERSION_HASH_SQL`), both from the one formula below — so it holds for warehouses written before it existed.
Formula: SHA-256 of the concatenated per-column SHA-256 hex digests, `null` for a null value.

The `unchanged` test also compares the line fingerprints strip read (`line_keys`, hashed as their values joined by
commas; `keys_hash`, null for null keys): a page whose text is the same but whose cleaning read a fingerprint its
document does not store is published again, so the stored ones stay what the re-strip's candidate test needs
(strip_boilerplate/changed.py). A document stored without them (HTML, or published before docpipe kept them) is
tested by its lines there, so any keys match it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

from schemas.documents import VERSION_COLUMNS
from tasks._spill import Rows, chunks
from tasks._stage import sha256_hex

_NULL = "null"
# The same formula in DuckDB SQL over a documents row aliased `d` (DuckDB's sha256 hashes a string's UTF-8 bytes).
VERSION_HASH_SQL = "sha256(concat(" + ", ".join(f"coalesce(sha256(d.{c}), '{_NULL}')" for c in VERSION_COLUMNS) + "))"
KEYS = "line_keys"
KEYS_HASH_SQL = f"sha256(array_to_string(d.{KEYS}, ','))"  # null for null keys


def version_hash(values: Sequence[str | None]) -> str:
    """Hash of one row's VERSION_COLUMNS values (in that order)."""
    return sha256_hex("".join(_NULL if v is None else sha256_hex(v) for v in values))


def keys_hash(keys: Sequence[int] | None) -> str | None:
    """Hash of a row's line_keys (None for None)."""
    return None if keys is None else sha256_hex(",".join(map(str, keys)))


def version_hashes(rows: Rows, at: Sequence[int], chunk_rows: int) -> list[str]:
    """`version_hash` of the rows at positions `at` (any order), reading VERSION_COLUMNS `chunk_rows` at a time."""
    return _hashes(rows, at, chunk_rows, VERSION_COLUMNS, version_hash)


def keys_hashes(rows: Rows, at: Sequence[int], chunk_rows: int) -> list[str | None]:
    """`keys_hash` of the rows at positions `at` (any order)."""
    return _hashes(rows, at, chunk_rows, (KEYS,), lambda row: keys_hash(row[0]))


def _hashes(
    rows: Rows, at: Sequence[int], chunk_rows: int, columns: Sequence[str], hash_row: Callable[[tuple], str | None]
) -> list:
    """`hash_row` of the values of `columns` at positions `at` (any order), read `chunk_rows` at a time."""
    wanted = np.asarray(at, np.int64)
    order = np.argsort(wanted, kind="stable")
    ascending = wanted[order]
    out = [""] * len(wanted)
    start = 0
    for part in chunks(rows, chunk_rows, columns) if len(wanted) else ():
        lo, hi = np.searchsorted(ascending, [start, start + part.num_rows])
        if hi > lo:
            taken = part.take(pa.array(ascending[lo:hi] - start))
            values = zip(*(taken.column(c).to_pylist() for c in columns), strict=True)
            for n, row in zip(order[lo:hi].tolist(), values, strict=True):
                out[n] = hash_row(row)
        start += part.num_rows
        if hi == len(wanted):
            break
    return out
