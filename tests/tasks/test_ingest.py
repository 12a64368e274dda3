"""ingest_dumps on the seeds and on small bad-input fixtures written by the tests."""

from __future__ import annotations

import gzip
import json
import os
import shutil

from helpers import ingest, need_shared, seed_files

from schemas import STG_PAGES, reasons


def test_seeds_become_one_record_each(seeds_raw):
    result = ingest(seeds_raw)
    pages = result.kept
    assert pages.schema == STG_PAGES.arrow_schema
    assert pages.num_rows == 5
    assert sorted(pages.column("source_uri").to_pylist()) == [f.name for f in seed_files()]
    first = pages.to_pylist()[0]
    seed = need_shared() / "seeds" / first["source_uri"]
    assert first["raw_text"] == seed.read_text()
    assert first["format"] == "txt" and first["size_bytes"] == seed.stat().st_size
    assert len(first["source_sha256"]) == 64
    assert result.outputs["ingested_files"].num_rows == 5


def test_empty_and_binary_files_are_quarantined_with_reason(seeds_raw):
    (seeds_raw / "empty.txt").write_bytes(b"")
    (seeds_raw / "blank.txt").write_bytes(b"  \n\n")
    (seeds_raw / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    result = ingest(seeds_raw)
    by_uri = {r["source_uri"]: r["reason"] for r in result.quarantined.to_pylist()}
    assert by_uri == {
        "empty.txt": reasons.INGEST_EMPTY,
        "blank.txt": reasons.INGEST_EMPTY,
        "image.txt": reasons.INGEST_BINARY,
    }
    assert result.kept.num_rows == 5
    assert result.stats["in"] == 8


def test_invalid_utf8_is_decoded_and_flagged(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "latin.txt").write_bytes("Migration en Côte d'Ivoire : l'OIM accueille les délégués.\n".encode("cp1252") * 3)
    page = ingest(raw).kept.to_pylist()[0]
    assert "Côte d'Ivoire" in page["raw_text"]
    assert page["decode_note"] == "cp1252"


def test_text_header_gives_url_and_title(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "p.txt").write_text("URL: https://www.iom.int/news/x\nTitle: A page\n\nBody line one.\nBody line two.\n")
    page = ingest(raw).kept.to_pylist()[0]
    assert page["url"] == "https://www.iom.int/news/x"
    assert page["raw_title"] == "A page"
    assert page["raw_text"] == "Body line one.\nBody line two.\n"


def test_jsonl_bad_line_is_quarantined_and_good_lines_go_on(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    lines = [
        json.dumps({"url": "https://a.org/1", "text": "First page text.", "lang_hint": "en"}),
        "{not json",
        json.dumps({"url": "https://a.org/2", "text": "Second page.", "fetched_at": "2026-11-25T01:02:03Z"}),
    ]
    (raw / "dump.jsonl.gz").write_bytes(gzip.compress("\n".join(lines).encode()))
    result = ingest(raw)
    assert [r["source_uri"] for r in result.kept.to_pylist()] == ["dump.jsonl.gz#line=1", "dump.jsonl.gz#line=3"]
    assert result.kept.to_pylist()[0]["meta"] == [("lang_hint", "en")]
    assert result.kept.to_pylist()[1]["fetched_at"].year == 2026
    assert [(r["source_uri"], r["reason"]) for r in result.quarantined.to_pylist()] == [
        ("dump.jsonl.gz#line=2", reasons.INGEST_BAD_JSON)
    ]


def test_too_large_file_is_quarantined(seeds_raw):
    result = ingest(seeds_raw, max_file_bytes=3000)
    assert {r["reason"] for r in result.quarantined.to_pylist()} == {reasons.INGEST_TOO_LARGE}
    assert result.kept.num_rows + result.quarantined.num_rows == 5


def test_registry_skips_unchanged_files_and_rereads_changed_ones(seeds_raw):
    first = ingest(seeds_raw)
    registry = first.outputs["ingested_files"]
    assert ingest(seeds_raw, registry=registry).kept.num_rows == 0
    assert ingest(seeds_raw, registry=registry, full=True).kept.num_rows == 5
    target = sorted(seeds_raw.iterdir())[0]
    target.write_text(target.read_text() + "\nOne more line.")
    os.utime(target, ns=(1, 1))
    again = ingest(seeds_raw, registry=registry)
    assert again.kept.column("source_uri").to_pylist() == [target.name]
    shutil.copy(target, seeds_raw / "new.txt")
    assert ingest(seeds_raw, registry=registry).kept.num_rows == 2


def test_a_missing_raw_folder_is_an_error_not_an_empty_run(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="does not exist"):
        ingest(tmp_path / "no-such-folder")
