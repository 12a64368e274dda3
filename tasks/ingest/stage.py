"""The ingest stage proper: which files to read (registry), provenance columns, bounded record batches, and the
StageResult for the flow. The contract is in tasks/ingest/__init__.py."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas import INGESTED_FILES, STG_PAGES, reasons
from tasks._progress import advance
from tasks._spill import Rows, write_spill
from tasks._stage import StageResult, quarantine_row, quarantine_table, sha256_hex
from tasks.history import History
from tasks.ingest.config import IngestConfig
from tasks.ingest.formats import Record, Reject
from tasks.ingest.framing import read_file
from tasks.ingest.listing import RawEntry, list_raw_entries, open_regular
from tasks.sizes import DEFAULT_SIZES, Sizes

STAGE = "ingest"


@dataclass(slots=True)
class IngestTally:
    """What iter_ingest produces besides page batches: quarantine rows, registry rows and counters."""

    quarantine: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    n_pages: int = 0
    n_payload_bytes: int = 0
    files_skipped: int = 0
    reasons: Counter = field(default_factory=Counter)


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


def _registry_index(registry: pa.Table) -> tuple[set[tuple[str, int, int]], set[tuple[str, str]]]:
    rows = registry.select(["path", "size_bytes", "mtime_ns", "sha256"]).to_pylist()
    return ({(r["path"], r["size_bytes"], r["mtime_ns"]) for r in rows}, {(r["path"], r["sha256"]) for r in rows})


def _registry_row(rel: str, st: os.stat_result, sha: str, n_records: int, run_id: str) -> dict[str, Any]:
    return {
        "path": rel,
        "size_bytes": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256": sha,
        "n_records": n_records,
        "run_id": run_id,
    }


class _Batcher:
    """Collects page rows and quarantine rows of one run; cuts stg_pages batches at the configured bounds."""

    def __init__(self, cfg: IngestConfig, run_id: str, now: datetime, tally: IngestTally, chunk_rows: int) -> None:
        self.cfg, self.run_id, self.now, self.tally, self.chunk_rows = cfg, run_id, now, tally, chunk_rows
        self.rows: list[dict[str, Any]] = []
        self.n_bytes = 0

    def reject(self, source_uri: str, reason: str, message: str) -> None:
        self.tally.quarantine.append(quarantine_row(source_uri, STAGE, reason, message, self.run_id))
        self.tally.reasons[reason] += 1

    def add(self, item: Record | Reject, rel: str, file_sha: str) -> pa.RecordBatch | None:
        """Takes one item of a file; returns a full batch when one is due."""
        if isinstance(item, Reject):
            self.reject(rel + item.locator, item.reason, item.message)
            return None
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
        advance(len(self.rows))
        batch = pa.RecordBatch.from_pylist(self.rows, schema=STG_PAGES.arrow_schema)
        self.rows, self.n_bytes = [], 0
        return batch


def _read_entry(entry: RawEntry, seen: tuple[set, set], cfg: IngestConfig, out: _Batcher) -> Iterator[pa.RecordBatch]:
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
    out.tally.files.append(_registry_row(entry.rel, before, file_sha, n_records, out.run_id))


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
    under `root`; quarantine and `ingested_files` rows and counters go to `tally`. Entries that must not be read
    (links, special files, names that are not UTF-8) are quarantined and registered by their own status."""
    if not Path(root).is_dir():
        raise FileNotFoundError(f"raw folder {root} does not exist (or is not a folder)")
    seen_stat, seen_sha = _registry_index(registry) if not cfg.full else (set(), set())
    out = _Batcher(cfg, run_id, now, tally, chunk_rows)
    for entry in list_raw_entries(Path(root)):
        if (entry.rel, entry.lstat.st_size, entry.lstat.st_mtime_ns) in seen_stat:
            tally.files_skipped += 1
        elif entry.problem is not None:
            out.reject(entry.rel, *entry.problem)
            tally.files.append(_registry_row(entry.rel, entry.lstat, sha256_hex(entry.problem[1]), 1, run_id))
        else:
            yield from _read_entry(entry, (seen_stat, seen_sha), cfg, out)
    if (batch := out.flush()) is not None:
        yield batch


def ingest_dumps(
    root: Path,
    registry: pa.Table,
    cfg: IngestConfig,
    run_id: str,
    now: datetime,
    out: Path | None = None,
    sizes: Sizes = DEFAULT_SIZES,
) -> StageResult:
    """Read every new or changed file under `root` into stg_pages rows; bad input becomes quarantine rows.

    With `out`, the rows are written batch by batch to the spill `out/kept.parquet` (memory stays bounded by
    the batch size); without, they are returned in memory."""
    tally = IngestTally()
    batches = iter_ingest(root, registry, cfg, run_id, now, tally, sizes.chunk_rows)
    if out is None:
        kept: Rows = pa.Table.from_batches(list(batches), STG_PAGES.arrow_schema)
    else:
        kept = write_spill(Path(out) / "kept.parquet", STG_PAGES, batches, overlap=True)  # parsing beside zstd
    quarantined = quarantine_table(tally.quarantine)
    stats: dict[str, Any] = {
        "files_read": len(tally.files),
        "files_skipped": tally.files_skipped,
        "read": tally.n_pages + quarantined.num_rows,
    }
    stats.update({f"quarantined.{reason}": n for reason, n in sorted(tally.reasons.items())})
    return StageResult(
        kept, quarantined, stats, outputs={"ingested_files": INGESTED_FILES.conform(tally.files)}, n_in=stats["read"]
    )


@task(name="ingest", cache_policy=NO_CACHE)
def ingest_dumps_task(
    root: Path,
    history: History,
    cfg: IngestConfig,
    run_id: str,
    now: datetime,
    sizes: Sizes = DEFAULT_SIZES,
    out: Path | None = None,
) -> StageResult:
    """`ingest_dumps` against the file registry as it was before this run (tasks/history.py) without this run's
    own rows (which a later run's version can hold): a rerun of this run (`--from ingest` after a kill past the
    registry's commit) reads its own files again."""
    registry = history.read(INGESTED_FILES)
    registry = registry.filter(pc.not_equal(registry["run_id"], run_id))
    return ingest_dumps(root, registry, cfg, run_id, now, out, sizes)
