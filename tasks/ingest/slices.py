"""Slices of a JSON Lines file too large for one shard: byte ranges that start and end at line starts, each with
the number of its first line, found in the same pass that hashes the file (the registry's sha256, which every
record of the file carries). Only plain JSON Lines is cut: a compressed or archived dump is one stream, read by
one shard."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import BinaryIO

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


def cut_lines(fh: BinaryIO, entry: RawEntry, slice_bytes: int) -> tuple[str, list[FileSlice]]:
    """The file's sha256 and its slices of about `slice_bytes` each, cut after the first line end past each
    multiple (one read of the file, from its start)."""
    sha = hashlib.sha256()
    cuts: list[tuple[int, int]] = [(0, 1)]  # (offset, number of the line starting there)
    pos = lines = 0  # bytes read, line ends among them
    target = slice_bytes
    while block := fh.read(_BLOCK_BYTES):
        sha.update(block)
        while target < pos + len(block):
            end = block.find(b"\n", max(target - pos, 0))
            if end < 0:
                break  # the line goes on in the next block
            cuts.append((pos + end + 1, lines + block.count(b"\n", 0, end + 1) + 1))
            target = pos + end + 1 + slice_bytes
        lines += block.count(b"\n")
        pos += len(block)
    cuts = [c for c in cuts if c[0] < pos]
    digest = sha.hexdigest()
    stops = [c[0] for c in cuts[1:]] + [pos]
    return digest, [
        FileSlice(entry, digest, i, start, stop, first)
        for i, ((start, first), stop) in enumerate(zip(cuts, stops, strict=True))
    ]
