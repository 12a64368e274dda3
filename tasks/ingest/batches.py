"""Reading raw files into bounded stg_pages batches (not Prefect-bound: ingest's shards run it in worker
processes): page and registry rows, the batcher that cuts batches, and one file read whole or one slice of a JSON
Lines file. The contract is in tasks/ingest/__init__.py."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterator, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas import STG_PAGES, reasons
from tasks._progress import advance
from tasks._stage import quarantine_row, raw_key, raw_keys, sha256_hex
from tasks.ingest.config import STAGE, IngestConfig
from tasks.ingest.elide import known_among
from tasks.ingest.formats import Record, Reject
from tasks.ingest.framing import read_file, read_jsonl_slice
from tasks.ingest.listing import RawEntry, list_raw_entries, open_regular
from tasks.ingest.slices import FileSlice
from tasks.sizes import DEFAULT_SIZES


@dataclass(slots=True)
class IngestTally:
    """What iter_ingest produces besides page batches: quarantine rows, registry rows and counters."""

    quarantine: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    n_pages: int = 0
    n_elided: int = 0  # pages whose raw_text was left out, published (elide.py)
    n_payload_bytes: int = 0
    files_skipped: int = 0
    files_appended: int = 0  # read from the end of a registered version they grew from (shards.py)
    reasons: Counter = field(default_factory=Counter)
    slices: dict[tuple[str, int], int] = field(default_factory=dict)  # (file, slice index) → items read

    def reject(self, source_uri: str, reason: str, message: str, run_id: str) -> None:
        self.quarantine.append(quarantine_row(source_uri, STAGE, reason, message, run_id))
        self.reasons[reason] += 1


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _page_row(rec: Record, source_uri: str, file_sha: str, now: datetime, run_id: str) -> dict[str, Any]:
    return {
        "record_id": sha256_hex(source_uri),
        "source_uri": source_uri,
        "source_sha256": file_sha,
        "size_bytes": rec.size_bytes,
        "format": rec.format,
        "url": rec.url or None,
        "fetched_at": _parse_time(rec.fetched_at),
        "raw_title": rec.title or None,
        "raw_text": rec.text,
        "raw_html": rec.html,
        "decode_note": rec.decode_note,
        "meta": list(rec.meta.items()) if rec.meta else None,
        "ingested_at": now,
        "run_id": run_id,
    }


def registry_index(registry: pa.Table) -> tuple[set[tuple[str, int, int]], set[tuple[str, str]]]:
    rows = registry.select(["path", "size_bytes", "mtime_ns", "sha256"]).to_pylist()
    return ({(r["path"], r["size_bytes"], r["mtime_ns"]) for r in rows}, {(r["path"], r["sha256"]) for r in rows})


def registry_row(rel: str, st: os.stat_result, sha: str, n_records: int, run_id: str) -> dict[str, Any]:
    return {
        "path": rel,
        "size_bytes": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256": sha,
        "n_records": n_records,
        "run_id": run_id,
    }


class Batcher:
    """Collects page rows and quarantine rows of one run; cuts stg_pages batches at the configured bounds, each
    with the raw_key of its texts. `progress`: report each batch's rows (tasks/_progress.py); a shard's are
    reported by the stage when the shard is done."""

    def __init__(
        self,
        cfg: IngestConfig,
        run_id: str,
        now: datetime,
        tally: IngestTally,
        chunk_rows: int,
        progress: bool = True,
        known: np.ndarray | None = None,
    ) -> None:
        self.cfg, self.run_id, self.now, self.tally, self.chunk_rows = cfg, run_id, now, tally, chunk_rows
        self.progress = progress
        self.rows: list[dict[str, Any]] = []
        self.n_bytes = 0
        self.known = known if known is not None and len(known) else None  # published raw_keys (elide.py)
        self.keyed: list[tuple[int, str, int, int]] = []  # (row, raw_key, its 64 bits, line offset) of the batch

    def reject(self, source_uri: str, reason: str, message: str) -> None:
        self.tally.reject(source_uri, reason, message, self.run_id)

    def add(self, item: Record | Reject, rel: str, file_sha: str, elide: bool = False) -> pa.RecordBatch | None:
        """Takes one item of a file; returns a full batch when one is due. `elide`: the item is a line of a plain
        JSON Lines file, whose raw_text is left out when it has a URL and its key is published (elide.py: a record
        without URL is not recognised unchanged before stripping, so its text would only be read again)."""
        if isinstance(item, Reject):
            self.reject(rel + item.locator, item.reason, item.message)
            return None
        if elide and self.known is not None and item.offset is not None and item.url and item.text and not item.html:
            key = raw_key(item.text)
            self.keyed.append((len(self.rows), key, int(key, 16), item.offset))
        self.rows.append(_page_row(item, rel + item.locator, file_sha, self.now, self.run_id))
        self.n_bytes += item.size_bytes
        self.tally.n_pages += 1
        self.tally.n_payload_bytes += item.size_bytes
        if len(self.rows) >= self.chunk_rows or self.n_bytes >= self.cfg.max_batch_bytes:
            return self.flush()
        return None

    def flush(self) -> pa.RecordBatch | None:
        if not self.rows:
            return None
        if self.progress:
            advance(len(self.rows))
        left_out = self._leave_out_known()
        batch = pa.RecordBatch.from_pylist(self.rows, schema=STG_PAGES.arrow_schema)
        self.rows, self.n_bytes = [], 0
        keys = pc.coalesce(raw_keys(batch["raw_text"]), pa.array(left_out, pa.string()))
        return batch.set_column(batch.schema.get_field_index("raw_key"), "raw_key", keys)

    def _leave_out_known(self) -> list[str | None]:
        """Leave out the raw_text of the batch's keyed rows whose key is published (their raw_offset set); their
        raw_keys, by row (None for the others)."""
        left_out: list[str | None] = [None] * len(self.rows)
        if self.keyed:
            found = known_among(self.known, [k for _, _, k, _ in self.keyed])
            for (row, key, _, offset), hit in zip(self.keyed, found.tolist(), strict=True):
                if hit:
                    self.rows[row].update(raw_text=None, raw_offset=offset)
                    left_out[row] = key
                    self.tally.n_elided += 1
            self.keyed = []
        return left_out


def read_entry(entry: RawEntry, seen: tuple[Set, Set], cfg: IngestConfig, out: Batcher) -> Iterator[pa.RecordBatch]:
    """Batches due while reading one regular file; its registry row goes to the tally unless the file changed
    while it was read (then it is read again by the next run) or could not be opened."""
    seen_stat, seen_sha = seen
    try:
        fh = open_regular(entry.path)
    except FileNotFoundError:
        out.reject(entry.rel, reasons.INGEST_FILE_CHANGED, "file vanished between listing and reading")
        return
    except OSError as exc:
        out.reject(entry.rel, reasons.INGEST_UNREADABLE, f"cannot open: {exc.strerror or exc}")
        return
    with fh:
        before = os.fstat(fh.fileno())
        if (entry.rel, before.st_size, before.st_mtime_ns) in seen_stat:
            out.tally.files_skipped += 1
            return
        file_sha = hashlib.file_digest(fh, "sha256").hexdigest()
        if (entry.rel, file_sha) in seen_sha:
            out.tally.files_skipped += 1
            return
        fh.seek(0)
        n_records = 0
        for item in read_file(fh, entry.path.name, before.st_size, cfg):
            n_records += 1
            if (batch := out.add(item, entry.rel, file_sha)) is not None:
                yield batch
        after = os.fstat(fh.fileno())
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        message = (
            f"changed while read ({before.st_size} → {after.st_size} bytes): the {n_records} items read stay,"
            " the file is not registered, so the next run reads it again"
        )
        out.reject(entry.rel, reasons.INGEST_FILE_CHANGED, message)
        return
    out.tally.files.append(registry_row(entry.rel, before, file_sha, n_records, out.run_id))


def entries_to_read(root: Path, seen_stat: Set, tally: IngestTally, run_id: str) -> Iterator[RawEntry]:
    """The entries under `root` to read, in listing order: one the registry holds by path, size and mtime is
    counted skipped; one that must not be read (a link, a special file, a name that is not UTF-8) is quarantined
    and registered by its own status, in `tally`."""
    if not Path(root).is_dir():
        raise FileNotFoundError(f"raw folder {root} does not exist (or is not a folder)")
    for entry in list_raw_entries(Path(root)):
        if (entry.rel, entry.lstat.st_size, entry.lstat.st_mtime_ns) in seen_stat:
            tally.files_skipped += 1
        elif entry.problem is not None:
            tally.reject(entry.rel, *entry.problem, run_id)
            tally.files.append(registry_row(entry.rel, entry.lstat, sha256_hex(entry.problem[1]), 1, run_id))
        else:
            yield entry


def iter_ingest(
    root: Path,
    registry: pa.Table,
    cfg: IngestConfig,
    run_id: str,
    now: datetime,
    tally: IngestTally,
    chunk_rows: int = DEFAULT_SIZES.chunk_rows,
) -> Iterator[pa.RecordBatch]:
    """stg_pages record batches (≤ chunk_rows rows, ≈ max_batch_bytes payload) of every new or changed file
    under `root`; quarantine and `ingested_files` rows and counters go to `tally` (`entries_to_read`)."""
    seen_stat, seen_sha = registry_index(registry) if not cfg.full else (set(), set())
    out = Batcher(cfg, run_id, now, tally, chunk_rows)
    for entry in entries_to_read(root, seen_stat, tally, run_id):
        yield from read_entry(entry, (seen_stat, seen_sha), cfg, out)
    if (batch := out.flush()) is not None:
        yield batch


def read_slice(piece: FileSlice, cfg: IngestConfig, out: Batcher) -> Iterator[pa.RecordBatch]:
    """Batches due while reading one slice of a JSON Lines file (slices.py); how many items it gave (records
    and rejects) goes to `out.tally.slices`, or -1 when the file could not be opened (it changed after the cut:
    the stage quarantines the file once and does not register it)."""
    key = (piece.entry.rel, piece.index)
    try:
        fh = open_regular(piece.entry.path)
    except OSError:
        out.tally.slices[key] = -1
        return
    n_items = 0
    with fh:
        for item in read_jsonl_slice(fh, piece.start, piece.stop, piece.first_line, out.cfg):
            n_items += 1
            if (batch := out.add(item, piece.entry.rel, piece.sha256, elide=True)) is not None:
                yield batch
    out.tally.slices[key] = n_items
