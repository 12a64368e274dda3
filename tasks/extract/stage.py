"""The extract stage: pages in, one `documents` row each, plus `projects`, `contacts` and `mentions` rows.

`extract_stage` (the flow's entry) cuts the night's pages into shards and maps `extract_shard` over them
with the flow's task runner; each shard writes its part of the four tables as `part-NNNNN.parquet` files, so
the stage's outputs are spill folders and nothing but paths and counts travels between processes.
`extract_fields` is the same work in this process (tests, bench scripts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas import STG_UNIQUE
from tasks._shards import as_spill, map_shards, plan_shards
from tasks._spill import Rows, Spill, SpillWriter, chunks, write_empty_parts
from tasks._stage import StageResult, quarantine_table
from tasks.extract.config import ExtractConfig
from tasks.extract.records import OUTPUTS, extract_batch
from tasks.extract.shards import extract_shard, output_folders
from tasks.sizes import DEFAULT_SIZES, Sizes


def extract_fields(
    pages: Rows, cfg: ExtractConfig, out: Path | None = None, sizes: Sizes = DEFAULT_SIZES
) -> StageResult:
    """documents, projects, contacts and mentions rows for each page (order kept), in this process, a chunk at a
    time. With `out`, the four tables are written as spills (documents: out/kept.parquet; the others:
    out/outputs/<name>.parquet)."""
    if out is None:
        parts = [extract_batch(chunk, cfg) for chunk in chunks(pages, sizes.chunk_rows)]
        tables: list[Rows] = [
            pa.concat_tables([p[i] for p in parts]) if parts else t.empty() for i, t in enumerate(OUTPUTS)
        ]
    else:
        paths = [Path(out) / "kept.parquet", *(Path(out) / "outputs" / f"{t.name}.parquet" for t in OUTPUTS[1:])]
        writers = [SpillWriter(path, t) for path, t in zip(paths, OUTPUTS, strict=True)]
        for chunk in chunks(pages, sizes.chunk_rows):
            for writer, part in zip(writers, extract_batch(chunk, cfg), strict=True):
                writer.write(part)
        tables = [w.close() for w in writers]
    return _result(tables, pages.num_rows)


def extract_stage(pages: Rows, cfg: ExtractConfig, sizes: Sizes = DEFAULT_SIZES, *, out: Path) -> StageResult:
    """The stage as the flow runs it: one shard task per ~`sizes.shard_rows` pages on the flow's task runner."""
    spill = as_spill(pages, Path(out) / "input.parquet", STG_UNIQUE, sizes.shard_rows)
    shards = plan_shards(spill, sizes.shard_rows, sizes.chunk_rows)
    manifests: list[dict[str, Any]] = map_shards(extract_shard, shards, cfg=cfg, out=Path(out))
    folders = output_folders(out)
    if not shards:
        write_empty_parts(folders, OUTPUTS)
    tables = [Spill(f) for f in folders]
    counted = sum(m[OUTPUTS[0].name] for m in manifests)
    if counted != pages.num_rows:
        raise AssertionError(f"extract shards wrote {counted} documents for {pages.num_rows} pages")
    return _result(tables, pages.num_rows)


def _result(tables: list[Rows], n_in: int) -> StageResult:
    documents, projects, contacts, mentions = tables
    stats = {"projects": projects.num_rows, "contacts": contacts.num_rows, "mentions": mentions.num_rows}
    return StageResult(
        documents,
        quarantine_table([]),
        stats,
        outputs={"projects": projects, "contacts": contacts, "mentions": mentions},
        n_in=n_in,
    )


@task(name="extract", cache_policy=NO_CACHE)
def extract_fields_task(
    pages: Rows, cfg: ExtractConfig, out: Path | None = None, sizes: Sizes = DEFAULT_SIZES
) -> StageResult:
    return extract_fields(pages, cfg, out, sizes)
