"""`document_changes`: what changed in `documents` between two complete runs (`docpipe diff`, handoff/diff.py).
Derived on demand from two table versions, never stored in the warehouse."""

from __future__ import annotations

import pyarrow as pa

from schemas._table import Column, Table, in_set

ADDED, UPDATED, REMOVED, DUPLICATE = "added", "updated", "removed", "duplicate"
CHANGES = (ADDED, UPDATED, REMOVED, DUPLICATE)  # also the order diff rows are listed in

DOCUMENT_CHANGES = Table(
    name="document_changes",
    grain="one row per document added, updated or removed, or record newly flagged duplicate, between two runs",
    key=("change", "doc_id", "source_uri"),
    description="Output of `docpipe diff`: computed from two complete runs' versions, not a warehouse table.",
    published=False,
    columns=(
        Column(
            "change",
            pa.string(),
            "added, updated, removed or duplicate (newly flagged).",
            nullable=False,
            expect=(in_set("change", CHANGES),),
        ),
        Column("doc_id", pa.string(), "Document (for duplicate: the id the record would have had).", nullable=False),
        Column("source_uri", pa.string(), "Raw record of the document or duplicate."),
        Column("url", pa.string(), "Page URL, when known."),
        Column("title", pa.string(), "Title (at the later run; at the earlier run if removed)."),
        Column("content_hash_before", pa.string(), "content_hash at the earlier run."),
        Column("content_hash_after", pa.string(), "content_hash at the later run."),
        Column("replaces_doc_id", pa.string(), "Earlier document from the same source_uri."),
        Column("duplicate_of", pa.string(), "Published document a new duplicate folds into."),
        Column("duplicate_kind", pa.string(), "exact, near or superseded."),
        Column("run_before", pa.string(), "Earlier run id (null: the empty warehouse)."),
        Column("run_after", pa.string(), "Later run id.", nullable=False),
    ),
)
