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
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import BinaryIO

from warcio.exceptions import ArchiveLoadFailed

from schemas import reasons
from tasks.ingest.config import IngestConfig
from tasks.ingest.formats import READERS, Record, Reject, read_jsonl, sniff_format
from tasks.ingest.listing import printable_path

_SNIFF_BYTES = 8192
_BUFFER_BYTES = 1 << 20
_FORWARD_READ_BYTES = 1 << 16


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


_WHOLE_PAYLOAD = ("txt", "html")  # formats whose one record is the payload (JSONL lines and WARC records stand alone)

_STREAM_ERRORS = (
    _ArchiveBomb,
    EOFError,
    OSError,  # includes gzip.BadGzipFile
    zlib.error,
    zipfile.BadZipFile,
    tarfile.TarError,
    ArchiveLoadFailed,
)


class _Guarded(io.RawIOBase):
    """A forward-only stream: optional sniffed head, then `inner`; optionally metered against the bomb limits.

    A stream error is deferred: the read that meets it returns end-of-stream, so every byte before the error
    reaches the reader (io.BufferedReader would drop a partly filled read), and the error is raised by the next
    read or by `raise_deferred` once the reader is done.
    """

    def __init__(self, inner: BinaryIO, head: bytes = b"", meter: tuple[int | None, IngestConfig] | None = None):
        self._inner, self._head, self._meter = inner, memoryview(head), meter
        self._pos, self._error, self._ended = 0, None, False

    def readable(self) -> bool:
        return True

    def tell(self) -> int:  # warcio computes record offsets through tell()
        return self._pos

    def readinto(self, buf) -> int:
        if self._error is not None:
            raise self._error
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n], self._head = self._head[:n], self._head[n:]
        else:
            try:
                data = self._inner.read1(len(buf))
                n = len(data)
                buf[:n] = data
                self._pos += n
                self._check_expansion()
            except _STREAM_ERRORS as exc:
                if self._ended:  # end-of-stream was already given: the reader asks again, so it gets the error
                    raise
                self._error, n = exc, 0
            self._ended = n == 0
            return n
        self._pos += n
        return n

    def _check_expansion(self) -> None:
        if self._meter is None:
            return
        stored, cfg = self._meter
        if self._pos > cfg.max_member_bytes:
            raise _ArchiveBomb(f"decompresses to over max_member_bytes={cfg.max_member_bytes}")
        ratio_judged = stored and self._pos > cfg.min_ratio_check_bytes
        if ratio_judged and self._pos > stored * cfg.max_expansion_ratio:
            raise _ArchiveBomb(f"{stored} stored bytes expand past {self._pos} (ratio > {cfg.max_expansion_ratio})")

    def raise_deferred(self) -> None:
        if self._error is not None:
            raise self._error
        _raise_deferred(self._inner)


def _raise_deferred(stream: BinaryIO) -> None:
    """Raise the stream error a reader met as end-of-stream, if any (at any layer of guarded streams)."""
    raw = getattr(stream, "raw", None)
    if isinstance(raw, _Guarded):
        raw.raise_deferred()


def _peek(stream: BinaryIO, seekable: bool) -> tuple[bytes, BinaryIO]:
    """The first bytes of a stream, and a stream that still starts at them."""
    if seekable:
        start = stream.tell()
        head = stream.read(_SNIFF_BYTES)
        stream.seek(start)
        return head, stream
    head = stream.read(_SNIFF_BYTES)
    # small reads: tarfile drops a whole read that meets a truncation, so the loss stays under 64 KiB
    return head, io.BufferedReader(_Guarded(stream, head), _FORWARD_READ_BYTES)


def _member_locator(name: str) -> str:
    return "#member=" + printable_path(name.replace("%", "%25").replace("#", "%23"))


