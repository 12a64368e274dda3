"""The ingest stage proper: which files to read (registry), provenance columns, bounded record batches, and the
StageResult for the flow. The contract is in tasks/ingest/__init__.py."""

from __future__ import annotations

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

from schemas import INGESTED_FILES, STG_PAGES
from tasks._progress import advance
from tasks._spill import Rows, write_spill
from tasks._stage import StageResult, file_sha256, quarantine_row, quarantine_table, sha256_hex
from tasks._warehouse import read_current
from tasks.ingest.config import IngestConfig
from tasks.ingest.formats import Record, Reject
from tasks.ingest.framing import read_file

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


def list_raw_files(root: Path) -> list[Path]:
    """Every regular file below `root`, sorted, hidden files and folders excluded."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    return sorted(files)


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


def iter_ingest(
    root: Path, registry: pa.Table, cfg: IngestConfig, run_id: str, now: datetime, tally: IngestTally
) -> Iterator[pa.RecordBatch]:
    """stg_pages record batches (≤ max_batch_rows rows, ≈ max_batch_bytes payload) of every new or changed file
    under `root`; quarantine and `ingested_files` rows and counters go to `tally`."""
    if not Path(root).is_dir():
        raise FileNotFoundError(f"raw folder {root} does not exist (or is not a folder)")
    seen_stat, seen_sha = _registry_index(registry) if not cfg.full else (set(), set())
    rows: list[dict[str, Any]] = []
    n_bytes = 0
    for path in list_raw_files(root):
        rel = path.relative_to(root).as_posix()
        stat = path.stat()
        if (rel, stat.st_size, stat.st_mtime_ns) in seen_stat:
            tally.files_skipped += 1
            continue
        file_sha = file_sha256(path)
        if (rel, file_sha) in seen_sha:
            tally.files_skipped += 1
            continue
        n_records = 0
        for item in read_file(path, stat.st_size, cfg):
            n_records += 1
            if isinstance(item, Reject):
                tally.quarantine.append(quarantine_row(rel + item.locator, STAGE, item.reason, item.message, run_id))
                tally.reasons[item.reason] += 1
                continue
            rows.append(_page_row(item, rel + item.locator, file_sha, now, run_id))
            n_bytes += item.size_bytes
            tally.n_pages += 1
            tally.n_payload_bytes += item.size_bytes
            if len(rows) >= cfg.max_batch_rows or n_bytes >= cfg.max_batch_bytes:
                advance(len(rows))
                yield pa.RecordBatch.from_pylist(rows, schema=STG_PAGES.arrow_schema)
                rows, n_bytes = [], 0
        tally.files.append(
            {
                "path": rel,
                "size_bytes": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "sha256": file_sha,
                "n_records": n_records,
                "run_id": run_id,
            }
        )
    if rows:
        advance(len(rows))
        yield pa.RecordBatch.from_pylist(rows, schema=STG_PAGES.arrow_schema)


def ingest_dumps(
    root: Path, registry: pa.Table, cfg: IngestConfig, run_id: str, now: datetime, out: Path | None = None
) -> StageResult:
    """Read every new or changed file under `root` into stg_pages rows; bad input becomes quarantine rows.

    With `out`, the rows are written batch by batch to the spill `out/kept.parquet` (memory stays bounded by
    the batch size); without, they are returned in memory."""
    tally = IngestTally()
    batches = iter_ingest(root, registry, cfg, run_id, now, tally)
    if out is None:
        kept: Rows = pa.Table.from_batches(list(batches), STG_PAGES.arrow_schema)
    else:
        kept = write_spill(Path(out) / "kept.parquet", STG_PAGES, batches)
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
    root: Path, warehouse: Path, cfg: IngestConfig, run_id: str, now: datetime, out: Path | None = None
) -> StageResult:
    registry = read_current(warehouse, INGESTED_FILES)
    # a rerun of this run (`--from ingest` after a kill past the registry's commit) reads its own files again
    registry = registry.filter(pc.not_equal(registry["run_id"], run_id))
    return ingest_dumps(root, registry, cfg, run_id, now, out)
