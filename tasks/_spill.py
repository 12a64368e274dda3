"""Stage outputs on disk (not a stage): a `Spill` is a table written to one Parquet file in row groups and read
back in batches, so a stage's output (and the next stage's input) need not fit in memory.

Stage tasks write their large outputs as spills into the folder the run gives them (their checkpoint folder,
flows/checkpoints.py) and read their inputs chunk by chunk with `chunks`; the pure stage functions keep taking
and returning pa.Table, one chunk at a time. `Rows` is what flows between stages: a table or a spill.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas import Table
from tasks._progress import advance


@dataclass(frozen=True, slots=True)
class Spill:
    """A table stored as one Parquet file, or as a folder of part files (`part-00000.parquet`, … one per shard,
    read in name order): row count and schema from the footers, rows read on demand."""

    path: Path

    @property
    def files(self) -> list[Path]:
        return sorted(self.path.glob("part-*.parquet")) if self.path.is_dir() else [self.path]

    @property
    def num_rows(self) -> int:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)

    def batches(self, rows: int, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        # pre_buffer=False: with it, the reader keeps every row group it has read until it is closed, so memory
        # would grow with the file (pyarrow 26: +7 MB a 2,000-row chunk of page texts, measured).
        for file in self.files:
            with pq.ParquetFile(file, pre_buffer=False) as f:
                yield from f.iter_batches(batch_size=rows, columns=list(columns) if columns else None)

    def read(self, columns: Sequence[str] | None = None) -> pa.Table:
        cols = list(columns) if columns else None
        return pa.concat_tables([pq.read_table(f, columns=cols) for f in self.files])

    def take(self, indices: Sequence[int], column: str) -> pa.Array:
        """Values of one column at the given row positions, reading only the row groups holding a wanted row (each
        file opened once a call; the files' row-group sizes read once a file version), so memory follows the rows
        asked for, not the files."""
        wanted = np.asarray(indices, np.int64)
        groups = [(file, g, n) for file in self.files for g, n in enumerate(_row_group_sizes(*_version(file)))]
        starts = np.concatenate([[0], np.cumsum([n for _, _, n in groups])]).astype(np.int64)
        group_of = np.searchsorted(starts, wanted, side="right") - 1
        order = np.argsort(group_of, kind="stable")
        by_group, group_ids = wanted[order], group_of[order]
        parts = []
        for file, in_file in itertools.groupby(np.unique(group_ids).tolist(), key=lambda g: groups[g][0]):
            with pq.ParquetFile(file, pre_buffer=False) as f:
                for g in in_file:
                    local = by_group[group_ids == g] - starts[g]
                    values = f.read_row_group(groups[g][1], columns=[column]).column(column)
                    parts.append(values.take(pa.array(local, pa.int64())).combine_chunks())
        if not parts:
            return pa.array([], pq.read_schema(self.files[0]).field(column).type)
        taken = pa.concat_arrays(parts)
        return taken.take(pa.array(np.argsort(order, kind="stable"), pa.int64()))


def _version(file: Path) -> tuple[str, int, int]:
    """A file and what tells its versions apart (a rerun rewrites the same path): modification time and size."""
    stat = Path(file).stat()
    return str(file), stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=4096)
def _row_group_sizes(file: str, mtime_ns: int, size: int) -> tuple[int, ...]:
    meta = pq.ParquetFile(file).metadata
    return tuple(meta.row_group(g).num_rows for g in range(meta.num_row_groups))


def non_null_counts(meta: pq.FileMetaData, column: str) -> list[int] | None:
    """Each row group's count of non-null values in `column`, from the file's statistics (`meta`: its footer);
    None when the file lacks the column or a row group lacks a null count."""
    names = meta.schema.names
    if column not in names:
        return None
    at, counts = names.index(column), []
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        stats = group.column(at).statistics
        if stats is None or not stats.has_null_count:
            return None
        counts.append(group.num_rows - stats.null_count)
    return counts


def part_file(folder: Path, index: int) -> Path:
    """The part file of shard `index` in a spill folder (names sort in shard order)."""
    return Path(folder) / f"part-{index:05d}.parquet"


def write_empty_parts(folders: Sequence[Path], tables: Sequence[Table]) -> None:
    """One empty part file in each spill folder, with its table's schema (a night with no shards still leaves
    every output readable)."""
    for folder, table in zip(folders, tables, strict=True):
        SpillWriter(part_file(folder, 0), table).close()


Rows = pa.Table | Spill


@dataclass(frozen=True, slots=True)
class SpillColumn:
    """One column of a spill, read only at the rows asked for (`take`), like a lazy pa.Array."""

    spill: Spill
    column: str

    def take(self, indices: pa.Array | Sequence[int]) -> pa.Array:
        values = indices.to_pylist() if isinstance(indices, pa.Array) else list(indices)
        return self.spill.take(values, self.column)


def column(rows: Rows, name: str) -> pa.ChunkedArray | SpillColumn:
    """A column to `take` from: in memory for a table, read on demand for a spill."""
    return SpillColumn(rows, name) if isinstance(rows, Spill) else rows.column(name)


def spill_format(table: Table) -> dict[str, Any]:
    """How spills are written: zstd at level 1, page texts without a dictionary. On a 3,897-row part of extract's
    kept rows (27 MB in memory) against pyarrow's defaults (snappy, a dictionary tried on every column): written
    in 0.088 s instead of 0.188, read in 0.028 s instead of 0.112, 6.8 MB instead of 14.6 (NOTES.md)."""
    dictionary = [name for name in table.column_names if name not in table.text_columns]
    return {"compression": "zstd", "compression_level": 1, "use_dictionary": dictionary}


class SpillWriter:
    """Writes tables or batches of one declared table to a spill file (conformed to its schema); `close()`
    returns the Spill. `overlap`: each part is encoded and compressed on a thread of the writer's own while the
    caller makes the next one (pyarrow releases the GIL there), holding one part more; for a producer alone on
    its core (ingest's JSON parsing in the run process: 100k pages 3.7 → 2.7 s). Not in worker processes, whose
    cores are busy with each other: there it cost ~11 s CPU a 100k night (bench_pipeline.py)."""

    def __init__(self, path: Path, table: Table, overlap: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.table = table
        self._writer = pq.ParquetWriter(self.path, table.arrow_schema, **spill_format(table))
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="spill-writer") if overlap else None
        self._pending: Future[None] | None = None

    def write(self, data: pa.Table | pa.RecordBatch) -> None:
        table = self.table.conform(pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data)
        if not table.num_rows:
            return
        if self._thread is None:
            self._writer.write_table(table)
            return
        self._wait()
        self._pending = self._thread.submit(self._writer.write_table, table)

    def _wait(self) -> None:
        """Until the part being written is on disk (its error, if any, raised here)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> Spill:
        try:
            self._wait()
        finally:
            if self._thread is not None:
                self._thread.shutdown()
            self._writer.close()
        return Spill(self.path)

    def __enter__(self) -> SpillWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
            return
        with suppress(Exception):  # the error that left the block is the one to raise
            self.close()


def write_spill(path: Path, table: Table, parts: Iterable[pa.Table | pa.RecordBatch], overlap: bool = False) -> Spill:
    """Write every part to a spill at `path` (`overlap`: see `SpillWriter`)."""
    writer = SpillWriter(path, table, overlap)
    with writer:
        for part in parts:
            writer.write(part)
    return Spill(writer.path)


def chunks(rows: Rows, size: int, columns: Sequence[str] | None = None) -> Iterator[pa.Table]:
    """The rows as tables of at most `size` rows (a stage's `Sizes.chunk_rows`), in order (only `columns` when
    given); each chunk is reported to the run's progress (tasks/_progress.py) as it is handed out."""
    if isinstance(rows, Spill):
        for batch in rows.batches(size, columns):
            advance(batch.num_rows)
            yield pa.Table.from_batches([batch])
        return
    table = rows.select(list(columns)) if columns else rows
    for start in range(0, table.num_rows, size):
        part = table.slice(start, size)
        advance(part.num_rows)
        yield part


def read_columns(rows: Rows, columns: Sequence[str]) -> pa.Table:
    """Only `columns` of the rows, all in memory (for the narrow columns of a large table)."""
    return rows.read(columns) if isinstance(rows, Spill) else rows.select(list(columns))


def materialise(rows: Rows) -> pa.Table:
    """All the rows in memory (small tables only)."""
    return rows.read() if isinstance(rows, Spill) else rows


def joined(first: Rows, second: Rows) -> pa.Table:
    """Two stages' rows of one table in one table (small tables only: the rows are read into memory)."""
    return pa.concat_tables([materialise(first), materialise(second)])


def filter_out(rows: Rows, drop: dict[str, Iterable], path: Path | None, table: Table, chunk_rows: int) -> Rows:
    """The rows except those whose column value is among `drop[column]` (for any of the columns); unchanged
    when nothing is to be dropped; a spill in gives a spill written at `path` out, `chunk_rows` at a time."""
    drop = {c: pa.array(sorted(set(v)), table.arrow_schema.field(c).type) for c, v in drop.items() if v}
    if not drop:
        return rows

    def keep(part: pa.Table) -> pa.Table:
        gone = [pc.is_in(part.column(c), values) for c, values in drop.items()]
        mask = gone[0]
        for more in gone[1:]:
            mask = pc.or_(mask, more)
        return part.filter(pc.invert(mask))

    if isinstance(rows, pa.Table) or path is None:
        return keep(materialise(rows))
    return write_spill(path, table, (keep(part) for part in chunks(rows, chunk_rows)))
