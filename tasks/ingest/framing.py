"""Opening, sniffing, decompression and archive members, written once for every format.

`read_file` turns one raw file into `Record`s and `Reject`s with full locators
(`#member=NAME` per archive level, then the reader's `#line=N` / `#offset=N`). Everything is read as a forward
stream: gzip through `gzip.GzipFile`, tar in stream mode (`r|`), zip members through `ZipFile.open` (zip needs a
seekable container: a file on disk or a member of such a zip). Nothing is extracted to disk.
Stream errors (truncation, corruption, expansion limits) end that payload with one `Reject` at its locator;
the records yielded before stay.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from warcio.exceptions import ArchiveLoadFailed

from schemas import reasons
from tasks.ingest.config import IngestConfig
from tasks.ingest.formats import READERS, Record, Reject, sniff_format

_SNIFF_BYTES = 8192
_BUFFER_BYTES = 1 << 20


class _ArchiveBomb(Exception):
    """A decompressed stream outgrew IngestConfig's size or ratio limits."""


@dataclass(frozen=True, slots=True)
class _Payload:
    """Where a stream comes from: its name (an extension hint), locator, stored size, and nesting."""

    name: str
    locator: str
    stored_bytes: int | None
    seekable: bool
    depth: int = 0


class _Prefixed(io.RawIOBase):
    """The sniffed head, then the rest of a forward-only stream."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head, self._rest = memoryview(head), rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._rest.read(len(buf))
        buf[: len(data)] = data
        return len(data)


class _Metered(io.RawIOBase):
    """Counts decompressed bytes and raises _ArchiveBomb past the size or expansion-ratio limit."""

    def __init__(self, inner: BinaryIO, stored_bytes: int | None, cfg: IngestConfig):
        self._inner, self._stored, self._cfg, self.n_bytes = inner, stored_bytes, cfg, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        data = self._inner.read(len(buf))
        buf[: len(data)] = data
        self.n_bytes += len(data)
        cfg = self._cfg
        if self.n_bytes > cfg.max_member_bytes:
            raise _ArchiveBomb(f"decompresses to over max_member_bytes={cfg.max_member_bytes}")
        ratio_judged = self._stored and self.n_bytes > cfg.min_ratio_check_bytes
        if ratio_judged and self.n_bytes > self._stored * cfg.max_expansion_ratio:
            raise _ArchiveBomb(
                f"{self._stored} stored bytes expand past {self.n_bytes} (ratio > {cfg.max_expansion_ratio})"
            )
        return len(data)


def _peek(stream: BinaryIO, seekable: bool) -> tuple[bytes, BinaryIO]:
    """The first bytes of a stream, and a stream that still starts at them."""
    if seekable:
        start = stream.tell()
        head = stream.read(_SNIFF_BYTES)
        stream.seek(start)
        return head, stream
    head = stream.read(_SNIFF_BYTES)
    return head, io.BufferedReader(_Prefixed(head, stream), _BUFFER_BYTES)


def _member_locator(name: str) -> str:
    return "#member=" + name.replace("%", "%25").replace("#", "%23")


def _member_problem(name: str, size: int, stored: int | None, cfg: IngestConfig) -> tuple[str, str] | None:
    """Why an archive member must not be read, judged from its header alone."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        return reasons.INGEST_UNSAFE_PATH, f"member path {name!r} is absolute or leaves the archive"
    if size > cfg.max_member_bytes:
        return reasons.INGEST_ARCHIVE_BOMB, f"member declares {size} bytes > max_member_bytes={cfg.max_member_bytes}"
    if stored is not None and size > cfg.min_ratio_check_bytes and size > max(stored, 1) * cfg.max_expansion_ratio:
        return (
            reasons.INGEST_ARCHIVE_BOMB,
            f"member expands {stored} → {size} bytes (ratio > {cfg.max_expansion_ratio})",
        )
    return None


# ---- containers: stream → member streams, each read again by read_payload ---------------------------------------


def _gzip_members(stream: BinaryIO, src: _Payload, cfg: IngestConfig) -> Iterator[Record | Reject]:
    inner_name = src.name[:-3] if src.name.endswith(".gz") else src.name
    inner_name = inner_name[:-4] + ".tar" if inner_name.endswith(".tgz") else inner_name
    inflated = _Metered(gzip.GzipFile(fileobj=stream, mode="rb"), src.stored_bytes, cfg)
    member = io.BufferedReader(inflated, _BUFFER_BYTES)
    yield from read_payload(member, replace(src, name=inner_name, stored_bytes=None, seekable=False), cfg)


