"""What changed in `documents` between two complete runs (not a stage; reads the warehouse).

Out: one row per document added, updated (same doc_id, new text, raw text or contact block) or removed between
the two runs' versions, plus one row per record newly flagged as a duplicate. A document added from a raw record that
another document came from at the first run (same source_uri, new doc_id: pages without URL are keyed by body)
names that document in `replaces_doc_id`. The earlier run may be BEFORE_FIRST_RUN (the empty warehouse): then
every document of the later run is `added` and `run_before` is null.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa

from handoff.versions import RunVersions
from schemas import DOCUMENTS, DUPLICATES
from schemas.documents import VERSION_COLUMNS
from tasks._warehouse import read_current
from tasks.dedupe.version import version_hash

ADDED, UPDATED, REMOVED, DUPLICATE = "added", "updated", "removed", "duplicate"
CHANGES = (ADDED, UPDATED, REMOVED, DUPLICATE)

DIFF_SCHEMA = pa.schema(
    [
        pa.field("change", pa.string(), False, {"doc": "added, updated, removed or duplicate (newly flagged)."}),
        pa.field("doc_id", pa.string(), False, {"doc": "Document (for duplicate: the id the record would have had)."}),
        pa.field("source_uri", pa.string(), True, {"doc": "Raw record of the document or duplicate."}),
        pa.field("url", pa.string(), True, {"doc": "Page URL, when known."}),
        pa.field("title", pa.string(), True, {"doc": "Title (at the later run; at the earlier run if removed)."}),
        pa.field("content_hash_before", pa.string(), True, {"doc": "content_hash at the earlier run."}),
        pa.field("content_hash_after", pa.string(), True, {"doc": "content_hash at the later run."}),
        pa.field("replaces_doc_id", pa.string(), True, {"doc": "Earlier document from the same source_uri."}),
        pa.field("duplicate_of", pa.string(), True, {"doc": "Published document a new duplicate folds into."}),
        pa.field("duplicate_kind", pa.string(), True, {"doc": "exact, near or superseded."}),
        pa.field("run_before", pa.string(), True, {"doc": "Earlier run id (null: the empty warehouse)."}),
        pa.field("run_after", pa.string(), False, {"doc": "Later run id."}),
    ]
)

_DOC_COLUMNS = ["doc_id", "source_uri", "url", "title", "content_hash"]
_DUP_COLUMNS = ["source_uri", "doc_id", "duplicate_of", "kind", "url"]


def _by(rows: list[dict], key: str) -> dict[str, dict]:
    return {r[key]: r for r in rows}


def diff_runs(warehouse: Path, before: RunVersions, after: RunVersions) -> pa.Table:
    """Documents added, updated, removed or newly flagged duplicate between two runs, sorted by change, source."""

    def docs(run: RunVersions) -> dict[str, dict]:
        """The run's documents, each with the hash of what it publishes (an edit after the contact block too)."""
        version = run.version(DOCUMENTS)
        if version is None:
            return {}
        data = read_current(warehouse, DOCUMENTS, [*_DOC_COLUMNS, *VERSION_COLUMNS], version)
        published = zip(*(data.column(c).to_pylist() for c in VERSION_COLUMNS), strict=True)
        hashes = pa.array([version_hash(values) for values in published], pa.string())
        return _by(data.drop_columns(list(VERSION_COLUMNS)).append_column("version", hashes).to_pylist(), "doc_id")

    def dups(run: RunVersions) -> dict[str, dict]:
        version = run.version(DUPLICATES)
        data = read_current(warehouse, DUPLICATES, _DUP_COLUMNS, version) if version is not None else None
        return _by(data.to_pylist() if data is not None else [], "source_uri")

    old, new = docs(before), docs(after)
    old_by_source = {d["source_uri"]: d["doc_id"] for d in old.values()}
    rows = []

    def row(change: str, doc: dict, **extra) -> dict:
        base = {name: doc.get(name) for name in ("doc_id", "source_uri", "url", "title")}
        return {**base, "change": change, "run_before": before.run_id or None, "run_after": after.run_id, **extra}

    for doc_id, doc in new.items():
        if doc_id not in old:
            previous = old_by_source.get(doc["source_uri"])
            rows.append(row(ADDED, doc, content_hash_after=doc["content_hash"], replaces_doc_id=previous))
        elif old[doc_id]["version"] != doc["version"]:
            rows.append(
                row(
                    UPDATED,
                    doc,
                    content_hash_before=old[doc_id]["content_hash"],
                    content_hash_after=doc["content_hash"],
                )
            )
    for doc_id, doc in old.items():
        if doc_id not in new:
            rows.append(row(REMOVED, doc, content_hash_before=doc["content_hash"]))
    old_dups = dups(before)
    for source, dup in dups(after).items():
        if source not in old_dups:
            rows.append(row(DUPLICATE, dup, duplicate_of=dup["duplicate_of"], duplicate_kind=dup["kind"]))
    rows.sort(key=lambda r: (CHANGES.index(r["change"]), r["source_uri"] or "", r["doc_id"]))
    return pa.Table.from_pylist(rows, schema=DIFF_SCHEMA)


def count_changes(changes: pa.Table) -> dict[str, int]:
    """Number of changes of each kind that occurs, in CHANGES order."""
    counts = Counter(changes.column("change").to_pylist())
    return {kind: counts[kind] for kind in CHANGES if counts[kind]}
