"""Read raw dumps into page records, skipping files already ingested.

In: the raw root (a folder) and the `ingested_files` registry. Out: stg_pages (schemas/stg_pages.py), one row per
raw record (a .txt/.html file, a JSON line, a WARC response/resource record, each also inside archives), plus new
`ingested_files` rows in `outputs`. `iter_ingest` yields the same rows as bounded pa.RecordBatches.
Quarantines: ingest.empty_file, ingest.binary_file, ingest.too_large, ingest.bad_json, ingest.no_text,
ingest.truncated, ingest.unsafe_path, ingest.archive_bomb, ingest.unsupported_media, ingest.unreadable,
ingest.link, ingest.special_file, ingest.bad_name, ingest.file_changed, ingest.text_too_long, ingest.warc_revisit.
State: `ingested_files` (read; the new rows are returned for publish to append).

The walk (listing.py) never follows a symbolic link and never writes under the root: links (to files or
folders, inside or outside), FIFOs, sockets and devices, and names that are not UTF-8 are quarantined and
registered by their own status; a file is opened with O_NOFOLLOW and hashed and read through that one
descriptor. A file whose size or mtime changes while it is read keeps the records read but is not registered
(ingest.file_changed), so the next run reads it again; one that vanishes after the listing is file_changed too.
A record whose decoded text is over `max_text_chars` is ingest.text_too_long.

Formats (formats.py) are chosen by sniffing the first bytes, with the name only as a hint: plain text, HTML,
JSON Lines, WARC; containers gzip, zip and tar (framing.py) are opened as streams, nested up to
`max_nesting_depth`, never extracted to disk. Each format supplies a reader "stream → records"; opening,
decompression, archive members, limits, provenance and quarantine are written once (framing.py, stage.py).
Memory is bounded by `max_record_bytes` per record and `Sizes.chunk_rows`/`max_batch_bytes` per batch, not by
the size of a dump.

The flow runs `ingest_stage`: files in shards of ~`Sizes.shard_bytes` (shards.py), one shard task each where the
task runner puts it; a plain JSON Lines file larger than a shard is hashed and cut into line-aligned slices in one
read by the run process (slices.py), each slice its own shard, and registered once every slice is in.
`ingest_dumps` is the same work in one process (tests, bench scripts): both give the same rows, quarantine, registry
rows and stats (but for the raw texts the flow leaves out, below, and its `texts_left_out`). Every row carries
`raw_key`, the key of its raw_text (strip's unchanged test reads it instead of the text). A slice's record with a
URL whose raw_key the warehouse holds has its raw_text left out, with the byte offset of its line (`raw_offset`;
elide.py): strip reads it again if the record is not unchanged. Large dumps are hashed and cut by the CLI while
Prefect starts (ahead.py). A plain JSON Lines file that grew by appending to a version the registry holds (its first
bytes hash to that version's sha256, and that version ended at a line end) is read from where the version ended
only, line numbers counting on, and registered with both parts' records (`files_appended`); `ingest_dumps` reads it
whole.

Provenance: `source_uri` = path relative to the raw root, then `#member=NAME` per archive level (`#`/`%` in
names percent-encoded), then `#line=N` (JSON Lines, 1-based physical line) or `#offset=N` (WARC: byte offset of
the record in the uncompressed WARC stream); `source_sha256` of the raw file; `fetched_at` from the dump
(JSONL `fetched_at`, text header `Fetched-At:`, WARC-Date); `ingested_at`, `run_id`. Quarantine rows carry the
same `source_uri` (the payload's, for stream errors: truncated or corrupt files keep the records read before).

Text files may start with a header block of `Key: value` lines beginning with `URL:` and ended by a blank line
(keys URL, Title, Fetched-At); other files are the page text as is. JSONL lines: fields url, text or html,
title, fetched_at; other fields go to `meta` as strings. WARC: records other than response/resource hold no
page and are passed over; bodies other than HTML/plain text are ingest.unsupported_media; `meta` keeps
warc_record_id and http_status. Undecodable UTF-8 is decoded with charset detection (charset-normalizer),
falling back to UTF-8 with replacement characters; the choice is recorded in `decode_note`.
"""

from tasks._stage import lazy_exports
from tasks.ingest.batches import IngestTally, iter_ingest
from tasks.ingest.config import IngestConfig
from tasks.ingest.elide import restore_texts
from tasks.ingest.formats import READERS, Record, Reject, decode_bytes, sniff_format
from tasks.ingest.listing import list_raw_files

# stage.py's names are imported on first use (tasks/_stage.lazy_exports): a worker process reading a shard
# (shards.py) imports this package without Prefect (0.6 s a process, measured)
__getattr__ = lazy_exports(__name__, "stage", ("ingest_dumps", "ingest_dumps_task", "ingest_stage"))

__all__ = [
    "READERS",
    "IngestConfig",
    "IngestTally",
    "Record",
    "Reject",
    "decode_bytes",
    "ingest_dumps",
    "ingest_dumps_task",
    "ingest_stage",
    "iter_ingest",
    "list_raw_files",
    "restore_texts",
    "sniff_format",
]
