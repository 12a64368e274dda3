"""`documents`: one row per distinct published page."""

from __future__ import annotations

import pyarrow as pa

from schemas._table import (
    Column,
    Table,
    between,
    in_set,
    matches,
    not_null,
    not_repeated_in_site,
    not_template_line,
    row_count_vs_recent_runs,
    unique,
)

EMAIL_REGEX = r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$"
DOC_TYPES = ("news", "project", "country", "story", "page")
TITLE_SOURCES = ("metadata", "url_slug", "heading", "first_line")
# Titles the page itself vouches for: exempt from the template-line check (a listing page is titled by its heading).
VOUCHED_TITLE_SOURCES = ("url_slug", "heading")
# What a document publishes from its page: a re-delivered page is `unchanged` only when all three are identical to
# the published row, else it is an update (content_hash, the normalised body, only decides duplicates).
VERSION_COLUMNS = ("raw_text", "text", "contact_text")
# ISO 639-1 codes langdetect can return, plus `und` for text too short to call.
LANGUAGES = (
    "af",
    "ar",
    "bg",
    "bn",
    "ca",
    "cs",
    "cy",
    "da",
    "de",
    "el",
    "en",
    "es",
    "et",
    "fa",
    "fi",
    "fr",
    "gu",
    "he",
    "hi",
    "hr",
    "hu",
    "id",
    "it",
    "ja",
    "kn",
    "ko",
    "lt",
    "lv",
    "mk",
    "ml",
    "mr",
    "ne",
    "nl",
    "no",
    "pa",
    "pl",
    "pt",
    "ro",
    "ru",
    "sk",
    "sl",
    "so",
    "sq",
    "sv",
    "sw",
    "ta",
    "te",
    "th",
    "tl",
    "tr",
    "uk",
    "ur",
    "vi",
    "zh",
    "und",
)

