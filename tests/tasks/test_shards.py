"""Sharded stages on Prefect's task runner: the same tables however the pages are cut into shards and wherever
the shards run (this process, or the run's spawned worker processes)."""

from __future__ import annotations

import pyarrow.parquet as pq
from helpers import clean, ingest
from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from schemas import DOCUMENTS, STG_UNIQUE
from schemas.stg_pages import STG_DOCUMENTS
from tasks._shards import as_spill, plan_shards, worker_processes
from tasks.dedupe import DedupeConfig, dedupe_pages
from tasks.extract import ExtractConfig, extract_fields, extract_stage
from tasks.sizes import Sizes


def _unique_pages(raw):
    return dedupe_pages(
        clean(ingest(raw).kept).kept, DOCUMENTS.empty().select(["doc_id", "content_hash"]), DedupeConfig()
    ).kept


@flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
def _sharded_extract(pages, shard_rows: int, out, processes: int):
    with worker_processes(processes):
        return extract_stage(pages, ExtractConfig(), Sizes(shard_rows=shard_rows), out=out)


def test_sharded_extract_equals_one_pass_in_any_cut_and_place(seeds_raw, tmp_path):
    pages = _unique_pages(seeds_raw)
    assert pages.num_rows == 5
    alone = extract_fields(pages, ExtractConfig())
    assert alone.outputs["projects"].num_rows >= 1 and alone.outputs["contacts"].num_rows >= 1
    for shard_rows, processes in ((1, 2), (2, 1), (10, 2)):
        out = tmp_path / f"cut-{shard_rows}-{processes}"
        sharded = _sharded_extract(pages, shard_rows, out, processes)
        parts = sorted((out / "kept").glob("part-*.parquet"))
        assert len(parts) == -(-5 // shard_rows), "one part file per shard"
        assert sharded.kept.read().equals(alone.kept), (shard_rows, processes)
        for name in ("projects", "contacts", "mentions"):
            assert sharded.outputs[name].read().equals(alone.outputs[name]), (name, shard_rows, processes)
        assert sharded.stats == alone.stats


def test_no_pages_still_write_every_table_with_its_schema(tmp_path):
    result = _sharded_extract(STG_UNIQUE.empty(), 2, tmp_path / "out", 1)
    assert result.kept.num_rows == 0
    assert pq.read_schema(result.kept.files[0]).names == STG_DOCUMENTS.column_names  # documents + is_update
    assert result.kept.read().num_rows == 0 and result.outputs["projects"].read().num_rows == 0


def test_shards_cover_every_row_group_once_in_order(seeds_raw, tmp_path):
    pages = _unique_pages(seeds_raw)
    spill = as_spill(pages, tmp_path / "s.parquet", STG_UNIQUE, 2)  # row groups of 2, 2, 1
    for shard_rows, batch in ((3, 1), (3, 2), (1, 4), (2, 2), (5, 5), (9, 2)):
        shards = plan_shards(spill, shard_rows, batch)
        assert [s.rows for s in shards] == [min(shard_rows, 5 - i) for i in range(0, 5, shard_rows)]
        ids = [r["doc_id"] for s in shards for b in s.batches(["doc_id"]) for r in b.to_pylist()]
        assert ids == pages.column("doc_id").to_pylist(), (shard_rows, batch)
    assert plan_shards(as_spill(STG_UNIQUE.empty(), tmp_path / "e.parquet", STG_UNIQUE, 3), 4, 2) == []
