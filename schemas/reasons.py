"""Reason codes for quarantine rows, `<stage>.<cause>`, declared once. Validation reasons are derived from
the expectations in each table declaration (see `schemas._table.Expect.reason`)."""

from __future__ import annotations

INGEST_EMPTY = "ingest.empty_file"
INGEST_BINARY = "ingest.binary_file"
INGEST_TOO_LARGE = "ingest.too_large"
INGEST_BAD_JSON = "ingest.bad_json"
INGEST_NO_TEXT = "ingest.no_text"
INGEST_TRUNCATED = "ingest.truncated"
INGEST_UNSAFE_PATH = "ingest.unsafe_path"
INGEST_ARCHIVE_BOMB = "ingest.archive_bomb"
INGEST_UNREADABLE = "ingest.unreadable"
INGEST_UNSUPPORTED_MEDIA = "ingest.unsupported_media"
BOILERPLATE_EMPTY_BODY = "boilerplate.empty_body"

# Why strip_boilerplate removed a line (counted per run in its stage stats, not quarantine reasons):
BOILERPLATE_REPEATED = "boilerplate.repeated"  # frequent on the sampled pages of the site or registered domain
BOILERPLATE_KNOWN_TEMPLATE = "boilerplate.known_template"  # frequent in some other group: template everywhere
BOILERPLATE_RUN_GAP = "boilerplate.run_gap"  # letter-free or short line between template lines of one run
REMOVED_LINE_REASONS = (BOILERPLATE_REPEATED, BOILERPLATE_KNOWN_TEMPLATE, BOILERPLATE_RUN_GAP)

ALL = (
    INGEST_EMPTY,
    INGEST_BINARY,
    INGEST_TOO_LARGE,
    INGEST_BAD_JSON,
    INGEST_NO_TEXT,
    INGEST_TRUNCATED,
    INGEST_UNSAFE_PATH,
    INGEST_ARCHIVE_BOMB,
    INGEST_UNREADABLE,
    INGEST_UNSUPPORTED_MEDIA,
    BOILERPLATE_EMPTY_BODY,
)
