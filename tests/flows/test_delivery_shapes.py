"""One real page delivered four ways without URL (a .txt file, a zip member, a JSON line, a WARC record), run
through the real `nightly` flow: one document and three duplicates, each with its own provenance."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from helpers import SEEDS
from warcio.warcwriter import WARCWriter

from flows.nightly import nightly
from schemas import DOCUMENTS, DUPLICATES
from tasks._warehouse import read_current


def _four_ways(raw, page: bytes) -> None:
    (raw / "page.txt").write_bytes(page)
    with zipfile.ZipFile(raw / "bundle.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("page.txt", page)
    (raw / "dump.jsonl").write_text(json.dumps({"text": page.decode()}) + "\n")
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False)
    # a resource record of a local file: its WARC-Target-URI is a file name, not a page address
    record = writer.create_warc_record("page.txt", "resource", payload=io.BytesIO(page), warc_content_type="text/plain")
    writer.write_record(record)
    (raw / "archive.warc").write_bytes(buf.getvalue())


@pytest.fixture(scope="module")
def four_ways_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("four_ways")
    raw, warehouse = base / "raw", base / "warehouse"
    raw.mkdir()
    (seed,) = sorted(SEEDS.glob("000_*.txt"))
    _four_ways(raw, seed.read_bytes())
    summary = nightly(str(raw), str(warehouse), "four-ways")
    return summary, read_current(warehouse, DOCUMENTS).to_pylist(), read_current(warehouse, DUPLICATES).to_pylist()


def test_one_page_four_ways_is_one_document_and_three_duplicates(four_ways_run):
    summary, docs, dups = four_ways_run
    assert summary.status == "succeeded"
    (doc,) = docs
    uris = {"page.txt", "bundle.zip#member=page.txt", "dump.jsonl#line=1", "archive.warc#offset=0"}
    assert {doc["source_uri"]} | {d["source_uri"] for d in dups} == uris and len(dups) == 3
    # every copy names the published document (the zip member and the JSON line share a body id with the WARC
    # record, which is itself a copy of page.txt: never an unpublished id)
    assert all(d["duplicate_of"] == doc["doc_id"] for d in dups)
    assert {d["kind"] for d in dups} <= {"exact", "near", "contained"}
    assert doc["url"] is None and all(d["url"] is None for d in dups)  # a file name is not a URL


def test_the_published_copy_has_no_menu(four_ways_run):
    _, (doc,), _ = four_ways_run
    assert doc["title"] == "IOM Director General to Visit Mongolia, Open IOM Office"
    assert not {line.strip() for line in doc["text"].splitlines()} & {"Who we are", "Take Action", "Get involved"}
