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
INGEST_LINK = "ingest.link"  # a symbolic link in raw/ (never followed) or a link member of an archive
INGEST_SPECIAL_FILE = "ingest.special_file"  # a FIFO, socket or device, in raw/ or as an archive member
INGEST_BAD_NAME = "ingest.bad_name"  # a file or member name that is not valid UTF-8
INGEST_FILE_CHANGED = "ingest.file_changed"  # the file changed or vanished while the run read it
INGEST_TEXT_TOO_LONG = "ingest.text_too_long"  # a page's decoded text is over IngestConfig.max_text_chars
INGEST_WARC_REVISIT = "ingest.warc_revisit"  # a WARC revisit record: the page's payload is not stored
BOILERPLATE_EMPTY_BODY = "boilerplate.empty_body"

# Why strip_boilerplate removed a line (counted per run in its stage stats, not quarantine reasons):
BOILERPLATE_REPEATED = "boilerplate.repeated"  # frequent on the sampled pages of the site or registered domain
BOILERPLATE_KNOWN_TEMPLATE = "boilerplate.known_template"  # frequent in some other group: template everywhere
BOILERPLATE_NAV_SHAPE = "boilerplate.nav_shape"  # navigation-shaped line of a leading/trailing navigation block
BOILERPLATE_RUN_GAP = "boilerplate.run_gap"  # letter-free or short line between template lines of one run
REMOVED_LINE_REASONS = (
    BOILERPLATE_REPEATED,
    BOILERPLATE_KNOWN_TEMPLATE,
    BOILERPLATE_NAV_SHAPE,
    BOILERPLATE_RUN_GAP,
)

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
    INGEST_LINK,
    INGEST_SPECIAL_FILE,
    INGEST_BAD_NAME,
    INGEST_FILE_CHANGED,
    INGEST_TEXT_TOO_LONG,
    INGEST_WARC_REVISIT,
    BOILERPLATE_EMPTY_BODY,
)
