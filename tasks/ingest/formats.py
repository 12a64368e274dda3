"""Input formats of the ingest stage. Each format supplies only a reader "stream → records"; opening files,
decompression, archives, provenance and quarantine live in tasks/ingest/framing.py and stage.py.

A reader gets a binary stream positioned at the start of one payload and `max_record_bytes`; it yields
`Record`s and `Reject`s whose `locator` is relative to that payload (`#line=N`, `#offset=N`, or "").
It reads the stream forward only, never more than `max_record_bytes` + 1 bytes per record at once.
Errors of the underlying stream (truncated gzip, corrupt archive) are left to propagate: the framing turns
them into one quarantine row and keeps the records already yielded.

Page URLs: an HTML page (a file, a JSON line's `html`, a WARC record without an http(s) target) takes the URL it
declares in its head, `<link rel=canonical>` else `og:url`, when that is an absolute http(s) URL; without one it
has none, and its identity stays the file's path (one-page files) or its body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import orjson
from charset_normalizer import from_bytes
from warcio.archiveiterator import ArchiveIterator

from schemas import reasons


@dataclass(slots=True)
class Record:
    """One page read from a dump; `locator` is appended to the file path in source_uri."""

    locator: str = ""
    text: str | None = None
    html: str | None = None
    url: str | None = None
    title: str | None = None
    fetched_at: str | None = None
    meta: dict[str, str] | None = None
    size_bytes: int = 0
    decode_note: str | None = None
    format: str = "txt"
    offset: int | None = None  # a JSON line's byte offset in its stream (read_jsonl)


@dataclass(slots=True)
class Reject:
    """A part of a dump that cannot become a record."""

    locator: str
    reason: str
    message: str


Reader = Callable[[BinaryIO, int], Iterator[Record | Reject]]


# ---- decoding and sniffing -------------------------------------------------------------------------------------


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return bool(head) and controls / len(head) > 0.1


def decode_bytes(data: bytes) -> tuple[str, str | None]:
    """Decode page bytes: UTF-8 first, then the detected charset, then UTF-8 with replacement.

    Windows-1252 (the web's default for Western pages) wins over charset-normalizer's first guess when it
    decodes the sample at least as cleanly: short French or Portuguese text otherwise comes back as cp775/cp1250.
    """
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    sample = data[:1_000_000]
    best = from_bytes(sample).best()
    western = from_bytes(sample, cp_isolation=["cp1252"]).best()
    if western is not None and (best is None or western.chaos <= best.chaos):
        best = western
    if best is not None:
        try:
            return data.decode(best.encoding), best.encoding
        except (UnicodeDecodeError, LookupError):
            pass
    return data.decode("utf-8", errors="replace"), "utf-8-replace"


_JSONL_NAMES = (".jsonl", ".json", ".ndjson")


def sniff_format(head: bytes, name: str) -> str:
    """Format of a payload from its first bytes; the (lower-case) name only breaks ties.

    One of: gzip, zip, tar (containers, opened by the framing), warc, jsonl, html, txt (readers), binary.
    """
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"WARC/"):
        return "warc"
    if _looks_binary(head):
        return "binary"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    if text.startswith(b"{") and (name.endswith(_JSONL_NAMES) or b"\n{" in head or head.count(b"\n") <= 1):
        return "jsonl"
    if text.startswith((b"<!doctype html", b"<html", b"<?xml")):
        return "html"
    if name.endswith(_JSONL_NAMES):  # a dump whose first line is damaged is still a dump
        return "jsonl"
    if name.endswith((".html", ".htm")) and text.startswith(b"<"):
        return "html"
    return "txt"


def _read_whole(stream: BinaryIO, max_bytes: int) -> bytes | Reject:
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        return Reject("", reasons.INGEST_TOO_LARGE, f"record over max_record_bytes={max_bytes}")
    return data


# ---- page URLs ------------------------------------------------------------------------------------------------

_HEAD_CHARS = 512_000  # where a page's <head> is looked for (canonical links sit in the head)
_BODY_START = re.compile(r"<body[\s>]", re.IGNORECASE)


def web_url(value: str | None) -> str | None:
    """`value` when it is an absolute http(s) URL with a host, else None (a file name, a urn:, a relative path)."""
    value = (value or "").strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme.lower() in ("http", "https") and parts.hostname else None


class _HeadLinks(HTMLParser):
    """Collects `<link rel=canonical href>` and `<meta property=og:url content>` from a page's head."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.canonical: str | None = None
        self.og_url: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "link" and self.canonical is None and "canonical" in a.get("rel", "").lower().split():
            self.canonical = web_url(a.get("href"))
        elif tag == "meta" and self.og_url is None and a.get("property", a.get("name", "")).lower() == "og:url":
            self.og_url = web_url(a.get("content"))


def html_page_url(html: str) -> str | None:
    """The URL a saved page declares for itself: `<link rel=canonical>`, else `og:url`; only absolute http(s)."""
    head = html[:_HEAD_CHARS]
    body = _BODY_START.search(head)
    parser = _HeadLinks()
    parser.feed(head[: body.start()] if body else head)
    parser.close()
    return parser.canonical or parser.og_url


# ---- readers: stream → records ---------------------------------------------------------------------------------

_HEADER_KEYS = {"url": "url", "title": "title", "fetched-at": "fetched_at", "fetched_at": "fetched_at"}


def _split_text_header(text: str) -> tuple[dict[str, str], str]:
    if text[:4].lower() != "url:":
        return {}, text
    head, sep, body = text.partition("\n\n")
    fields: dict[str, str] = {}
    for line in head.splitlines():
        key, colon, value = line.partition(":")
        if not colon or key.strip().lower() not in _HEADER_KEYS:
            return {}, text
        fields[_HEADER_KEYS[key.strip().lower()]] = value.strip()
    return fields, body if sep else ""


def read_txt(stream: BinaryIO, max_bytes: int) -> Iterator[Record | Reject]:
    data = _read_whole(stream, max_bytes)
    if isinstance(data, Reject):
        yield data
    elif data.strip():  # only whitespace: no record, and the framing reports an empty payload
        text, note = decode_bytes(data)
        header, body = _split_text_header(text)
        yield Record(text=body, size_bytes=len(data), decode_note=note, **header)


def read_html(stream: BinaryIO, max_bytes: int) -> Iterator[Record | Reject]:
    data = _read_whole(stream, max_bytes)
    if isinstance(data, Reject):
        yield data
    elif data.strip():
        html, note = decode_bytes(data)
        yield Record(html=html, url=html_page_url(html), size_bytes=len(data), decode_note=note, format="html")


def _lines(
    stream: BinaryIO, max_bytes: int, first_line: int = 1, first_offset: int = 0
) -> Iterator[tuple[int, int, bytes | None]]:
    """(line number, byte offset, line) triples, numbered from `first_line` and counted from `first_offset`; an
    over-long line is drained and given as None, so memory stays bounded."""
    number, offset = first_line - 1, first_offset
    while line := stream.readline(max_bytes + 1):
        number, start = number + 1, offset
        offset += len(line)
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while rest := stream.readline(1 << 20):
                offset += len(rest)
                if rest.endswith(b"\n"):
                    break
            yield number, start, None
        else:
            if not line.endswith(b"\n"):
                stream.read(1)  # at a cut stream this raises now, so the cut line is not taken for a bad one
            yield number, start, line


_JSONL_FIELDS = ("url", "text", "html", "title", "fetched_at")


def _json_value(line: bytes) -> tuple[Any, str | None]:
    """The JSON value of one line and how its bytes were decoded (`decode_note`): orjson reads a line of valid
    UTF-8 and strict JSON (~4x faster than the json module); any other line is read as before, by the json module
    (non-UTF-8 bytes through charset detection, NaN, surrogates, big numbers), whose error message is quarantined."""
    try:
        return orjson.loads(line), None
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(line), None
    except UnicodeDecodeError:
        text, note = decode_bytes(line)
        return json.loads(text), note


def read_jsonl(
    stream: BinaryIO, max_bytes: int, first_line: int = 1, first_offset: int = 0
) -> Iterator[Record | Reject]:
    """Records of a JSON Lines stream whose first line is line `first_line` of its file, at byte `first_offset`
    (a slice of the file: framing.read_jsonl_slice)."""
    for number, offset, line in _lines(stream, max_bytes, first_line, first_offset):
        locator = f"#line={number}"
        if line is None:
            yield Reject(locator, reasons.INGEST_TOO_LARGE, f"line {number} over max_record_bytes={max_bytes}")
            continue
        if not line.strip():
            continue
        try:
            obj, note = _json_value(line)
        except json.JSONDecodeError as exc:
            yield Reject(locator, reasons.INGEST_BAD_JSON, f"line {number} is not valid JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            yield Reject(locator, reasons.INGEST_BAD_JSON, f"line {number} is not a JSON object")
            continue
        fields = {k: v if isinstance(v := obj.get(k), str) else None for k in _JSONL_FIELDS}
        if not fields["url"] and fields["html"]:
            fields["url"] = html_page_url(fields["html"])
        meta = {
            k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            for k, v in obj.items()
            if k not in _JSONL_FIELDS
        }
        yield Record(
            locator=locator,
            meta=meta or None,
            size_bytes=len(line),
            decode_note=note,
            format="jsonl",
            offset=offset,
            **fields,
        )


_HTML_TYPES = ("text/html", "application/xhtml+xml")


def _decode_declared(data: bytes, charset: str | None) -> tuple[str, str | None]:
    if charset:
        try:
            text = data.decode(charset)
        except (UnicodeDecodeError, LookupError):
            return decode_bytes(data)
        return text, None if charset.replace("-", "").lower() in ("utf8", "usascii", "ascii") else charset.lower()
    return decode_bytes(data)


def read_warc(stream: BinaryIO, max_bytes: int) -> Iterator[Record | Reject]:
    """Response and resource records with an HTML or plain-text body; `#offset=N` is the record's byte offset in
    the uncompressed WARC stream. A revisit record stands for a page whose payload is not stored (identical to an
    earlier capture, or not modified): ingest.warc_revisit. Other record types (warcinfo, request, metadata)
    describe the crawl, hold no page and are passed over.
    The URL is WARC-Target-URI when it is an absolute http(s) URL, else the HTML's canonical URL, else none (the
    target, e.g. a file name or urn:, stays in meta `warc_target_uri`)."""
    records = ArchiveIterator(stream, arc2warc=True)
    for rec in records:
        locator = f"#offset={records.offset}"  # start of the current record (get_record_offset would skip it)
        if rec.rec_type == "revisit":
            refers = rec.rec_headers.get_header("WARC-Refers-To-Target-URI") or rec.rec_headers.get_header(
                "WARC-Target-URI"
            )
            yield Reject(locator, reasons.INGEST_WARC_REVISIT, f"revisit of {refers!r}: the payload is not stored")
            continue
        if rec.rec_type not in ("response", "resource"):
            continue
        headers = rec.http_headers if rec.http_headers is not None else rec.rec_headers
        media, _, params = (headers.get_header("Content-Type") or "").partition(";")
        media = media.strip().lower()
        if media not in (*_HTML_TYPES, "text/plain"):
            yield Reject(locator, reasons.INGEST_UNSUPPORTED_MEDIA, f"record of media type {media!r} is not a page")
            continue
        data = _read_whole(rec.content_stream(), max_bytes)
        if isinstance(data, Reject):
            yield Reject(locator, data.reason, data.message)
            continue
        if rec.raw_stream.limit > 0:  # the stream ended before the record's declared Content-Length
            yield Reject(locator, reasons.INGEST_TRUNCATED, f"record declares {rec.length} bytes; the WARC ends early")
            return
        charset = next((p.split("=", 1)[1].strip(" \"'") for p in params.split(";") if "charset=" in p.lower()), None)
        body, note = _decode_declared(data, charset)
        meta = {"warc_record_id": rec.rec_headers.get_header("WARC-Record-ID") or ""}
        if rec.http_headers is not None:
            meta["http_status"] = rec.http_headers.get_statuscode() or ""
        target = rec.rec_headers.get_header("WARC-Target-URI")
        url = web_url(target) or (html_page_url(body) if media in _HTML_TYPES else None)
        if target and url != target:  # a file name or urn: is no page address; kept as provenance
            meta["warc_target_uri"] = target
        yield Record(
            locator=locator,
            text=None if media in _HTML_TYPES else body,
            html=body if media in _HTML_TYPES else None,
            url=url,
            fetched_at=rec.rec_headers.get_header("WARC-Date"),
            meta=meta,
            size_bytes=len(data),
            decode_note=note,
            format="warc",
        )


READERS: dict[str, Reader] = {"txt": read_txt, "html": read_html, "jsonl": read_jsonl, "warc": read_warc}
