"""IngestConfig: the ingest stage's limits and switches (the framing and the readers take them from here)."""

from __future__ import annotations

from dataclasses import dataclass

STAGE = "ingest"  # the stage of its quarantine rows


@dataclass(frozen=True, slots=True)
class IngestConfig:
    max_file_bytes: int = 4 * 1024**3  # larger raw files are quarantined as ingest.too_large
    max_record_bytes: int = 16 * 1024**2  # one page (a .txt/.html payload, a JSON line, a WARC body): too_large
    max_text_chars: int = 2_000_000  # a page's decoded text longer than this: text_too_long (web pages ≪ 200 000)
    max_member_bytes: int = 8 * 1024**3  # an archive member or a decompressed gzip stream: archive_bomb
    max_expansion_ratio: float = 200.0  # decompressed / stored bytes above this: archive_bomb (text packs ≤ ~20)
    min_ratio_check_bytes: int = 1024**2  # the ratio is only judged past this many decompressed bytes
    max_nesting_depth: int = 4  # gzip/zip/tar layers inside one file (a .tar.gz is 2): deeper is archive_bomb
    max_batch_bytes: int = 32 * 1024**2  # stg_pages batches are cut at this many payload bytes (or Sizes.chunk_rows)
    full: bool = False  # re-read files the registry lists as already ingested
