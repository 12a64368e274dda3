"""Builders of validate's test nights: the seed pages through ingest → strip → dedupe → extract, and one value
changed at a time (tests/tasks/test_validate*.py)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from helpers import clean, ingest, seed_dir

from schemas import DOCUMENTS
from tasks.dedupe import DedupeConfig, dedupe_pages
from tasks.extract import ExtractConfig, extract_fields


def seed_night(folder: Path) -> dict[str, pa.Table]:
    """The tables validate receives for the five seed pages."""
    raw = seed_dir(folder)
    pages = dedupe_pages(
        clean(ingest(raw).kept).kept, DOCUMENTS.empty().select(["doc_id", "content_hash"]), DedupeConfig()
    )
    result = extract_fields(pages.kept, ExtractConfig())
    return {"documents": result.kept, **result.outputs, "duplicates": pages.outputs["duplicates"]}


def set_value(table: pa.Table, column: str, row: int, value) -> pa.Table:
    """The table with one cell replaced."""
    values = table.column(column).to_pylist()
    values[row] = value
    return table.set_column(
        table.schema.get_field_index(column), column, pa.array(values, table.schema.field(column).type)
    )


def with_urls(docs: pa.Table, rows: range) -> pa.Table:
    """The documents with a URL on the given rows."""
    for row in rows:
        docs = set_value(docs, "url", row, f"https://mongolia.example.org/page-{row}")
    return docs


def with_copies(docs: pa.Table, n: int) -> pa.Table:
    """`n` more copies of every document under new doc_ids and titles (a night of several shards)."""
    parts = [docs]
    for i in range(n):
        copy = docs
        for column in ("doc_id", "title"):
            values = [f"{v}-copy{i}" for v in docs.column(column).to_pylist()]
            at = docs.schema.get_field_index(column)
            copy = copy.set_column(at, docs.schema.field(at), pa.array(values, pa.string()))
        parts.append(copy)
    return pa.concat_tables(parts)