def _zip_members(stream: BinaryIO, src: _Payload, cfg: IngestConfig) -> Iterator[Record | Reject]:
    if not src.seekable:
        yield Reject(
            src.locator, reasons.INGEST_UNREADABLE, "a zip inside a gzip or tar stream cannot be read in place"
        )
        return
    try:
        archive = zipfile.ZipFile(stream)
    except zipfile.BadZipFile as exc:
        yield Reject(src.locator, reasons.INGEST_TRUNCATED, f"zip without a readable central directory: {exc}")
        return
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            locator = src.locator + _member_locator(info.filename)
            problem = _member_problem(info.filename, info.file_size, info.compress_size, cfg)
            if problem:
                yield Reject(locator, *problem)
                continue
            with archive.open(info) as member:  # zipfile stops at the declared size and checks the CRC
                yield from read_payload(member, _Payload(info.filename, locator, info.file_size, True), cfg)


def _tar_members(stream: BinaryIO, src: _Payload, cfg: IngestConfig) -> Iterator[Record | Reject]:
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for info in archive:
            if info.isdir():
                continue
            locator = src.locator + _member_locator(info.name)
            if not info.isfile():
                yield Reject(locator, reasons.INGEST_UNSAFE_PATH, f"link or special member {info.name!r} not followed")
                continue
            problem = _member_problem(info.name, info.size, None, cfg)
            if problem:
                yield Reject(locator, *problem)
                continue
            member = archive.extractfile(info)
            yield from read_payload(member, _Payload(info.name, locator, info.size, False), cfg)


_Container = Callable[[BinaryIO, _Payload, IngestConfig], Iterator[Record | Reject]]
CONTAINERS: dict[str, _Container] = {"gzip": _gzip_members, "zip": _zip_members, "tar": _tar_members}


# ---- one payload: sniff, dispatch, and turn stream errors into a Reject ----------------------------------------


def _stream_error(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, _ArchiveBomb):
        return reasons.INGEST_ARCHIVE_BOMB, str(exc)
    if isinstance(exc, EOFError) or (isinstance(exc, tarfile.ReadError) and "unexpected end" in str(exc)):
        return reasons.INGEST_TRUNCATED, f"stream ends early: {exc}"
    return reasons.INGEST_UNREADABLE, f"{type(exc).__name__}: {exc}"


_STREAM_ERRORS = (
    _ArchiveBomb,
    EOFError,
    OSError,  # includes gzip.BadGzipFile
    zlib.error,
    zipfile.BadZipFile,
    tarfile.TarError,
    ArchiveLoadFailed,
)


def _dispatch(stream: BinaryIO, src: _Payload, cfg: IngestConfig) -> Iterator[Record | Reject]:
    head, stream = _peek(stream, src.seekable)
    if not head:
        return
    fmt = sniff_format(head, src.name.lower())
    if fmt in CONTAINERS:
        if src.depth >= cfg.max_nesting_depth:
            yield Reject(src.locator, reasons.INGEST_ARCHIVE_BOMB, f"nested deeper than {cfg.max_nesting_depth}")
        else:
            yield from CONTAINERS[fmt](stream, replace(src, depth=src.depth + 1), cfg)
        return
    if fmt == "binary":
        yield Reject(src.locator, reasons.INGEST_BINARY, "looks binary (NUL or control bytes in its first 8 KiB)")
        return
    for item in READERS[fmt](stream, cfg.max_record_bytes):
        item.locator = src.locator + item.locator
        if isinstance(item, Record) and not (item.text or "").strip() and not (item.html or "").strip():
            yield Reject(item.locator, reasons.INGEST_NO_TEXT, "record has neither text nor html")
        else:
            yield item


def read_payload(stream: BinaryIO, src: _Payload, cfg: IngestConfig) -> Iterator[Record | Reject]:
    """Records of one payload (a file or a member); a payload that yields nothing is reported empty."""
    n_items = 0
    try:
        for item in _dispatch(stream, src, cfg):
            n_items += 1
            yield item
    except _STREAM_ERRORS as exc:
        reason, message = _stream_error(exc)
        yield Reject(src.locator, reason, f"{message} (after {n_items} records)")
        return
    if n_items == 0:
        yield Reject(src.locator, reasons.INGEST_EMPTY, "holds no records (empty or only whitespace)")


def read_file(path: Path, size: int, cfg: IngestConfig) -> Iterator[Record | Reject]:
    """Records of one raw file, or the Reject that explains why there are none."""
    if size == 0:
        yield Reject("", reasons.INGEST_EMPTY, "file is empty")
        return
    if size > cfg.max_file_bytes:
        yield Reject("", reasons.INGEST_TOO_LARGE, f"{size} bytes > max_file_bytes={cfg.max_file_bytes}")
        return
    try:
        fh = path.open("rb", buffering=_BUFFER_BYTES)
    except OSError as exc:
        yield Reject("", reasons.INGEST_UNREADABLE, f"cannot open: {exc}")
        return
    with fh:
        yield from read_payload(fh, _Payload(path.name, "", size, True), cfg)
