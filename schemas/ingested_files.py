"""`ingested_files`: registry of raw files already read, for incremental runs."""

from __future__ import annotations

import pyarrow as pa

from schemas._table import Column, Table

INGESTED_FILES = Table(
    name="ingested_files",
    grain="one row per raw file version read (path, size, mtime, sha256)",
    key=("path", "sha256"),
    description="Raw files read so far; a file whose size, mtime and hash are listed is skipped.",
    columns=(
        Column("path", pa.string(), "Path relative to the raw root.", nullable=False),
        Column("size_bytes", pa.int64(), "File size in bytes.", nullable=False),
        Column("mtime_ns", pa.int64(), "Modification time (ns since epoch).", nullable=False),
        Column("sha256", pa.string(), "SHA-256 of the file.", nullable=False),
        Column("n_records", pa.int64(), "Records read from the file.", nullable=False),
        Column("run_id", pa.string(), "Run that read the file.", nullable=False),
    ),
)
