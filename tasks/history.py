"""History: the warehouse as a run's stages read it — every table pinned at the version it had before the run
committed anything (shared plumbing, not a stage).

The flow resolves the versions once, when a run opens (flows/ledger.py: `base_versions`, the same versions its
checkpoint fingerprint is built from), and hands one `History` to every stage that reads the past (ingest's file
registry, strip's template sample and published documents, dedupe's index and documents, validate's run
history). So all stages of a run see one state of the warehouse, however long the night; and a run resumed after
it committed part of its publish (killed mid-publish, or rerun with --from-stage) reads what its first attempt
read, never its own rows as "already published". Each reader is filtered (columns; keys, one data file at a
time) so memory follows tonight, not the warehouse.

A `History` is a path and a few integers: it pickles to Dask workers. Publish, the only writer, reads the live
tables (tasks/publish/), not a History.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from schemas import PUBLISHED, STATE, Table
from tasks._warehouse import current_version, open_delta, read_delta_files, rows_holding


@dataclass(frozen=True, slots=True)
class History:
    """The warehouse at `warehouse`, each table at its version in `versions` (None: the table did not exist)."""

    warehouse: Path
    versions: tuple[tuple[str, int | None], ...]

    @classmethod
    def pinned(cls, warehouse: Path, versions: Mapping[str, int | None]) -> History:
        return cls(Path(warehouse), tuple(sorted(versions.items())))

    @classmethod
    def latest(cls, warehouse: Path, tables: Sequence[Table] = (*PUBLISHED, *STATE)) -> History:
        """`tables` at their current versions (a stage run outside a flow: tests, bench scripts)."""
        return cls.pinned(warehouse, {t.name: current_version(warehouse, t) for t in tables})

    def version(self, table: Table) -> int | None:
        """The pinned version of `table`; a table the run does not know is an error, not the latest version."""
        pinned = dict(self.versions)
        if table.name not in pinned:
            raise KeyError(f"table {table.name!r} is not part of this run's history ({sorted(pinned)})")
        return pinned[table.name]

    def delta(self, table: Table) -> DeltaTable | None:
        """The Delta table at its pinned version; None when it did not exist before the run."""
        version = self.version(table)
        return None if version is None else open_delta(self.warehouse, table, version)

    def files(self, table: Table) -> list[str]:
        """The data files of the pinned version (for DuckDB's read_parquet or pyarrow)."""
        dt = self.delta(table)
        return [] if dt is None else list(dt.file_uris())

    def read(self, table: Table, columns: Sequence[str] | None = None) -> pa.Table:
        """`columns` of every row of the pinned version; an empty table of the declared schema if absent."""
        dt = self.delta(table)
        if dt is None:
            empty = table.empty()
            return empty if columns is None else empty.select(list(columns))
        return read_delta_files(dt, table.arrow_schema, columns)

    def iter_where(self, table: Table, columns: Sequence[str], key: str, values: Sequence[str]) -> Iterator[pa.Table]:
        """Pinned rows whose `key` is one of `values`, one data file at a time (`rows_holding`: each file's `key`
        column is read first, the other columns only of the row groups holding a match)."""
        wanted = pa.table({key: pa.array(list(values), pa.string())})
        schema = pa.schema([table.arrow_schema.field(c) for c in columns])
        for f in self.files(table):
            rows = rows_holding([f], key, wanted, schema)
            if rows.num_rows:
                yield rows
