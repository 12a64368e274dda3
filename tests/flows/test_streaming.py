"""A run walks its stage outputs a chunk (and a shard) at a time: the published warehouse depends on neither size.

The corpus dump (../shared/corpus, copied into the test's temporary raw folder) is run once with the default chunk size
(one chunk) and once in chunks and shards of 7 rows: every stage then sees dozens of them (the template sample, the
dedupe decisions and validation still cover the whole night), and the tables must come out the same.
"""

from __future__ import annotations

import shutil

import pytest
from helpers import CORPUS

from flows.nightly import nightly
from schemas import BOILERPLATE_PAGES, CONTACTS, DOCUMENTS, DUPLICATES, MENTIONS, PROJECTS
from tasks._spill import Spill
from tasks._warehouse import read_current

COMPARED = (
    (DOCUMENTS, ["doc_id", "title", "text", "language", "doc_type", "site", "content_hash"]),
    (DUPLICATES, ["source_uri", "duplicate_of", "kind"]),
    (PROJECTS, ["doc_id", "projects_id", "budget_usd"]),
    (CONTACTS, ["contact_id", "doc_id"]),
    (MENTIONS, ["mention_id", "doc_id"]),
    (BOILERPLATE_PAGES, ["site", "page_key"]),
)


def _run(tmp_path, name: str, chunk_rows: int, monkeypatch):
    raw = tmp_path / name / "raw"
    raw.mkdir(parents=True)
    shutil.copy(CORPUS / "pages.jsonl", raw / "pages.jsonl")  # a temporary copy: ingest follows no link
    warehouse = tmp_path / name / "warehouse"
    summary = nightly(str(raw), str(warehouse), name, shard_rows=chunk_rows, chunk_rows=chunk_rows)
    tables = {t.name: sorted(map(str, read_current(warehouse, t, cols).to_pylist())) for t, cols in COMPARED}
    return summary, tables, warehouse


@pytest.mark.parametrize("chunk_rows", [7])
def test_chunked_run_publishes_what_a_one_chunk_run_does(tmp_path, monkeypatch, chunk_rows):
    whole, whole_tables, _ = _run(tmp_path, "whole", 100_000, monkeypatch)
    chunked, chunked_tables, warehouse = _run(tmp_path, "chunked", chunk_rows, monkeypatch)

    assert chunked.status == whole.status == "succeeded"
    counts = ("n_read", "n_new", "n_updated", "n_unchanged", "n_duplicates", "n_quarantined")
    assert [chunked.row[k] for k in counts] == [whole.row[k] for k in counts]
    assert whole.row["n_read"] == 229 and whole.row["n_new"] > 200
    for name, rows in whole_tables.items():
        assert chunked_tables[name] == rows, name
    # the stages really worked a shard at a time: one part file per shard
    extracted = Spill(warehouse / "_runs" / "chunked" / "extract" / "kept")
    assert len(extracted.files) >= whole.row["n_new"] // chunk_rows