def _member_problem(name: str, size: int, stored: int | None, cfg: IngestConfig) -> tuple[str, str] | None:
    """Why an archive member must not be read, judged from its header alone."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        return reasons.INGEST_UNSAFE_PATH, f"member path {printable_path(name)!r} is absolute or leaves the archive"
    if printable_path(name) != name:
        return reasons.INGEST_BAD_NAME, f"member name is not valid UTF-8 ({printable_path(name)!r})"
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
    inflated = _Guarded(gzip.GzipFile(fileobj=stream, mode="rb"), meter=(src.stored_bytes, cfg))
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
            problem = _zip_link(info) or _member_problem(info.filename, info.file_size, info.compress_size, cfg)
            if problem:
                yield Reject(locator, *problem)
                continue
            with archive.open(info) as member:  # zipfile stops at the declared size and checks the CRC
                yield from read_payload(member, _Payload(info.filename, locator, info.file_size, True), cfg)


def _zip_link(info: zipfile.ZipInfo) -> tuple[str, str] | None:
    """A zip member stored as a Unix symbolic link (its data is the target path, not a page)."""
    if stat.S_ISLNK(info.external_attr >> 16):
        return reasons.INGEST_LINK, f"symbolic link member {info.filename!r} is not followed"
    return None


def _tar_special(info: tarfile.TarInfo) -> tuple[str, str] | None:
    """A tar member that is no regular file: a link (never followed) or a device, FIFO or other special entry."""
    if info.issym() or info.islnk():
        kind = "symbolic" if info.issym() else "hard"
        return reasons.INGEST_LINK, f"{kind} link member to {printable_path(info.linkname)!r} is not followed"
    if not info.isfile():
        return reasons.INGEST_SPECIAL_FILE, f"member of tar type {info.type!r} (device, FIFO…) is no page"
    return None


def _tar_members(stream: BinaryIO, src: _Payload, cfg: IngestConfig) -> Iterator[Record | Reject]:
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for info in archive:
            if info.isdir():
                continue
            locator = src.locator + _member_locator(info.name)
            problem = _tar_special(info) or _member_problem(info.name, info.size, None, cfg)
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


def _dispatch(stream: BinaryIO, src: _Payload, cfg: IngestConfig) -> Iterator[Record | Reject]:
    head, stream = _peek(stream, src.seekable)
    if not head:
        _raise_deferred(stream)
        return
    fmt = sniff_format(head, src.name.lower())
    if fmt in CONTAINERS:
        if src.depth >= cfg.max_nesting_depth:
            yield Reject(src.locator, reasons.INGEST_ARCHIVE_BOMB, f"nested deeper than {cfg.max_nesting_depth}")
        else:
            yield from CONTAINERS[fmt](stream, replace(src, depth=src.depth + 1), cfg)
            _raise_deferred(stream)  # a tar stream ends quietly where its gzip layer was cut
        return
    if fmt == "binary":
        yield Reject(src.locator, reasons.INGEST_BINARY, "looks binary (NUL or control bytes in its first 8 KiB)")
        return
    items: Iterable[Record | Reject] = READERS[fmt](stream, cfg.max_record_bytes)
    if fmt in _WHOLE_PAYLOAD:  # the record is the whole payload: a cut or bombed stream leaves no page
        items = list(items)
        _raise_deferred(stream)
    for item in items:
        item.locator = src.locator + item.locator
        yield _record_problem(item, cfg) or item
    _raise_deferred(stream)


def _record_problem(item: Record | Reject, cfg: IngestConfig) -> Reject | None:
    """Why a record read whole is no page: no text at all, or a text over max_text_chars."""
    if isinstance(item, Reject):
        return None
    if not (item.text or "").strip() and not (item.html or "").strip():
        return Reject(item.locator, reasons.INGEST_NO_TEXT, "record has neither text nor html")
    if len(item.text or "") > cfg.max_text_chars:
        return Reject(
            item.locator,
            reasons.INGEST_TEXT_TOO_LONG,
            f"{len(item.text)} characters > max_text_chars={cfg.max_text_chars}",
        )
    return None


def read_payload(stream: BinaryIO, src: _Payload, cfg: IngestConfig) -> Iterator[Record | Reject]:
    """Records of one payload (a file or a member); a payload that yields nothing is reported empty."""
    n_items, last = 0, None
    try:
        for last in _dispatch(stream, src, cfg):
            n_items += 1
            yield last
    except _STREAM_ERRORS as exc:
        reason, message = _stream_error(exc)
        if not (isinstance(last, Reject) and last.reason == reason == reasons.INGEST_TRUNCATED):
            yield Reject(src.locator, reason, f"{message} (after {n_items} items)")  # else: reported inside
        return
    if n_items == 0:
        yield Reject(src.locator, reasons.INGEST_EMPTY, "holds no records (empty or only whitespace)")


def read_file(fh: BinaryIO, name: str, size: int, cfg: IngestConfig) -> Iterator[Record | Reject]:
    """Records of one raw file open for reading (seekable, at its start), or the Reject that explains why there
    are none; `name` is its file name (a format hint), `size` its size when it was opened."""
    if size == 0:
        yield Reject("", reasons.INGEST_EMPTY, "file is empty")
        return
    if size > cfg.max_file_bytes:
        yield Reject("", reasons.INGEST_TOO_LARGE, f"{size} bytes > max_file_bytes={cfg.max_file_bytes}")
        return
    yield from read_payload(fh, _Payload(name, "", size, True), cfg)


# ---- a slice of a JSON Lines file: what one ingest shard reads of a file too large for one (shards.py) ---------


class _Window(io.RawIOBase):
    """The next `size` bytes of a file open for reading, as a stream of its own."""

    def __init__(self, fh: BinaryIO, size: int):
        self._fh, self._left = fh, size

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = self._fh.readinto(memoryview(buf)[: min(len(buf), self._left)]) if self._left else 0
        self._left -= n
        return n


def read_jsonl_slice(
    fh: BinaryIO, start: int, stop: int, first_line: int, cfg: IngestConfig
) -> Iterator[Record | Reject]:
    """Records of bytes [start, stop) of a JSON Lines file (both at a line start; `first_line` the number of the
    slice's first line), as `read_file` gives them for those lines; a read error ends the slice with a Reject."""
    fh.seek(start)
    lines = io.BufferedReader(_Window(fh, stop - start), _BUFFER_BYTES)
    try:
        for item in read_jsonl(lines, cfg.max_record_bytes, first_line, start):
            yield _record_problem(item, cfg) or item
    except _STREAM_ERRORS as exc:
        reason, message = _stream_error(exc)
        yield Reject("", reason, f"{message} (in bytes {start}-{stop})")
