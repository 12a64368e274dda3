"""Ingest's shards (Prefect-free: a local worker process imports this module, not Prefect): the night's files to
read, in listing order, cut into shards of about `Sizes.shard_bytes` — small files grouped, a JSON Lines file too
large for one shard cut into line-aligned slices (slices.py) — and one shard read into its part files.

`plan_ingest` runs in the run process: the listing, the registry's skips, the entries that must not be read, and
the cut of large JSON Lines files (hashed in the same pass). `ingest_shard` reads one shard where the task runner
puts it and writes part `index` of the kept rows, of quarantine and of the registry rows of the files it read
whole; a sliced file's registry row is the stage's, once every slice is read (stage.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Set
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa

from schemas import INGESTED_FILES, QUARANTINE, STG_PAGES
from tasks._shards import fault_drill, spread_rows
from tasks._spill import part_file, write_spill
from tasks._stage import quarantine_table
from tasks.ingest.ahead import cut_once
from tasks.ingest.batches import Batcher, IngestTally, entries_to_read, read_entry, read_slice, registry_index
from tasks.ingest.config import IngestConfig
from tasks.ingest.elide import load_known
from tasks.ingest.listing import RawEntry, open_regular
from tasks.ingest.slices import Cut, FileSlice, after, cuttable

KEPT_DIR = "kept"
QUARANTINE_DIR = "quarantine"
REGISTRY_DIR = "registry"
LEAST_SLICE_BYTES = 1 << 20  # a night of a few MB is not cut finer than this to fill idle worker processes

Piece = RawEntry | FileSlice  # a file read whole, or a slice of one


@dataclass(frozen=True, slots=True)
class IngestShard:
    """Pieces read by one shard task, in listing order; `seen`: the registry rows of its whole files' paths
    ((path, size, mtime) and (path, sha256)), so a file registered under its content is skipped there."""

    index: int
    pieces: tuple[Piece, ...]
    seen: tuple[frozenset, frozenset] = (frozenset(), frozenset())

    @property
    def rows(self) -> int:
        """Unknown before it is read: the stage reports the records a shard read (its manifest's `records`)."""
        return 0


@dataclass(slots=True)
class IngestPlan:
    """The night's shards, the large files cut into slices (with their status when cut), and what the listing
    alone decided (quarantine and registry rows of entries that must not be read, files skipped)."""

    shards: list[IngestShard]
    # rel → (entry, status when cut, sha256, slices, records of the registered version it grew from)
    sliced: dict[str, tuple[RawEntry, os.stat_result, str, int, int]] = field(default_factory=dict)
    tally: IngestTally = field(default_factory=IngestTally)


Cutter = Callable[[BinaryIO, RawEntry, int, frozenset[int]], Cut]


def plan_ingest(
    root: Path,
    registry: pa.Table,
    cfg: IngestConfig,
    run_id: str,
    shard_bytes: int,
    cut: Cutter = cut_once,
    workers: int | None = None,
) -> IngestPlan:
    """The shards of every new or changed file under `root` (iter_ingest's order and skips); `cut` cuts a large
    JSON Lines file (slices.cut_lines, or the cut made ahead of the flow: ahead.py); `workers`: the run's local
    worker processes when planned before they are set (`spread_rows`)."""
    seen_stat, seen_sha = registry_index(registry) if not cfg.full else (set(), set())
    plan = IngestPlan([])
    to_read = list(entries_to_read(root, seen_stat, plan.tally, run_id))
    slice_bytes = spread_rows(sum(e.lstat.st_size for e in to_read), shard_bytes, LEAST_SLICE_BYTES, workers)
    versions = registered_versions(registry) if not cfg.full else {}
    pieces: list[Piece] = []
    for entry in to_read:
        pieces.extend(_pieces(entry, slice_bytes, cfg, (seen_sha, versions), plan, cut))
    plan.shards = _group(pieces, slice_bytes, seen_stat, seen_sha)
    return plan


def registered_versions(registry: pa.Table) -> dict[str, dict[int, tuple[str, int]]]:
    """Each registered path's sizes, with their sha256 and record count."""
    versions: dict[str, dict[int, tuple[str, int]]] = {}
    for row in registry.select(["path", "size_bytes", "sha256", "n_records"]).to_pylist():
        versions.setdefault(row["path"], {})[row["size_bytes"]] = (row["sha256"], row["n_records"])
    return versions


def _pieces(
    entry: RawEntry, slice_bytes: int, cfg: IngestConfig, known: tuple[Set, dict], plan: IngestPlan, cut: Cutter
) -> list[Piece]:
    """The entry whole, or its slices when it is plain JSON Lines larger than a slice or grown from a registered
    version (hashed and cut here): of a dump grown by appending to a registered version that ended at a line end,
    only the slices of what was appended; none when its content is registered (`known`: the registered (path,
    sha256) pairs and `registered_versions`)."""
    seen_sha, versions = known
    earlier = {size: row for size, row in versions.get(entry.rel, {}).items() if size < entry.lstat.st_size}
    if entry.lstat.st_size <= slice_bytes and not earlier:
        return [entry]
    try:
        fh = open_regular(entry.path)
    except OSError:
        return [entry]  # the shard reading it whole quarantines it, as a one-process run does
    with fh:
        before = os.fstat(fh.fileno())
        if not cuttable(fh, entry.path.name, before.st_size, 0 if earlier else slice_bytes, cfg):
            return [entry]
        sha, slices, prefixes = cut(fh, entry, slice_bytes, frozenset(earlier))
    if (entry.rel, sha) in seen_sha:
        plan.tally.files_skipped += 1
        return []
    grown = [p for p in prefixes.values() if p.at_line_end and earlier[p.size][0] == p.sha256]
    n_known = 0
    if grown:
        prefix = max(grown, key=lambda p: p.size)
        slices, n_known = after(slices, prefix), earlier[prefix.size][1]
        plan.tally.files_appended += 1
    plan.sliced[entry.rel] = (entry, before, sha, len(slices), n_known)
    return list(slices)


def _group(pieces: list[Piece], slice_bytes: int, seen_stat: set, seen_sha: set) -> list[IngestShard]:
    """Consecutive pieces in shards of about `slice_bytes` (a slice is a shard of its own)."""
    groups: list[list[Piece]] = []
    size = slice_bytes
    for piece in pieces:
        piece_size = piece.size if isinstance(piece, FileSlice) else piece.lstat.st_size
        if size + piece_size > slice_bytes and (not groups or groups[-1]):
            groups.append([])
            size = 0
        groups[-1].append(piece)
        size += piece_size
    by_path: dict[str, tuple[list, list]] = {}  # each path's registry rows: a shard takes its files' rows directly
    for kind, rows in enumerate((seen_stat, seen_sha)):
        for row in rows:
            by_path.setdefault(row[0], ([], []))[kind].append(row)
    shards = []
    for i, group in enumerate(groups):
        rows = [by_path.get(p.rel, ([], [])) for p in group if isinstance(p, RawEntry)]
        seen = (frozenset(r for stat, _ in rows for r in stat), frozenset(r for _, sha in rows for r in sha))
        shards.append(IngestShard(i, tuple(group), seen))
    return shards


def ingest_shard(
    shard: IngestShard,
    cfg: IngestConfig,
    run_id: str,
    now: datetime,
    chunk_rows: int,
    out: Path,
    known: Path | None = None,
) -> dict[str, Any]:
    """Read one shard into part `shard.index` of `out`'s kept rows, quarantine and registry rows (rewritten
    whole when the shard runs again), leaving out the raw_text of slices' records whose raw_key is in `known`
    (elide.py); the manifest counts records, texts left out, skipped files and each slice's items."""
    fault_drill("ingest", shard)
    out = Path(out)
    tally = IngestTally()
    batcher = Batcher(cfg, run_id, now, tally, chunk_rows, progress=False, known=load_known(known))
    write_spill(part_file(out / KEPT_DIR, shard.index), STG_PAGES, _batches(shard, cfg, batcher))
    write_spill(part_file(out / QUARANTINE_DIR, shard.index), QUARANTINE, [quarantine_table(tally.quarantine)])
    write_spill(part_file(out / REGISTRY_DIR, shard.index), INGESTED_FILES, [INGESTED_FILES.conform(tally.files)])
    return {
        "records": tally.n_pages,
        "texts_left_out": tally.n_elided,
        "files_skipped": tally.files_skipped,
        "slices": [[rel, index, n] for (rel, index), n in tally.slices.items()],
    }


def _batches(shard: IngestShard, cfg: IngestConfig, batcher: Batcher) -> Iterator[pa.RecordBatch]:
    for piece in shard.pieces:
        if isinstance(piece, FileSlice):
            yield from read_slice(piece, cfg, batcher)
        else:
            yield from read_entry(piece, shard.seen, cfg, batcher)
    if (batch := batcher.flush()) is not None:
        yield batch
