"""The sharded dedupe stage (sketch shards → decide → write kept shards) on Prefect's task runner gives exactly what
dedupe_pages gives in one process, however the pages are cut: documents kept, duplicates, index rows, stats.
Real corpus pages through ingest and strip_boilerplate, planted copies, and a second night against a real Delta
history."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from helpers import (
    clean,
    corpus_labels,
    corpus_pages,
    ingest,
    night_two_of,
    records_by_step,
    step_totals,
    write_jsonl_dump,
)
from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from schemas import DEDUPE_BANDS, DOCUMENTS, STG_CLEAN
from schemas.documents import VERSION_COLUMNS
from tasks._shards import worker_processes
from tasks.dedupe import DedupeConfig, dedupe_pages, dedupe_stage, load_history, sketch_pages
from tasks.history import History
from tasks.sizes import Sizes

CFG = DedupeConfig()
LABELS = corpus_labels()
PAGES = corpus_pages()
SHARD_ROWS = (1, 7, 10_000)


def _night_one_records() -> list[dict]:
    """40 corpus pages, the corpus's own duplicate pair (www. and bare host), exact copies under other URLs and
    without URL, and near copies of a long page (re-wrapped, one sentence changed, under the corpus's largest menu)."""
    pages = PAGES[:40] + [PAGES[i] for i, lab in enumerate(LABELS) if lab["dup_group"]]
    source = max(PAGES[40:], key=lambda p: len(p["text"]))
    lines = source["text"].splitlines()
    menu_page = max(range(len(LABELS)), key=lambda i: len(LABELS[i]["boilerplate"]))
    nav = [LABELS[menu_page]["lines"][j] for j in LABELS[menu_page]["boilerplate"]]
    changed = [*lines[:-1], lines[-1] + " A sentence added in the copy."]
    return [
        *pages,
        source,
        {"url": "https://copies.example.org/exact", "text": PAGES[3]["text"]},
        {"text": PAGES[5]["text"]},
        {"url": "https://mirror.example.net/rewrapped", "text": "\n".join(" ".join(lines).split(". "))},
        {"url": "https://mirror.example.net/changed", "text": "\n".join(changed)},
        {"url": "https://other.example.com/under-a-menu", "text": "\n".join(nav + lines)},
    ]


@pytest.fixture(scope="module")
def night_one(tmp_path_factory) -> pa.Table:
    return clean(ingest(write_jsonl_dump(tmp_path_factory.mktemp("night1") / "raw", _night_one_records())).kept).kept


@flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
def _sharded_dedupe(pages, warehouse: Path, shard_rows: int, out: Path, processes: int):
    """Mapped over worker processes when `shard_rows` is odd, else (a night of at most `Sizes.local_dedupe_rows`)
    every step in one process of its own (`small_night`)."""
    sizes = Sizes(shard_rows=shard_rows, local_dedupe_rows=0 if shard_rows % 2 else Sizes().local_dedupe_rows)
    with worker_processes(processes):
        return dedupe_stage(pages, History.latest(warehouse), CFG, sizes, out=out)


def _alone(pages: pa.Table, warehouse: Path):
    history, index = load_history(History.latest(warehouse), sketch_pages(pages, CFG))
    return dedupe_pages(pages, history, CFG, index)


def _assert_same(sharded, alone, label) -> None:
    assert sharded.kept.read().equals(alone.kept), label
    assert sharded.outputs["duplicates"].equals(alone.outputs["duplicates"]), label
    assert sharded.stats == alone.stats, label
    keys = {"dedupe_signatures": ["doc_id"], "dedupe_bands": ["doc_id", "band_key"]}
    for name, by in keys.items():  # index rows: the same set (their order follows the write slices)
        got = sharded.outputs[name].read().sort_by([(k, "ascending") for k in by])
        assert got.equals(alone.outputs[name].sort_by([(k, "ascending") for k in by])), (name, label)


def _publish(result, warehouse: Path) -> None:
    """Night one's documents and bands as Delta tables (the history night two reads)."""
    published = ["doc_id", "content_hash", *VERSION_COLUMNS]  # the columns dedupe reads of `documents`
    write_deltalake(str(warehouse / "documents"), DOCUMENTS.conform(result.kept).select(published))
    write_deltalake(str(warehouse / "dedupe_bands"), DEDUPE_BANDS.conform(result.outputs["dedupe_bands"]))


def _night_two(night_one: pa.Table) -> pa.Table:
    """Night one's first 20 pages again (unchanged), one of them edited (an update), and its near copies."""
    again, copies = night_two_of(night_one, 20, 2, "mirror.example.net")
    return pa.concat_tables([STG_CLEAN.conform(again), STG_CLEAN.conform(copies)])


def test_sharded_dedupe_equals_one_pass_for_any_shard_size(night_one, tmp_path):
    empty_warehouse = tmp_path / "warehouse"
    alone = _alone(night_one, empty_warehouse)
    kinds = set(alone.outputs["duplicates"].column("kind").to_pylist())
    assert {"exact", "superseded", "near", "contained"} <= kinds, kinds  # every kind, not none
    for shard_rows in SHARD_ROWS:
        sharded = _sharded_dedupe(night_one, empty_warehouse, shard_rows, tmp_path / f"n1-{shard_rows}", 2)
        _assert_same(sharded, alone, shard_rows)
    assert len(list((tmp_path / "n1-7" / "kept").glob("part-*.parquet"))) == -(-night_one.num_rows // 7)

    _publish(alone, empty_warehouse)
    tonight = _night_two(night_one)
    second = _alone(tonight, empty_warehouse)
    assert second.stats["unchanged"] == 19 and second.stats["updates"] == 1, second.stats
    assert second.stats["duplicates"] >= 2 and second.kept.num_rows == 1
    for shard_rows in SHARD_ROWS:
        sharded = _sharded_dedupe(tonight, empty_warehouse, shard_rows, tmp_path / f"n2-{shard_rows}", 2)
        _assert_same(sharded, second, ("night two", shard_rows))


def test_each_map_reads_under_its_named_step(night_one, tmp_path):
    """The run's progress sees the sketch map and the write map as passes named by their steps, each over the
    night's pages; the reduce between them reads no records."""
    with records_by_step() as seen:
        _sharded_dedupe(night_one, tmp_path / "warehouse", 7, tmp_path / "out", 2)
    n = night_one.num_rows
    assert step_totals(seen) == [("sketching pages", n), ("writing the kept pages", n)]


def test_no_pages_write_every_output_with_its_schema(tmp_path):
    result = _sharded_dedupe(STG_CLEAN.empty(), tmp_path / "warehouse", 7, tmp_path / "out", 1)
    assert result.kept.num_rows == 0 and result.stats["in"] == 0
    for name in ("dedupe_signatures", "dedupe_bands"):
        assert result.outputs[name].read().num_rows == 0
    assert result.kept.read().column_names == dedupe_pages(STG_CLEAN.empty(), DOCUMENTS.empty(), CFG).kept.column_names
