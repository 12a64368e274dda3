"""`duplicates`: one row per raw record not published because it duplicates a published document."""

from __future__ import annotations

import pyarrow as pa

from schemas._table import Column, Table, between, in_set, matches, unique

DUPLICATE_KINDS = ("exact", "near", "contained", "superseded")
# what dedupe decided about a record (every column but its source_uri key and the run_id that wrote the row)
DECISION_COLUMNS = ("doc_id", "duplicate_of", "kind", "similarity", "url", "content_hash", "raw_key")

DUPLICATES = Table(
    name="duplicates",
    grain="one row per raw record that was not published because it duplicates `duplicate_of`",
    key=("source_uri",),
    description=(
        "Where else each story appeared: records folded into a published document. A record published on a later "
        "night (re-delivered with a body of its own) leaves this table in that run; one decided otherwise on a "
        "later night (or a line of a dump rewritten in another order that now holds another record) gets that "
        "night's row."
    ),
    columns=(
        Column(
            "source_uri",
            pa.string(),
            "Raw record that was not published.",
            nullable=False,
            expect=(unique("source_uri"),),
        ),
        Column("doc_id", pa.string(), "Id the record would have had.", nullable=False),
        Column("duplicate_of", pa.string(), "doc_id of the published document it duplicates.", nullable=False),
        Column(
            "kind",
            pa.string(),
            "exact (same normalised text), near (Jaccard ≥ threshold), contained (the same body once a leading "
            "menu run found in only one of the two pages is dropped: template residue), superseded (same URL, "
            "newer copy in the same run).",
            nullable=False,
            expect=(in_set("kind", DUPLICATE_KINDS),),
        ),
        Column(
            "similarity",
            pa.float64(),
            "Jaccard similarity of word 3-grams with duplicate_of (1.0 for exact; contained: without the residue run).",
            nullable=False,
            expect=(between("similarity", 0.0, 1.0),),
        ),
        Column("url", pa.string(), "URL of the duplicate record, when known."),
        Column("content_hash", pa.string(), "SHA-256 of the record's normalised body.", nullable=False),
        Column("run_id", pa.string(), "Run that found the duplicate.", nullable=False),
        Column(
            "raw_key",
            pa.string(),
            "First 16 hex digits of the SHA-256 of the raw_text the record was deduplicated with (UTF-8; HTML: "
            "the text extracted from it), as documents.raw_key: a record re-delivered with it on a night that "
            "defers its re-strip keeps this decision (docpipe run --restrip defer): this row, or at another "
            "source_uri a new row. Empty in rows written before the column.",
            expect=(matches("raw_key", r"^[0-9a-f]{16}$"),),
        ),
    ),
)
