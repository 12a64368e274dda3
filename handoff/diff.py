"""What changed in `documents` between two complete runs (not a stage; reads the warehouse).

Out: `document_changes` rows (schemas/document_changes.py): one per document added, updated (same doc_id, new
text, raw text or contact block) or removed between the two runs' versions, plus one per record newly flagged as
a duplicate. A document added from a raw record that another document came from at the first run (same
source_uri, new doc_id: pages without URL are keyed by body) names that document in `replaces_doc_id`. The
earlier run may be BEFORE_FIRST_RUN (the empty warehouse): then
every document of the later run is `added` and `run_before` is null.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa

from handoff.versions import RunVersions
from schemas import DOCUMENT_CHANGES, DOCUMENTS, DUPLICATES
from schemas.document_changes import ADDED, CHANGES, DUPLICATE, REMOVED, UPDATED
from schemas.documents import VERSION_COLUMNS
from tasks._warehouse import read_current
from tasks.dedupe.version import version_hash

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
    return DOCUMENT_CHANGES.conform(rows)


def count_changes(changes: pa.Table) -> dict[str, int]:
    """Number of changes of each kind that occurs, in CHANGES order."""
    counts = Counter(changes.column("change").to_pylist())
    return {kind: counts[kind] for kind in CHANGES if counts[kind]}
