"""In-flight page tables passed between stages (never shown to analysts)."""

from __future__ import annotations

import pyarrow as pa

from schemas._table import Column, Table
from schemas.documents import DOCUMENTS

_RECORDS = Table(
    name="stg_pages",
    grain="one row per raw record read (a file, a JSON line, a WARC record, an archive member)",
    key=("record_id",),
    published=False,
    columns=(
        Column("record_id", pa.string(), "Hash of source_uri: identifies the raw record.", nullable=False),
        Column(
            "source_uri",
            pa.string(),
            "Path relative to the raw root, plus #line=N / #member=NAME / #offset=N.",
            nullable=False,
        ),
        Column("source_sha256", pa.string(), "SHA-256 of the whole source file.", nullable=False),
        Column("size_bytes", pa.int64(), "Size of the record's raw payload in bytes.", nullable=False),
        Column("format", pa.string(), "Detected input format (txt, html, jsonl, warc).", nullable=False),
        Column("url", pa.string(), "Page URL when the dump gives one."),
        Column("fetched_at", pa.timestamp("us", tz="UTC"), "When the scraper fetched the page, when known."),
        Column("raw_title", pa.string(), "Title given by the dump or the HTML metadata, when any."),
        Column("raw_text", pa.string(), "Page text as captured (HTML pages: null until the boilerplate stage)."),
        Column("raw_html", pa.string(), "Raw HTML for HTML pages, else null."),
        Column("decode_note", pa.string(), "How bytes were decoded when not clean UTF-8 (e.g. 'cp1252'), else null."),
        Column("meta", pa.map_(pa.string(), pa.string()), "Extra fields of the dump record, kept as strings."),
        Column("ingested_at", pa.timestamp("us", tz="UTC"), "When this run read the record.", nullable=False),
        Column("run_id", pa.string(), "Run that read the record.", nullable=False),
    ),
)

RAW_OFFSET = "raw_offset"  # set where ingest left raw_text out (tasks/ingest/elide.py)

# what ingest reads, plus the key of its raw_text, taken where the text is read (ingest's shards) so strip's
# unchanged test reads 16 characters a record instead of the page; stripped rows do not carry it
STG_PAGES = _RECORDS.extend(
    "stg_pages",
    (
        Column(
            "raw_key",
            pa.string(),
            "First 16 hex digits of the SHA-256 of raw_text (documents.raw_key), null without raw_text (unless it was"
            " left out: raw_offset).",
        ),
        Column(
            RAW_OFFSET,
            pa.int64(),
            "Byte offset of the record's line in its JSON Lines file when ingest left raw_text out, its raw_key being"
            " published (strip reads the line again unless the record is unchanged: tasks/ingest/elide.py); else null.",
        ),
    ),
)

STG_CLEAN = _RECORDS.extend(
    "stg_clean",
    (
        Column("site", pa.string(), "Template group: host without www., or a fingerprint of the leading lines."),
        Column("text", pa.string(), "Body text without boilerplate and contact block.", nullable=False),
        Column("contact_text", pa.string(), "Contact block cut from the body ('For more information…'), if any."),
        Column("n_boilerplate_lines", pa.int32(), "Lines removed as site boilerplate.", nullable=False),
        Column("n_header_lines", pa.int32(), "Leading raw_text lines removed as the template header."),
        Column("title_hint", pa.string(), "Title found while stripping (HTML metadata or dump field)."),
        DOCUMENTS.column("line_keys"),
    ),
)

STG_UNIQUE = STG_CLEAN.extend(
    "stg_unique",
    (
        Column(
            "doc_id", pa.string(), "Stable document id: hash of the canonical URL, else of the content.", nullable=False
        ),
        Column("content_hash", pa.string(), "SHA-256 of the normalised body text.", nullable=False),
        Column(
            "is_update", pa.bool_(), "True when the document was published before with other content.", nullable=False
        ),
    ),
)

# documents rows in flight (extract → validate → publish): dedupe's is_update travels with each row, so validate
# counts the night's new and updated documents on the rows it keeps; publish's conform drops the column.
STG_DOCUMENTS = DOCUMENTS.extend("stg_documents", (STG_UNIQUE.column("is_update"),))
