"""ingest_dumps on WARC, archives and compressed dumps written by the tests: records, provenance, and every
bad-input case with its exact reason code (the good records of the same dump still arrive)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import NOW, ingest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from schemas import INGESTED_FILES, STG_PAGES, reasons
from tasks.ingest import IngestConfig, IngestTally, iter_ingest

PAGE = "Migrants arrive in Ulan Bator.\nThe office opens on Sunday.\n"


def warc_bytes(records: list[tuple[str, str, bytes]], gz: bool, date: str = "2026-01-02T03:04:05Z") -> bytes:
    """A WARC with a warcinfo record, a request record, then one response per (url, content type, body)."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=gz)
    writer.write_record(writer.create_warcinfo_record("test.warc", {"software": "docpipe tests"}))
    for url, ctype, body in records:
        http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=http, warc_headers_dict={"WARC-Date": date}
            )
        )
    return buf.getvalue()


def jsonl_bytes(n: int, start: int = 1) -> bytes:
    lines = [json.dumps({"url": f"https://a.org/{i}", "text": f"Page {i}. {PAGE}"}) for i in range(start, start + n)]
    return ("\n".join(lines) + "\n").encode()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tar_bytes(members: dict[str, bytes], mode: str = "w", links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
    return buf.getvalue()


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    folder = tmp_path / "raw"
    folder.mkdir()
    return folder


def by_uri(result) -> tuple[dict[str, dict], dict[str, str]]:
    pages = {r["source_uri"]: r for r in result.kept.to_pylist()}
    rejects = {r["source_uri"]: r["reason"] for r in result.quarantined.to_pylist()}
    return pages, rejects


# ---- WARC ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_warc_response_records_become_pages_with_provenance(raw, gz):
    name = "crawl.warc.gz" if gz else "crawl.warc"
    (raw / name).write_bytes(
        warc_bytes(
            [
                ("https://a.org/plain", "text/plain; charset=utf-8", PAGE.encode()),
                ("https://a.org/page", "text/html", b"<html><body><p>Hello page</p></body></html>"),
                ("https://a.org/latin", "text/plain; charset=iso-8859-1", "Côte d'Ivoire".encode("latin-1")),
                ("https://a.org/logo.png", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(64)),
            ],
            gz,
        )
    )
    result = ingest(raw)
    pages = result.kept.to_pylist()
    assert [p["url"] for p in pages] == ["https://a.org/plain", "https://a.org/page", "https://a.org/latin"]
    assert all(p["source_uri"].startswith(f"{name}#offset=") for p in pages)
    plain, html, latin = pages
    assert plain["raw_text"] == PAGE and plain["raw_html"] is None and plain["format"] == "warc"
    assert html["raw_html"].startswith("<html>") and html["raw_text"] is None
    assert latin["raw_text"] == "Côte d'Ivoire" and latin["decode_note"] == "iso-8859-1"
    assert plain["fetched_at"] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert dict(plain["meta"])["http_status"] == "200" and dict(plain["meta"])["warc_record_id"].startswith("<urn:")
    assert plain["size_bytes"] == len(PAGE.encode()) and len(plain["source_sha256"]) == 64
    ((uri, reason),) = [(r["source_uri"], r["reason"]) for r in result.quarantined.to_pylist()]
    assert reason == reasons.INGEST_UNSUPPORTED_MEDIA and uri.startswith(f"{name}#offset=")
    assert result.stats["in"] == 4  # warcinfo and request records hold no page


def test_warc_offset_points_at_the_record_in_the_uncompressed_stream(raw):
    data = warc_bytes([("https://a.org/1", "text/plain", b"one page"), ("https://a.org/2", "text/plain", b"two")], True)
    (raw / "c.warc.gz").write_bytes(data)
    pages = ingest(raw).kept.to_pylist()
    plain = gzip.decompress(data)
    for page in pages:
        offset = int(page["source_uri"].rsplit("#offset=", 1)[1])
        record = plain[offset : offset + 400]
        assert record.startswith(b"WARC/1") and page["url"].encode() in record


def test_truncated_warc_gz_keeps_records_before_the_cut(raw):
    data = warc_bytes([(f"https://a.org/{i}", "text/plain", f"Page {i} body. ".encode() * 50) for i in range(4)], True)
    (raw / "cut.warc.gz").write_bytes(data[: len(data) - 300])
    pages, rejects = by_uri(ingest(raw))
    assert len(pages) == 3 and {p["url"] for p in pages.values()} == {f"https://a.org/{i}" for i in range(3)}
    assert rejects == {"cut.warc.gz": reasons.INGEST_TRUNCATED}


def test_truncated_plain_warc_quarantines_the_cut_record(raw):
    data = warc_bytes([(f"https://a.org/{i}", "text/plain", f"Page {i} body. ".encode() * 50) for i in range(3)], False)
    (raw / "cut.warc").write_bytes(data[: len(data) - 200])
    result = ingest(raw)
    pages, rejects = by_uri(result)
    assert [p["url"] for p in pages.values()] == ["https://a.org/0", "https://a.org/1"]
    ((uri, reason),) = rejects.items()
    assert reason == reasons.INGEST_TRUNCATED and uri.startswith("cut.warc#offset=")
    assert int(uri.rsplit("=", 1)[1]) > max(int(u.rsplit("=", 1)[1]) for u in pages)


# ---- archives -----------------------------------------------------------------------------------------------------


def test_zip_members_of_every_format_nested_archives_included(raw):
    inner = zip_bytes({"deep/page.txt": b"URL: https://a.org/deep\n\nDeep page text.\n"})
    (raw / "dump.zip").write_bytes(
        zip_bytes(
            {
                "a.jsonl": jsonl_bytes(3),
                "pages/b.txt": PAGE.encode(),
                "c.html": b"<!doctype html><html><body>C</body></html>",
                "d.warc.gz": warc_bytes([("https://a.org/w", "text/plain", b"warc page")], True),
                "e.jsonl.gz": gzip.compress(jsonl_bytes(1, start=9)),
                "inner.zip": inner,
                "folder/": b"",
            }
        )
    )
    pages, rejects = by_uri(ingest(raw))
    assert rejects == {}
    assert set(pages) == {
        "dump.zip#member=a.jsonl#line=1",
        "dump.zip#member=a.jsonl#line=2",
        "dump.zip#member=a.jsonl#line=3",
        "dump.zip#member=pages/b.txt",
        "dump.zip#member=c.html",
        next(u for u in pages if u.startswith("dump.zip#member=d.warc.gz#offset=")),
        "dump.zip#member=e.jsonl.gz#line=1",
        "dump.zip#member=inner.zip#member=deep/page.txt",
    }
    assert pages["dump.zip#member=pages/b.txt"]["raw_text"] == PAGE
    assert pages["dump.zip#member=inner.zip#member=deep/page.txt"]["url"] == "https://a.org/deep"
    assert {p["format"] for p in pages.values()} == {"jsonl", "txt", "html", "warc"}
    assert len({p["source_sha256"] for p in pages.values()}) == 1  # the sha of the raw file, not of the member


@pytest.mark.parametrize(("name", "mode"), [("dump.tar", "w"), ("dump.tar.gz", "w:gz"), ("dump.tgz", "w:gz")])
def test_tar_members_are_read_as_a_stream(raw, name, mode):
    (raw / name).write_bytes(tar_bytes({"x/a.jsonl": jsonl_bytes(2), "b.txt": PAGE.encode()}, mode))
    pages, rejects = by_uri(ingest(raw))
    assert rejects == {}
    assert set(pages) == {f"{name}#member=x/a.jsonl#line=1", f"{name}#member=x/a.jsonl#line=2", f"{name}#member=b.txt"}


def test_unsafe_member_paths_are_quarantined_and_safe_members_read(raw):
    (raw / "evil.zip").write_bytes(zip_bytes({"../escape.txt": b"x", "/etc/abs.txt": b"y", "ok.txt": PAGE.encode()}))
    (raw / "evil.tar").write_bytes(
        tar_bytes({"../../up.txt": b"z", "fine.txt": PAGE.encode()}, links={"link.txt": "/etc/passwd"})
    )
    pages, rejects = by_uri(ingest(raw))
    assert set(pages) == {"evil.zip#member=ok.txt", "evil.tar#member=fine.txt"}
    assert rejects == {
        "evil.zip#member=../escape.txt": reasons.INGEST_UNSAFE_PATH,
        "evil.zip#member=/etc/abs.txt": reasons.INGEST_UNSAFE_PATH,
        "evil.tar#member=../../up.txt": reasons.INGEST_UNSAFE_PATH,
        "evil.tar#member=link.txt": reasons.INGEST_LINK,
    }


def test_archive_bombs_are_quarantined_by_ratio_size_and_depth(raw):
    bomb = b"All work and no play makes Jack a dull boy. " * 100_000  # 4.4 MB that deflate to ~10 KB
    (raw / "bomb.zip").write_bytes(zip_bytes({"big.txt": bomb, "ok.txt": PAGE.encode()}))
    (raw / "bomb.jsonl.gz").write_bytes(gzip.compress(jsonl_bytes(2) + b"\n" * 5_000_000))
    deep = PAGE.encode()
    for _ in range(4):
        deep = gzip.compress(deep)
    (raw / "deep.txt.gz").write_bytes(deep)
    result = ingest(raw, max_nesting_depth=3)
    pages, rejects = by_uri(result)
    assert rejects == {
        "bomb.zip#member=big.txt": reasons.INGEST_ARCHIVE_BOMB,
        "bomb.jsonl.gz": reasons.INGEST_ARCHIVE_BOMB,
        "deep.txt.gz": reasons.INGEST_ARCHIVE_BOMB,
    }
    # lines read before the gzip stream outgrew its ratio stay
    assert set(pages) == {"bomb.zip#member=ok.txt", "bomb.jsonl.gz#line=1", "bomb.jsonl.gz#line=2"}
    messages = {r["source_uri"]: r["message"] for r in result.quarantined.to_pylist()}
    assert "ratio" in messages["bomb.zip#member=big.txt"] and "ratio" in messages["bomb.jsonl.gz"]
    assert "nested" in messages["deep.txt.gz"]


def test_members_over_max_member_bytes_are_archive_bombs(raw):
    (raw / "large.zip").write_bytes(zip_bytes({"big.txt": PAGE.encode() * 20, "small.txt": PAGE.encode()}))
    (raw / "large.tar").write_bytes(tar_bytes({"big.txt": PAGE.encode() * 20, "small.txt": PAGE.encode()}))
    (raw / "large.txt.gz").write_bytes(gzip.compress(PAGE.encode() * 20))
    pages, rejects = by_uri(ingest(raw, max_member_bytes=len(PAGE.encode()) * 10))
    assert set(pages) == {"large.zip#member=small.txt", "large.tar#member=small.txt"}
    assert rejects == {
        "large.zip#member=big.txt": reasons.INGEST_ARCHIVE_BOMB,
        "large.tar#member=big.txt": reasons.INGEST_ARCHIVE_BOMB,
        "large.txt.gz": reasons.INGEST_ARCHIVE_BOMB,
    }


def test_empty_binary_and_bad_members_are_quarantined_at_the_member(raw):
    (raw / "mixed.zip").write_bytes(
        zip_bytes({"empty.txt": b"", "blank.jsonl": b"\n\n", "img.txt": bytes(range(256)), "ok.jsonl": jsonl_bytes(1)})
    )
    pages, rejects = by_uri(ingest(raw))
    assert set(pages) == {"mixed.zip#member=ok.jsonl#line=1"}
    assert rejects == {
        "mixed.zip#member=empty.txt": reasons.INGEST_EMPTY,
        "mixed.zip#member=blank.jsonl": reasons.INGEST_EMPTY,
        "mixed.zip#member=img.txt": reasons.INGEST_BINARY,
    }


def test_empty_archive_and_empty_gzip_are_reported_empty(raw):
    (raw / "nothing.zip").write_bytes(zip_bytes({"only/": b""}))
    (raw / "nothing.jsonl.gz").write_bytes(gzip.compress(b""))
    (raw / "ok.txt").write_text(PAGE)
    pages, rejects = by_uri(ingest(raw))
    assert set(pages) == {"ok.txt"}
    assert rejects == {"nothing.zip": reasons.INGEST_EMPTY, "nothing.jsonl.gz": reasons.INGEST_EMPTY}


def test_truncated_archives_and_gzip(raw):
    (raw / "cut.jsonl.gz").write_bytes(gzip.compress(jsonl_bytes(200))[:-400])
    (raw / "cut.zip").write_bytes(zip_bytes({"a.txt": PAGE.encode()})[:-30])
    tgz = tar_bytes({"a.jsonl": jsonl_bytes(3000), "b.txt": PAGE.encode()}, "w:gz")
    (raw / "cut.tar.gz").write_bytes(tgz[: len(tgz) // 2])
    result = ingest(raw)
    pages, rejects = by_uri(result)
    n_lines = sum(1 for u in pages if u.startswith("cut.jsonl.gz#line="))
    assert 0 < n_lines < 200
    assert all(f"cut.jsonl.gz#line={i}" in pages for i in range(1, n_lines + 1))  # every line before the cut
    assert rejects["cut.jsonl.gz"] == reasons.INGEST_TRUNCATED
    assert rejects["cut.zip"] == reasons.INGEST_TRUNCATED
    assert rejects["cut.tar.gz#member=a.jsonl"] == reasons.INGEST_TRUNCATED
    assert any(u.startswith("cut.tar.gz#member=a.jsonl#line=") for u in pages)
    assert set(rejects) <= {"cut.jsonl.gz", "cut.zip", "cut.tar.gz#member=a.jsonl", "cut.tar.gz"}


def test_corrupt_gzip_is_unreadable(raw):
    (raw / "bad.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 200)
    (raw / "ok.txt").write_text(PAGE)
    pages, rejects = by_uri(ingest(raw))
    assert set(pages) == {"ok.txt"} and rejects == {"bad.jsonl.gz": reasons.INGEST_UNREADABLE}


# ---- JSON Lines edge cases ----------------------------------------------------------------------------------------


def test_jsonl_line_over_the_record_limit_and_bad_utf8_line(raw):
    latin = '{"url": "https://a.org/fr", "text": "Côte d\'Ivoire et délégués"}'.encode("cp1252")
    huge = json.dumps({"text": "x" * 5000}).encode()
    (raw / "d.jsonl").write_bytes(b"\n".join([jsonl_bytes(1).strip(), huge, latin, jsonl_bytes(1, 7).strip()]))
    pages, rejects = by_uri(ingest(raw, max_record_bytes=1000))
    assert rejects == {"d.jsonl#line=2": reasons.INGEST_TOO_LARGE}
    assert set(pages) == {"d.jsonl#line=1", "d.jsonl#line=3", "d.jsonl#line=4"}
    assert pages["d.jsonl#line=3"]["raw_text"] == "Côte d'Ivoire et délégués"
    assert pages["d.jsonl#line=3"]["decode_note"] is not None


def test_jsonl_with_damaged_first_line_is_still_a_dump(raw):
    (raw / "d.jsonl").write_bytes(b"garbage first line\n" + jsonl_bytes(2))
    pages, rejects = by_uri(ingest(raw))
    assert rejects == {"d.jsonl#line=1": reasons.INGEST_BAD_JSON}
    assert set(pages) == {"d.jsonl#line=2", "d.jsonl#line=3"}


def test_page_over_the_record_limit_inside_an_archive(raw):
    (raw / "z.zip").write_bytes(zip_bytes({"big.txt": PAGE.encode() * 100, "ok.txt": PAGE.encode()}))
    pages, rejects = by_uri(ingest(raw, max_record_bytes=1000))
    assert set(pages) == {"z.zip#member=ok.txt"} and rejects == {"z.zip#member=big.txt": reasons.INGEST_TOO_LARGE}


# ---- streaming ------------------------------------------------------------------------------------------------------


def test_iter_ingest_yields_bounded_batches_equal_to_the_table(raw):
    (raw / "a.jsonl.gz").write_bytes(gzip.compress(jsonl_bytes(25) + b"{broken\n"))
    (raw / "b.zip").write_bytes(zip_bytes({"c.jsonl": jsonl_bytes(12, start=100)}))
    tally = IngestTally()
    batches = list(iter_ingest(raw, INGESTED_FILES.empty(), IngestConfig(), "test-run", NOW, tally, chunk_rows=10))
    assert [b.num_rows for b in batches] == [10, 10, 10, 7]
    assert all(b.schema == STG_PAGES.arrow_schema for b in batches)
    whole = ingest(raw)
    assert [r for b in batches for r in b.to_pylist()] == whole.kept.to_pylist()
    assert [q["reason"] for q in tally.quarantine] == [reasons.INGEST_BAD_JSON]
    assert {f["path"]: f["n_records"] for f in tally.files} == {"a.jsonl.gz": 26, "b.zip": 12}


# ---- page URLs ----------------------------------------------------------------------------------------------------

_CANONICAL = '<link rel="canonical" href="https://news.example.org/story-1">'
_OG = '<meta property="og:url" content="https://news.example.org/og-story">'


def _page(head: str) -> bytes:
    return f"<!DOCTYPE html><html><head>{head}</head><body><p>{PAGE}</p></body></html>".encode()


def test_html_pages_take_their_canonical_or_og_url(raw):
    (raw / "canonical.html").write_bytes(_page(_OG + _CANONICAL))  # canonical wins over og:url
    (raw / "og.html").write_bytes(_page(_OG))
    (raw / "relative.html").write_bytes(_page('<link rel="canonical" href="/story-1">'))
    (raw / "plain.html").write_bytes(_page("<title>No address</title>"))
    # a canonical link in the body is no declaration of the page's own address
    (raw / "in_body.html").write_bytes(_page("").replace(b"<p>", _CANONICAL.encode() + b"<p>"))
    (raw / "dump.jsonl").write_text(json.dumps({"html": _page(_OG).decode()}) + "\n")
    pages, _ = by_uri(ingest(raw))
    assert pages["canonical.html"]["url"] == "https://news.example.org/story-1"
    assert pages["og.html"]["url"] == "https://news.example.org/og-story"
    assert pages["dump.jsonl#line=1"]["url"] == "https://news.example.org/og-story"
    # no absolute http(s) URL: no URL, so the page keeps its file's path identity
    assert pages["relative.html"]["url"] is None and pages["plain.html"]["url"] is None
    assert pages["in_body.html"]["url"] is None


def test_warc_target_uri_is_a_url_only_when_it_is_http(raw):
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False)
    for target, ctype, body in (
        ("page.txt", "text/plain", PAGE.encode()),
        ("urn:uuid:5a1c0f6e-0000-4000-8000-000000000000", "text/html", _page(_CANONICAL)),
        ("https://a.org/page", "text/html", _page(_OG)),
    ):
        writer.write_record(
            writer.create_warc_record(target, "resource", payload=io.BytesIO(body), warc_content_type=ctype)
        )
    (raw / "files.warc").write_bytes(buf.getvalue())
    plain, html, http = ingest(raw).kept.to_pylist()
    assert plain["url"] is None and dict(plain["meta"])["warc_target_uri"] == "page.txt"
    assert html["url"] == "https://news.example.org/story-1"  # the page's own canonical URL
    assert dict(html["meta"])["warc_target_uri"].startswith("urn:uuid:")
    assert http["url"] == "https://a.org/page" and "warc_target_uri" not in dict(http["meta"])
