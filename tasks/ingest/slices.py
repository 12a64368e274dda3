"""Slices of a JSON Lines file too large for one shard: byte ranges that start and end at line starts, each with
the number of its first line, found in the same pass that hashes the file (the registry's sha256, which every
record of the file carries). Only plain JSON Lines is cut: a compressed or archived dump is one stream, read by
one shard. The same pass hashes the file's first bytes up to each size the registry holds for its path, so a dump
grown by appending is recognised (`Prefix`) and only what follows is read (`after`)."""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import BinaryIO

import numpy as np

from tasks.ingest.config import IngestConfig
from tasks.ingest.formats import sniff_format
from tasks.ingest.listing import RawEntry

_SNIFF_BYTES = 8192  # as the framing sniffs a payload
_BLOCK_BYTES = 8 << 20


@dataclass(frozen=True, slots=True)
class FileSlice:
    """Bytes [start, stop) of a JSON Lines file whose first line is line `first_line`; `sha256` the whole file's,
    `index` the slice's place in the file."""

    entry: RawEntry
    sha256: str
    index: int
    start: int
    stop: int
    first_line: int

    @property
    def size(self) -> int:
        return self.stop - self.start


def cuttable(fh: BinaryIO, name: str, size: int, slice_bytes: int, cfg: IngestConfig) -> bool:
    """Whether a file open at its start is plain JSON Lines (as the framing would sniff it) of more than one
    slice and within the size limit (a larger file is quarantined whole)."""
    if size <= slice_bytes or size > cfg.max_file_bytes:
        return False
    head = fh.read(_SNIFF_BYTES)
    fh.seek(0)
    return sniff_format(head, name.lower()) == "jsonl"


@dataclass(frozen=True, slots=True)
class Prefix:
    """The first `size` bytes of a file as the cut pass saw them: their sha256, how many lines they hold, and
    whether they end at a line end (a registered earlier version of a dump that grew by appending)."""

    size: int
    sha256: str
    lines: int
    at_line_end: bool


Cut = tuple[str, list["FileSlice"], dict[int, Prefix]]  # cut_lines: the file's sha256, its slices, its prefixes


def cut_lines(fh: BinaryIO, entry: RawEntry, slice_bytes: int, marks: frozenset[int] = frozenset()) -> Cut:
    """The file's sha256, its slices of about `slice_bytes` each, cut after the first line end past each
    multiple, and the `Prefix` at each offset of `marks` within the file (one read of the file, from its
    start)."""
    sha = hashlib.sha256()
    cuts: list[tuple[int, int]] = [(0, 1)]  # (offset, number of the line starting there)
    prefixes: dict[int, Prefix] = {}
    pos = lines = 0  # bytes read, line ends among them
    target = slice_bytes
    with ThreadPoolExecutor(1, thread_name_prefix="cut-hash") as hasher:  # hashlib releases the GIL: 3.5 → 2.9 s
        hashed: Future[None] | None = None  # at 1M pages (3.7 GB), beside the line count
        while block := fh.read(_BLOCK_BYTES):
            if hashed is not None:
                hashed.result()
            inside = sorted(m - pos for m in marks if pos < m <= pos + len(block))
            if inside:  # hashed here, up to each mark
                done = 0
                for k in inside:
                    sha.update(block[done:k])
                    done = k
                    prefixes[pos + k] = Prefix(
                        pos + k, sha.copy().hexdigest(), lines + block.count(b"\n", 0, k), block[k - 1] == 10
                    )
                hashed = hasher.submit(sha.update, block[done:])
            else:
                hashed = hasher.submit(sha.update, block)
            cuts, target = _cut_block(block, pos, lines, target, slice_bytes, cuts)
            lines += int(np.count_nonzero(np.frombuffer(block, np.uint8) == 10))  # the GIL released: 2.5× faster
            pos += len(block)
        if hashed is not None:
            hashed.result()
    cuts = [c for c in cuts if c[0] < pos]
    digest = sha.hexdigest()
    stops = [c[0] for c in cuts[1:]] + [pos]
    return (
        digest,
        [
            FileSlice(entry, digest, i, start, stop, first)
            for i, ((start, first), stop) in enumerate(zip(cuts, stops, strict=True))
        ],
        prefixes,
    )


def after(slices: list[FileSlice], prefix: Prefix) -> list[FileSlice]:
    """The slices of what follows `prefix` (which ends at a line end): the ones before it dropped, the one it
    ends inside started where it ends."""
    tail = []
    for piece in slices:
        if piece.stop <= prefix.size:
            continue
        if piece.start < prefix.size:
            piece = replace(piece, start=prefix.size, first_line=prefix.lines + 1)
        tail.append(replace(piece, index=len(tail)))
    return tail


def _cut_block(
    block: bytes, pos: int, lines: int, target: int, slice_bytes: int, cuts: list[tuple[int, int]]
) -> tuple[list[tuple[int, int]], int]:
    """The cuts due in `block` (read at offset `pos`, after `lines` line ends), and the next target offset."""
    while target < pos + len(block):
        end = block.find(b"\n", max(target - pos, 0))
        if end < 0:
            break  # the line goes on in the next block
        cuts.append((pos + end + 1, lines + block.count(b"\n", 0, end + 1) + 1))
        target = pos + end + 1 + slice_bytes
    return cuts, target
