"""Shared plumbing for stages (not a stage): the StageResult shape, quarantine rows, hashing and text
normalisation used by more than one stage."""

from __future__ import annotations

import hashlib
import importlib
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas import QUARANTINE
from schemas.stg_pages import RAW_OFFSET
from tasks._spill import Rows, Spill, non_null_counts


def sha256_hex(data: str | bytes) -> str:
    """SHA-256 hex digest of bytes or UTF-8 text."""
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


RAW_KEY_CHARS = 16  # 64 bits of SHA-256: a chance collision among a night's re-delivered pages is ~1e-8 at 1M pages
_OFFSETS = {pa.string(): np.int32, pa.large_string(): np.int64}


def raw_keys(texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The first RAW_KEY_CHARS hex digits of the SHA-256 of each text's UTF-8 bytes (null for a null text), as
    DuckDB's `left(sha256(text), RAW_KEY_CHARS)` gives them: documents.raw_key. Hashed from slices of the Arrow
    data buffer, without making Python strings (3x faster on page texts)."""
    if isinstance(texts, pa.ChunkedArray):
        return pa.concat_arrays([raw_keys(chunk) for chunk in texts.chunks] or [pa.array([], pa.string())])
    if texts.type not in _OFFSETS:
        texts = texts.cast(pa.large_string())
    _, offsets, data = texts.buffers()[:3]
    ends = np.frombuffer(offsets, _OFFSETS[texts.type])[texts.offset : texts.offset + len(texts) + 1].tolist()
    view = memoryview(data if data is not None else b"")
    valid = texts.is_valid().to_pylist() if texts.null_count else [True] * len(texts)
    sha = hashlib.sha256
    spans = zip(ends[:-1], ends[1:], valid, strict=True)
    keys = [sha(view[a:b]).hexdigest()[:RAW_KEY_CHARS] if ok else None for a, b, ok in spans]
    return pa.array(keys, pa.string())


def raw_key(text: str) -> str:
    """One text's raw_key (`raw_keys`)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:RAW_KEY_CHARS]


def has_left_out(spill: Spill) -> bool:
    """Whether some row of a stg_pages spill has its raw_text left out by ingest (`raw_offset`; from the footers'
    statistics): such a spill goes through ingest's `restore_texts` before strip reads its texts."""
    for file in spill.files:
        meta = pq.read_metadata(file)
        if RAW_OFFSET not in meta.schema.names:
            continue
        counts = non_null_counts(meta, RAW_OFFSET)
        if counts is None or sum(counts):  # without statistics: taken as holding some
            return True
    return False


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def normalise_text(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: the form exact-duplicate hashing and line matching use.
    (str.split() splits on exactly the characters `re`'s \\s matches, ~10x faster than re.sub.)"""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def content_hash(text: str) -> str:
    """SHA-256 of the normalised body (`normalise_text`): the exact-duplicate key and documents.content_hash."""
    return sha256_hex(normalise_text(text))


WWW_PREFIX = "www."


def normalise_host(host: str) -> str:
    """Lower-case host without a leading `www.`: the site of a page, and the host of its canonical URL."""
    host = host.lower()
    return host[len(WWW_PREFIX) :] if host.startswith(WWW_PREFIX) else host


def normalise_hosts(hosts: pa.Array) -> pa.Array:
    """`normalise_host` of each value, with Arrow kernels (canonical URLs of a whole batch)."""
    return pc.replace_substring_regex(pc.utf8_lower(hosts), "^" + WWW_PREFIX.replace(".", "\\."), "")


def url_site(url: str | None) -> str | None:
    """The normalised host of a URL, or None when it has none."""
    return normalise_host(urlsplit(url).hostname or "") or None if url else None


def quarantine_row(
    source_uri: str, stage: str, reason: str, message: str, run_id: str, record_id: str | None = None
) -> dict[str, Any]:
    """One `quarantine` row; its id makes reruns idempotent (same record, stage and reason → same row)."""
    return {
        "quarantine_id": sha256_hex(f"{source_uri}\x00{stage}\x00{reason}"),
        "source_uri": source_uri,
        "stage": stage,
        "reason": reason,
        "message": message,
        "record_id": record_id,
        "run_id": run_id,
    }


def with_columns(table: pa.Table, extra: dict[str, pa.Array]) -> pa.Table:
    """The table with the `extra` columns appended."""
    for name, values in extra.items():
        table = table.append_column(name, values)
    return table


def quarantine_table(rows: Iterable[dict[str, Any]]) -> pa.Table:
    return QUARANTINE.conform(list(rows))


@dataclass(slots=True)
class StageResult:
    """What every stage returns: rows kept, rows quarantined, counters, and optional extra outputs.

    Conservation is checked on construction: in == kept + quarantined + dropped, where `dropped` counts rows
    that left the flow for a documented reason other than quarantine (duplicates, unchanged pages).
    """

    kept: Rows
    quarantined: pa.Table
    stats: dict[str, Any]
    outputs: dict[str, Rows] = field(default_factory=dict)
    n_in: int | None = None
    n_dropped: int = 0

    def __post_init__(self) -> None:
        n_kept, n_quarantined = self.kept.num_rows, self.quarantined.num_rows
        self.stats.setdefault("kept", n_kept)
        self.stats.setdefault("quarantined", n_quarantined)
        if self.n_in is not None:
            self.stats.setdefault("in", self.n_in)
            if self.n_in != n_kept + n_quarantined + self.n_dropped:
                raise AssertionError(
                    f"records not conserved: in={self.n_in} kept={n_kept} "
                    f"quarantined={n_quarantined} dropped={self.n_dropped}"
                )


def lazy_exports(package: str, module: str, names: tuple[str, ...]) -> Callable[[str], Any]:
    """A stage package's module `__getattr__` re-exporting `names` of its `module` (stage.py) on first use:
    stage.py holds the stage's Prefect tasks, and a local worker process running one of the stage's shards
    (tasks/_shards.py) imports the package without needing them, nor Prefect (1.1 s and ~60 MB a process)."""

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(f"{package}.{module}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
