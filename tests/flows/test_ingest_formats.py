"""The real `nightly` flow on a mixed dump: one seed page delivered as .txt, inside a .jsonl, inside a .warc.gz
and inside a .zip is one document with four provenance trails; bad input is quarantined; records reconcile."""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import pytest
from helpers import seed_files
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from flows.nightly import nightly
from schemas import DOCUMENTS, DUPLICATES, INGESTED_FILES, QUARANTINE, reasons
from tasks._warehouse import read_current

URL = "https://www.iom.int/news/iom-director-general-visit-mongolia-open-iom-office"


def _warc_gz(url: str, text: str) -> bytes:
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/plain; charset=utf-8")], protocol="HTTP/1.1")
    writer.write_record(
        writer.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(text.encode()),
            http_headers=http,
            warc_headers_dict={"WARC-Date": "2026-11-20T08:00:00Z"},
        )
    )
    return buf.getvalue()


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("mixed")
    raw, warehouse = base / "raw", base / "warehouse"
    raw.mkdir()
    text = seed_files()[0].read_text()
    # Same URL on all four copies: doc_id is URL-based, so the four fold into one document (see the report).
    (raw / "page.txt").write_text(f"URL: {URL}\n\n{text}")
    others = [{"url": f"https://example.org/other/{i}", "text": f.read_text()} for i, f in enumerate(seed_files()[1:])]
    lines = [json.dumps(o) for o in others[:2]] + [json.dumps({"url": URL, "text": text}), "{broken"]
    (raw / "dump.jsonl").write_text("\n".join(lines) + "\n")
    (raw / "crawl.warc.gz").write_bytes(_warc_gz(URL, text))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("pages/page.txt", f"URL: {URL}\n\n{text}")
        zf.writestr("../escape.txt", text)
        zf.writestr("more.jsonl", "\n".join(json.dumps(o) for o in others[2:]) + "\n")
    (raw / "bundle.zip").write_bytes(buf.getvalue())
    (raw / "cut.jsonl.gz").write_bytes(gzip.compress(("\n".join(lines[:2]) + "\n").encode() * 50)[:-20])
    (raw / "empty.html").write_bytes(b"")
    summary = nightly(str(raw), str(warehouse), "mixed-1")
    return raw, warehouse, summary


def test_one_page_in_four_formats_is_one_document_with_four_trails(mixed_run):
    _, warehouse, summary = mixed_run
    assert summary.status == "succeeded"
    docs = {d["url"]: d for d in read_current(warehouse, DOCUMENTS).to_pylist()}
    assert URL in docs
    doc = docs[URL]
    dups = [d for d in read_current(warehouse, DUPLICATES).to_pylist() if d["duplicate_of"] == doc["doc_id"]]
    trails = sorted([doc["source_uri"], *(d["source_uri"] for d in dups)])
    assert len(trails) == 4
    assert trails[0].startswith("bundle.zip#member=pages/page.txt")
    assert trails[1].startswith("crawl.warc.gz#offset=")
    assert trails[2].startswith("dump.jsonl#line=3")
    assert trails[3] == "page.txt"
    assert {d["kind"] for d in dups} == {"exact"}
    # the WARC copy is the latest fetched, so it is the published one (dedupe's documented rule)
    assert doc["source_uri"].startswith("crawl.warc.gz#offset=")


def test_bad_input_is_quarantined_and_records_reconcile(mixed_run):
    _, warehouse, summary = mixed_run
    quarantine = {r["source_uri"]: r["reason"] for r in read_current(warehouse, QUARANTINE).to_pylist()}
    assert quarantine["dump.jsonl#line=4"] == reasons.INGEST_BAD_JSON
    assert quarantine["bundle.zip#member=../escape.txt"] == reasons.INGEST_UNSAFE_PATH
    assert quarantine["cut.jsonl.gz"] == reasons.INGEST_TRUNCATED
    assert quarantine["empty.html"] == reasons.INGEST_EMPTY
    urls = {d["url"] for d in read_current(warehouse, DOCUMENTS).to_pylist()}
    assert {URL, *(f"https://example.org/other/{i}" for i in range(4))} <= urls
    row = summary.row
    assert row["n_read"] == (
        row["n_new"] + row["n_updated"] + row["n_unchanged"] + row["n_duplicates"] + row["n_quarantined"]
    )
    assert row["n_new"] == 5  # the page and the four other seeds; cut.jsonl.gz holds copies of two of them
    registry = {r["path"] for r in read_current(warehouse, INGESTED_FILES).to_pylist()}
    assert registry == {"page.txt", "dump.jsonl", "crawl.warc.gz", "bundle.zip", "cut.jsonl.gz", "empty.html"}


def test_rerun_reads_nothing(mixed_run):
    raw, warehouse, _ = mixed_run
    summary = nightly(str(raw), str(warehouse), "mixed-2")
    assert summary.status == "succeeded" and summary.changed_tables == []
    assert summary.row["n_read"] == 0
