"""What lies under the raw root, without ever leaving it: regular files to read, and the entries that must not
be read (symbolic links, FIFOs, sockets, devices, names that are not UTF-8), each with its reason.

The walk never follows a symbolic link (to a file or a folder, inside or outside the root): a link inside the
root names a file that is read under its own path anyway, and one leading out would let anything the process can
read land in the warehouse. Files are opened with O_NOFOLLOW and O_NONBLOCK and checked to be regular on the open
descriptor, so a file swapped for a link or a FIFO after the walk is refused too, and a FIFO never blocks a run.
Ingest only reads: nothing is ever created or changed under the root.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from schemas import reasons

_BUFFER_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One entry under the raw root: `rel` is its POSIX path (bytes that are not UTF-8 as %XX), `lstat` its own
    status (a link's, not its target's), `problem` (reason, message) when it must not be read."""

    path: Path
    rel: str
    lstat: os.stat_result
    problem: tuple[str, str] | None = None


def printable_path(rel: str) -> str:
    """`rel` with each byte that is not UTF-8 (surrogate-escaped by the OS layer, U+DC80-U+DCFF) written as %XX;
    every other character, ASCII or not, is left as it is."""
    return "".join(f"%{ord(c) - 0xDC00:02X}" if "\udc80" <= c <= "\udcff" else c for c in rel)


def _kind_problem(path: Path, real_root: str, mode: int) -> tuple[str, str] | None:
    if stat.S_ISLNK(mode):
        target = os.readlink(path)
        resolved = os.path.realpath(path)
        inside = resolved == real_root or resolved.startswith(real_root.rstrip(os.sep) + os.sep)
        where = "inside raw/, read under its own path" if inside else "outside raw/"
        return reasons.INGEST_LINK, f"symbolic link to {printable_path(target)!r} ({where}) is not followed"
    if not stat.S_ISREG(mode):
        return reasons.INGEST_SPECIAL_FILE, f"not a regular file (mode {stat.filemode(mode)}): not read"
    return None


def list_raw_entries(root: Path) -> list[RawEntry]:
    """Every entry below `root` (hidden files and folders excluded), sorted by path; folders are descended only
    when they are real folders, never through a link."""
    real_root = os.path.realpath(root)
    entries: list[RawEntry] = []
    folders = [Path(root)]
    while folders:
        with os.scandir(folders.pop()) as scan:
            for entry in scan:
                if entry.name.startswith("."):
                    continue
                path = Path(entry.path)
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    folders.append(path)
                    continue
                rel = path.relative_to(Path(root)).as_posix()
                problem = _kind_problem(path, real_root, st.st_mode)
                if problem is None and printable_path(rel) != rel:
                    problem = reasons.INGEST_BAD_NAME, f"file name is not valid UTF-8 ({printable_path(rel)!r})"
                entries.append(RawEntry(path, printable_path(rel), st, problem))
    return sorted(entries, key=lambda e: e.path)


def list_raw_files(root: Path) -> list[Path]:
    """The regular files below `root` that ingest reads, sorted."""
    return [e.path for e in list_raw_entries(root) if e.problem is None]


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading without following a link and without blocking on a FIFO; OSError when it is
    not a regular file any more (ELOOP for a link)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path.name} is no longer a regular file")
    return os.fdopen(fd, "rb", buffering=_BUFFER_BYTES)
