"""Read raw dumps into page records, skipping files already ingested.

In: the raw root (a folder) and the `ingested_files` registry. Out: stg_pages (schemas/stg_pages.py), one row per
raw record (a .txt/.html file, a JSON line), plus new `ingested_files` rows in `outputs`.
Quarantines: ingest.empty_file, ingest.binary_file, ingest.too_large, ingest.bad_json, ingest.no_text,
ingest.unreadable. State: `ingested_files` (read; the new rows are returned for publish to append).

Formats are chosen by sniffing the first bytes, with the extension only as a hint. Each format supplies a
reader "bytes → records"; opening, hashing, decoding, provenance and quarantine are written once here.
Text files may start with a header block of `Key: value` lines beginning with `URL:` and ended by a blank
line (keys URL, Title, Fetched-At); other files are the page text as is.
Undecodable UTF-8 is decoded with charset detection (charset-normalizer), falling back to UTF-8 with
replacement characters; the choice is recorded in `decode_note`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from charset_normalizer import from_bytes
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas import INGESTED_FILES, STG_PAGES, reasons
from tasks._stage import StageResult, quarantine_row, quarantine_table, sha256_hex
from tasks._warehouse import read_current

STAGE = "ingest"
_SNIFF_BYTES = 8192


@dataclass(frozen=True, slots=True)
class IngestConfig:
    max_file_bytes: int = 4 * 1024**3  # larger files are quarantined as ingest.too_large
    full: bool = False  # re-read files the registry lists as already ingested


@dataclass(slots=True)
class Record:
    """One page read from a dump; `locator` is appended to the file path in source_uri."""

    locator: str = ""
    text: str | None = None
    html: str | None = None
    url: str | None = None
    title: str | None = None
    fetched_at: str | None = None
    meta: dict[str, str] | None = None
    size_bytes: int = 0
    decode_note: str | None = None
    format: str = "txt"


@dataclass(slots=True)
class Reject:
    """A part of a dump that cannot become a record."""

    locator: str
    reason: str
    message: str


Reader = Callable[[bytes], Iterator[Record | Reject]]


# ---- decoding and sniffing -------------------------------------------------------------------------------------


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return bool(head) and controls / len(head) > 0.1


def decode_bytes(data: bytes) -> tuple[str, str | None]:
    """Decode page bytes: UTF-8 first, then the detected charset, then UTF-8 with replacement.

    Windows-1252 (the web's default for Western pages) wins over charset-normalizer's first guess when it
    decodes the sample at least as cleanly: short French or Portuguese text otherwise comes back as cp775/cp1250.
    """
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    sample = data[:1_000_000]
    best = from_bytes(sample).best()
    western = from_bytes(sample, cp_isolation=["cp1252"]).best()
    if western is not None and (best is None or western.chaos <= best.chaos):
        best = western
    if best is not None:
        try:
            return data.decode(best.encoding), best.encoding
        except (UnicodeDecodeError, LookupError):
            pass
    return data.decode("utf-8", errors="replace"), "utf-8-replace"


def sniff_format(head: bytes, name: str) -> str:
    """Format of a file from its first bytes; the extension only breaks ties."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if _looks_binary(head):
        return "binary"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    if text.startswith(b"{") and (
        name.endswith((".jsonl", ".json", ".ndjson")) or b"\n{" in head or head.count(b"\n") <= 1
    ):
        return "jsonl"
    if text.startswith((b"<!doctype html", b"<html", b"<?xml")) or (
        name.endswith((".html", ".htm")) and text.startswith(b"<")
    ):
        return "html"
    return "txt"


# ---- readers: bytes → records ----------------------------------------------------------------------------------

_HEADER_KEYS = {"url": "url", "title": "title", "fetched-at": "fetched_at", "fetched_at": "fetched_at"}


def _split_text_header(text: str) -> tuple[dict[str, str], str]:
    if text[:4].lower() != "url:":
        return {}, text
    head, sep, body = text.partition("\n\n")
    fields: dict[str, str] = {}
    for line in head.splitlines():
        key, colon, value = line.partition(":")
        if not colon or key.strip().lower() not in _HEADER_KEYS:
            return {}, text
        fields[_HEADER_KEYS[key.strip().lower()]] = value.strip()
    return fields, body if sep else ""


def read_txt(data: bytes) -> Iterator[Record | Reject]:
    text, note = decode_bytes(data)
    header, body = _split_text_header(text)
    yield Record(text=body, size_bytes=len(data), decode_note=note, **header)


def read_html(data: bytes) -> Iterator[Record | Reject]:
    html, note = decode_bytes(data)
    yield Record(html=html, size_bytes=len(data), decode_note=note, format="html")


_JSONL_FIELDS = ("url", "text", "html", "title", "fetched_at")


def read_jsonl(data: bytes) -> Iterator[Record | Reject]:
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        locator = f"#line={number}"
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield Reject(locator, reasons.INGEST_BAD_JSON, f"line {number} is not valid JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            yield Reject(locator, reasons.INGEST_BAD_JSON, f"line {number} is not a JSON object")
            continue
        fields = {k: obj.get(k) if isinstance(obj.get(k), str) else None for k in _JSONL_FIELDS}
        meta = {
            k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            for k, v in obj.items()
            if k not in _JSONL_FIELDS
        }
        yield Record(locator=locator, meta=meta or None, size_bytes=len(line), format="jsonl", **fields)


READERS: dict[str, Reader] = {"txt": read_txt, "html": read_html, "jsonl": read_jsonl}


# ---- files → records or quarantine -----------------------------------------------------------------------------


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def list_raw_files(root: Path) -> list[Path]:
    """Every regular file below `root`, sorted, hidden files and folders excluded."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    return sorted(files)


def _read_payload(path: Path, head: bytes) -> tuple[str, bytes]:
    """(format, bytes) of a file; gzip is opened transparently and sniffed again inside."""
    if head[:2] == b"\x1f\x8b":
        data = gzip.decompress(path.read_bytes())
        inner = path.name[:-3] if path.name.endswith(".gz") else path.name
        return sniff_format(data[:_SNIFF_BYTES], inner.lower()), data
    return sniff_format(head, path.name.lower()), path.read_bytes()


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


def ingest_dumps(root: Path, registry: pa.Table, cfg: IngestConfig, run_id: str, now: datetime) -> StageResult:
    """Read every new or changed file under `root` into stg_pages rows; bad input becomes quarantine rows."""
    seen_stat, seen_sha = _registry_index(registry) if not cfg.full else (set(), set())
    pages: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    n_skipped = 0
    for path in list_raw_files(root):
        rel = path.relative_to(root).as_posix()
        stat = path.stat()
        if (rel, stat.st_size, stat.st_mtime_ns) in seen_stat:
            n_skipped += 1
            continue
        file_sha = _file_sha256(path)
        if (rel, file_sha) in seen_sha:
            n_skipped += 1
            continue
        n_before = len(pages) + len(rejects)
        for item in _read_file(path, rel, stat.st_size, cfg):
            if isinstance(item, Reject):
                rejects.append(quarantine_row(rel + item.locator, STAGE, item.reason, item.message, run_id))
            else:
                pages.append(_page_row(item, rel + item.locator, file_sha, now, run_id))
        files.append(
            {
                "path": rel,
                "size_bytes": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "sha256": file_sha,
                "n_records": len(pages) + len(rejects) - n_before,
                "run_id": run_id,
            }
        )
    kept = STG_PAGES.conform(pages)
    quarantined = quarantine_table(rejects)
    stats = {"files_read": len(files), "files_skipped": n_skipped, "read": kept.num_rows + quarantined.num_rows}
    for row in rejects:
        stats[f"quarantined.{row['reason']}"] = stats.get(f"quarantined.{row['reason']}", 0) + 1
    return StageResult(
        kept, quarantined, stats, outputs={"ingested_files": INGESTED_FILES.conform(files)}, n_in=stats["read"]
    )


def _read_file(path: Path, rel: str, size: int, cfg: IngestConfig) -> Iterator[Record | Reject]:
    """Records of one file, or the Reject that explains why there are none."""
    if size == 0:
        yield Reject("", reasons.INGEST_EMPTY, "file is empty")
        return
    if size > cfg.max_file_bytes:
        yield Reject("", reasons.INGEST_TOO_LARGE, f"{size} bytes > max_file_bytes={cfg.max_file_bytes}")
        return
    try:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
        fmt, data = _read_payload(path, head)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        yield Reject("", reasons.INGEST_UNREADABLE, f"cannot read {rel}: {exc}")
        return
    if fmt == "binary":
        yield Reject("", reasons.INGEST_BINARY, f"{rel} looks binary (NUL or control bytes in its first 8 KiB)")
        return
    if not data.strip():
        yield Reject("", reasons.INGEST_EMPTY, "file holds only whitespace")
        return
    for item in READERS[fmt](data):
        if isinstance(item, Record) and not (item.text or "").strip() and not (item.html or "").strip():
            yield Reject(item.locator, reasons.INGEST_NO_TEXT, "record has neither text nor html")
        else:
            yield item


@task(name="ingest", cache_policy=NO_CACHE)
def ingest_dumps_task(root: Path, warehouse: Path, cfg: IngestConfig, run_id: str, now: datetime) -> StageResult:
    return ingest_dumps(root, read_current(warehouse, INGESTED_FILES), cfg, run_id, now)
