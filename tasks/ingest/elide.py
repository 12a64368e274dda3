"""Raw texts left out where they are published. On a night that re-delivers a crawl, almost every record is
unchanged: strip's unchanged test drops it by its raw_key, so ingest copying its text into the spill (1M pages:
3.7 GB through Arrow and zstd) is work for nothing. The run process writes the raw_keys the warehouse holds
(`documents` and `duplicates`, the history's versions) to `known_keys.npy`; a shard reading a slice of a plain JSON
Lines file leaves out the raw_text of a text record with a URL whose key is among them, keeping its raw_key and the byte
offset of its line (`raw_offset`). Strip reads those lines again for the records its unchanged test keeps
(`restore_texts`), with the reader that read them, and checks each against its raw_key: a raw file changed since
ingest read it fails the stage with a clear error (nothing is lost: a rerun from ingest reads it again).

Only the flow's shards leave texts out (`ingest_stage`); `ingest_dumps`, the one-process reference, and a file
read whole (small, compressed or archived) keep every text.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas import STG_PAGES
from tasks._spill import Spill, write_spill
from tasks.ingest.config import IngestConfig
from tasks.ingest.formats import Record, read_jsonl
from tasks.ingest.listing import open_regular

KNOWN_FILE = "known_keys.npy"
_MAX_LINE = IngestConfig().max_record_bytes + 1  # a line ingest read is within its limit
OFFSET = "raw_offset"
_LINE = "#line="


class RawTextChanged(RuntimeError):
    """A record's line no longer holds the text ingest read there."""


def write_known_keys(doc_files: Sequence[str], duplicate_files: Sequence[str], path: Path) -> Path | None:
    """The raw_keys of the published documents and recorded duplicates, as sorted unsigned 64-bit integers in
    `path` (8 bytes a key, read memory-mapped by the shards); None when no file holds a raw_key."""
    from tasks._warehouse import query_arrow, sql_list  # the run process only: a worker imports no DuckDB

    files = [f for f in (*doc_files, *duplicate_files) if "raw_key" in pq.read_schema(f).names]
    if not files:
        return None
    sql = (
        f"SELECT DISTINCT ('0x' || raw_key)::UBIGINT AS k FROM read_parquet([{sql_list(files)}], "
        "union_by_name = true) WHERE raw_key IS NOT NULL ORDER BY k"
    )
    keys = query_arrow(sql).column("k").to_numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, keys.astype(np.uint64, copy=False))
    return path


def load_known(path: Path | None) -> np.ndarray | None:
    return None if path is None else np.load(path, mmap_mode="r")


def text_key(text: str) -> tuple[str, int]:
    """A text's raw_key (tasks/_stage.raw_keys) and the same 64 bits as an integer."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()[:8]
    return digest.hex(), int.from_bytes(digest, "big")


def known_among(known: np.ndarray, keys: Sequence[int]) -> np.ndarray:
    """Which of `keys` are in the sorted array `known`."""
    wanted = np.asarray(keys, np.uint64)
    at = np.searchsorted(known, wanted)
    return (at < len(known)) & (np.asarray(known[np.minimum(at, len(known) - 1)]) == wanted)


def elided_rows(spill: Spill) -> int:
    """How many rows of the spill have their raw_text left out (from the footers' null counts)."""
    n = 0
    for file in spill.files:
        meta = pq.read_metadata(file)
        if OFFSET not in meta.schema.names:
            continue
        column = meta.schema.names.index(OFFSET)
        for i in range(meta.num_row_groups):
            group = meta.row_group(i)
            stats = group.column(column).statistics
            n += group.num_rows - (stats.null_count if stats is not None and stats.has_null_count else 0)
    return n


def restore_texts(spill: Spill, raw: Path | None, path: Path, chunk_rows: int) -> Spill:
    """The spill with every left-out raw_text read again from its line under `raw` (written to `path`); the spill
    itself when none was left out."""
    if not elided_rows(spill):
        return spill
    if raw is None:
        raise ValueError("the night's records hold raw texts left out by ingest: strip needs the raw folder")
    return write_spill(path, STG_PAGES, (_restored(batch, raw) for batch in spill.batches(chunk_rows)))


def _restored(batch: pa.RecordBatch, raw: Path) -> pa.RecordBatch:
    table = STG_PAGES.conform(pa.Table.from_batches([batch]))
    offsets = table.column(OFFSET)
    if offsets.null_count == table.num_rows:
        return table
    at = pc.indices_nonzero(offsets.is_valid()).to_pylist()
    uris = table.column("source_uri").take(at).to_pylist()
    keys = table.column("raw_key").take(at).to_pylist()
    texts = table.column("raw_text").to_pylist()
    for row, text in zip(at, _read_again(raw, uris, offsets.take(at).to_pylist(), keys), strict=True):
        texts[row] = text
    table = table.set_column(table.schema.get_field_index("raw_text"), "raw_text", pa.array(texts, pa.string()))
    nulls = pa.nulls(table.num_rows, pa.int64())
    return table.set_column(table.schema.get_field_index(OFFSET), OFFSET, nulls)


def _read_again(raw: Path, uris: list[str], offsets: list[int], keys: list[str]) -> Iterator[str]:
    """The text of each record's line (`source_uri` `file#line=N` at byte `offset`), checked against its raw_key;
    each file opened once a batch."""
    files: dict[str, BinaryIO] = {}
    try:
        for uri, offset, key in zip(uris, offsets, keys, strict=True):
            rel, _, number = uri.rpartition(_LINE)
            record = None
            try:
                if rel not in files:
                    files[rel] = open_regular(raw / rel)
                files[rel].seek(offset)
                line = files[rel].readline(_MAX_LINE)
                record = next(read_jsonl(io.BytesIO(line), _MAX_LINE, int(number), offset), None)
            except (OSError, ValueError):
                pass
            if not isinstance(record, Record) or not record.text or text_key(record.text)[0] != key:
                raise RawTextChanged(
                    f"{uri}: the raw file changed after ingest read it (the line at byte {offset} is not the record "
                    "read there); run the night again from ingest: docpipe rerun RUN_ID --from ingest"
                )
            yield record.text
    finally:
        for fh in files.values():
            fh.close()
