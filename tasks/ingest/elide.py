"""Raw texts left out where they are published. On a night that re-delivers a crawl, almost every record is
unchanged: strip's unchanged test drops it by its raw_key, so ingest copying its text into the spill (1M pages:
3.7 GB through Arrow and zstd) is work for nothing. The run process writes the raw_keys the warehouse holds
(`documents` and `duplicates`, the history's versions) to `known_keys.npy`; a shard reading a slice of a plain JSON
Lines file leaves out the raw_text of a text record with a URL whose key is among them, keeping its raw_key and the byte
offset of its line (`raw_offset`). Strip reads those lines again for the records its unchanged test keeps
(`restore_texts`, handed to strip by the flow: only ingest reads raw/), with the reader that read them, and checks
each against its raw_key. A record whose line changed since ingest read it (raw/ rewritten during the run) is
quarantined as ingest.file_changed, never given a wrong text; the next run reads the changed file again.

Only the flow's shards leave texts out (`ingest_stage`); `ingest_dumps`, the one-process reference, and a file
read whole (small, compressed or archived) keep every text.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas import QUARANTINE, STG_PAGES, reasons
from schemas.stg_pages import RAW_OFFSET
from tasks._spill import Spill, write_spill
from tasks._stage import has_left_out, quarantine_row, quarantine_table, raw_key
from tasks.ingest.config import STAGE, IngestConfig
from tasks.ingest.formats import Record, read_jsonl
from tasks.ingest.listing import open_regular

KNOWN_FILE = "known_keys.npy"
_MAX_LINE = IngestConfig().max_record_bytes + 1  # a line ingest read is within its limit
_LINE = "#line="


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


def known_among(known: np.ndarray, keys: Sequence[int]) -> np.ndarray:
    """Which of `keys` are in the sorted array `known`."""
    wanted = np.asarray(keys, np.uint64)
    at = np.searchsorted(known, wanted)
    return (at < len(known)) & (np.asarray(known[np.minimum(at, len(known) - 1)]) == wanted)


def restore_texts(spill: Spill, path: Path, *, raw: Path, chunk_rows: int, run_id: str) -> tuple[Spill, pa.Table]:
    """The spill with every left-out raw_text read again from its line under `raw` (written to `path`; the spill
    itself when none was left out), and the quarantine rows of the records whose line no longer holds their text
    (ingest.file_changed: the raw file changed after ingest read it; the next run reads it again)."""
    if not has_left_out(spill):
        return spill, QUARANTINE.empty()
    lost: list[dict[str, Any]] = []
    batches = (_restored(batch, raw, lost, run_id) for batch in spill.batches(chunk_rows))
    return write_spill(path, STG_PAGES, batches), quarantine_table(lost)


def _restored(batch: pa.RecordBatch, raw: Path, lost: list[dict[str, Any]], run_id: str) -> pa.Table:
    """The batch with its left-out texts put back; the rows whose line changed go to `lost` instead."""
    table = STG_PAGES.conform(pa.Table.from_batches([batch]))
    offsets = table.column(RAW_OFFSET).combine_chunks()
    if offsets.null_count == table.num_rows:
        return table
    left_out = offsets.is_valid()
    at = pc.indices_nonzero(left_out)
    uris, where = table.column("source_uri").take(at).to_pylist(), offsets.take(at).to_pylist()
    texts = list(_read_again(raw, uris, where, table.column("raw_key").take(at).to_pylist()))
    for uri, offset, text in zip(uris, where, texts, strict=True):
        if text is None:
            message = (
                f"the raw file changed after ingest read it: the line at byte {offset} no longer holds this record;"
                " the file is read again by the next run"
            )
            lost.append(quarantine_row(uri, STAGE, reasons.INGEST_FILE_CHANGED, message, run_id))
    restored = pc.replace_with_mask(table.column("raw_text").combine_chunks(), left_out, pa.array(texts, pa.string()))
    table = table.set_column(table.schema.get_field_index("raw_text"), "raw_text", restored)
    table = table.set_column(table.schema.get_field_index(RAW_OFFSET), RAW_OFFSET, pa.nulls(table.num_rows, pa.int64()))
    return table.filter(pc.or_(pc.invert(left_out), table.column("raw_text").is_valid()))


def _read_again(raw: Path, uris: list[str], offsets: list[int], keys: list[str]) -> Iterator[str | None]:
    """The text of each record's line (`source_uri` `file#line=N` at byte `offset`) if it still has its raw_key,
    else None; each file opened once a batch."""
    files: dict[str, BinaryIO | None] = {}
    try:
        for uri, offset, key in zip(uris, offsets, keys, strict=True):
            rel, _, number = uri.rpartition(_LINE)
            record = None
            try:
                if rel not in files:
                    files[rel] = None
                    files[rel] = open_regular(raw / rel)
                if (fh := files[rel]) is not None:
                    fh.seek(offset)
                    line = fh.readline(_MAX_LINE)
                    record = next(read_jsonl(io.BytesIO(line), _MAX_LINE, int(number), offset), None)
            except (OSError, ValueError):
                pass
            ok = isinstance(record, Record) and record.text and raw_key(record.text) == key
            yield record.text if ok else None
    finally:
        for fh in files.values():
            if fh is not None:
                fh.close()