DOCUMENTS = Table(
    name="documents",
    grain="one row per distinct published page (duplicates are in `duplicates`)",
    key=("doc_id",),
    description="Clean pages: boilerplate-free text and the fields extracted from it.",
    columns=(
        Column(
            "doc_id",
            pa.string(),
            "Stable id: SHA-256 of the canonical URL, else of the normalised body.",
            nullable=False,
            expect=(unique("doc_id"),),
        ),
        Column("url", pa.string(), "Page URL as given by the dump, when known (plain-text dumps often have none)."),
        Column(
            "site",
            pa.string(),
            "Template group: host without www., else a fingerprint of the leading lines (null for an HTML page "
            "without URL).",
            # measured over pages with a URL: a folder of saved pages without URLs legitimately has no site
            expect=(not_null("site", mostly=0.8, where="url"),),
        ),
        Column(
            "source_uri",
            pa.string(),
            "Raw record the row comes from (path relative to raw/, plus locator).",
            nullable=False,
        ),
        Column("source_sha256", pa.string(), "SHA-256 of the raw file the row comes from."),
        Column("format", pa.string(), "Input format of the raw record (txt, html, jsonl, warc)."),
        Column("raw_title", pa.string(), "Title given by the dump or the HTML metadata, when any."),
        Column(
            "title",
            pa.string(),
            "Page title.",
            nullable=False,
            expect=(not_template_line("title"), not_repeated_in_site("title", mostly=0.5)),
        ),
        Column(
            "title_source",
            pa.string(),
            "Rule that found the title: metadata (dump field or HTML), url_slug (the line the URL spells), heading "
            "(a short template heading, on listing pages) or first_line.",
            nullable=False,
            expect=(in_set("title_source", TITLE_SOURCES),),
        ),
        Column(
            "doc_type",
            pa.string(),
            "Kind of page: " + ", ".join(DOC_TYPES) + ".",
            nullable=False,
            expect=(in_set("doc_type", DOC_TYPES),),
        ),
        Column(
            "language",
            pa.string(),
            "ISO 639-1 code of the body (navigation excluded); `und` if too short.",
            nullable=False,
            expect=(in_set("language", LANGUAGES),),
        ),
        Column(
            "language_confidence",
            pa.float64(),
            "langdetect probability of `language` (0–1).",
            expect=(between("language_confidence", 0.0, 1.0),),
        ),
        Column("text", pa.string(), "Body text without site boilerplate and contact block.", nullable=False),
        Column("word_count", pa.int32(), "Words in `text`.", nullable=False, expect=(between("word_count", 0),)),
        Column("dateline", pa.string(), 'Place named by the dateline opening the body ("Ulaanbaatar - …").'),
        Column("published_date", pa.date32(), "Publication date the page states (dateline or date line), if any."),
        Column(
            "countries",
            pa.list_(pa.string()),
            "ISO 3166 alpha-3 codes of the countries the title and text name.",
            expect=(matches("countries", r"^[A-Z]{3}$"),),
        ),
        Column(
            "emails",
            pa.list_(pa.string()),
            "E-mail addresses found on the page, lower-cased.",
            pii=True,
            expect=(matches("emails", EMAIL_REGEX),),
        ),
        Column("contact_text", pa.string(), "Contact block cut from the body, as captured.", pii=True),
        Column("raw_text", pa.string(), "Page text as captured, before boilerplate stripping (for audits)."),
        Column("n_boilerplate_lines", pa.int32(), "Lines removed from raw_text as site boilerplate.", nullable=False),
        Column(
            "content_hash",
            pa.string(),
            "SHA-256 of the normalised body (NFKC, case-folded, spaces collapsed): documents sharing it are exact "
            "duplicates. A re-delivered page is an update when its raw_text, text or contact_text differ, even if "
            "this stays the same (an edit after the contact block).",
            nullable=False,
            expect=(matches("content_hash", r"^[0-9a-f]{64}$"),),
        ),
        Column("fetched_at", pa.timestamp("us", tz="UTC"), "When the scraper fetched the page, when known."),
        Column("ingested_at", pa.timestamp("us", tz="UTC"), "When the pipeline read the raw record.", nullable=False),
        Column("run_id", pa.string(), "Run that published this version of the row.", nullable=False),
        Column(
            "line_keys",
            pa.list_(pa.int64()),
            "Fingerprints of the raw_text lines the boilerplate strip looked up in its template models (signed "
            "64-bit, as in the template sample), sorted: what the re-strip reads to find the documents a change "
            "of their site's template may touch. A few more values, fingerprints of no text line, mark what the "
            "strip did not do or find (tasks/strip_boilerplate/model.py, MARKS): check the page for copies of "
            "itself (NO_COPY_CHECK: lines counted once in the sample then reach it only through their counts) or "
            "find any (NO_COPIES), look for its variants in its site's model (NO_SITE_WALK) or in its registered "
            "domain's (NO_DOMAIN_WALK: lines of that model then reach it only through their counts), or find two "
            "there (NO_SITE_MERGE, NO_DOMAIN_MERGE). Some look-ups are stored as the line's fingerprint with a "
            "constant folded in: a line looked for variants on (model.doubt_key), a line asked whether it is on "
            "two sampled pages (model.twice_key, with the mark TWICE_KEYED). Null for "
            "HTML pages and for rows published before docpipe stored them (rows written by an earlier docpipe "
            "hold every line's, or no mark: more than it reads).",
        ),
        Column(
            "raw_key",
            pa.string(),
            "First 16 hex digits of the SHA-256 of raw_text's UTF-8 bytes (DuckDB: left(sha256(raw_text), 16)): "
            "how a re-delivered page is recognised unchanged without reading raw_text. Null without raw_text, and "
            "for rows published before docpipe stored it until publish rewrites their file.",
            expect=(matches("raw_key", r"^[0-9a-f]{16}$"),),
        ),
    ),
    expect=(row_count_vs_recent_runs(),),
)
