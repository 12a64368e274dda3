"""strip_boilerplate on shards (#14): the sharded stage (sample per shard → the night's sample → strip per shard →
re-strip of published documents) gives the one-process stage's kept rows, quarantine, stats and sample rows,
however the night is cut and wherever the shards run, on the corpus with and without URLs, over a warehouse
that already holds an earlier night's documents and sample."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake
from helpers import clean, corpus_labels, corpus_pages, ingest, records_by_step, step_totals
from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.testing.utilities import prefect_test_harness

from schemas import BOILERPLATE_PAGES, DOCUMENTS, STG_CLEAN, STG_PAGES, reasons
from tasks._shards import worker_processes
from tasks.history import History
from tasks.sizes import Sizes
from tasks.strip_boilerplate import BoilerplateConfig, strip_boilerplate_task, strip_stage

NIGHT_ONE_PAGES = 150  # of the corpus's 229, in a shuffled order; the others (and a menu-only page) are night two


@pytest.fixture(scope="module", autouse=True)
def prefect_server():
    """A real temporary Prefect API server for the module (a generous start-up timeout: CI machines are busy)."""
    with prefect_test_harness(server_startup_timeout=120):
        yield


@flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
def _sharded_strip(pages, warehouse, shard_rows: int, out, processes: int):
    with worker_processes(processes):
        return strip_stage(pages, History.latest(warehouse), BoilerplateConfig(), Sizes(shard_rows=shard_rows), out=out)


def _menu_only_page() -> dict:
    """A night-two page holding nothing but the labelled template lines of a page of a site with many pages."""
    pages, labels = corpus_pages(), corpus_labels()
    i = next(i for i, lab in enumerate(labels) if lab["site"] == "iom.int" and len(lab["boilerplate"]) >= 8)
    menu = [labels[i]["lines"][j] for j in labels[i]["boilerplate"]]
    return {"url": pages[i]["url"].rstrip("/") + "/menu-only", "text": "\n".join(menu)}


def _write_night(raw: Path, pages: list[dict], shape: str) -> Path:
    raw.mkdir(parents=True)
    if shape == "jsonl":
        (raw / "night.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pages))
    else:
        for i, page in enumerate(pages):
            (raw / f"p{i:04d}.txt").write_text(page["text"])
    return raw


def _publish_night_one(warehouse: Path, pages: pa.Table) -> None:
    """Night one's documents and sample in the warehouse (real Delta tables), as publish would leave them."""
    night = clean(pages)
    n, ids = night.kept.num_rows, night.kept.column("record_id")
    docs = night.kept
    filler = {"title": "t", "title_source": "raw_title", "doc_type": "news", "language": "en", "word_count": 0}
    for name, value in {**filler, "doc_id": ids, "content_hash": ids}.items():  # columns extract fills
        docs = docs.append_column(name, value if isinstance(value, pa.ChunkedArray) else pa.array([value] * n))
    write_deltalake(str(warehouse / "documents"), DOCUMENTS.conform(docs))
    write_deltalake(str(warehouse / "boilerplate_pages"), BOILERPLATE_PAGES.conform(night.outputs["boilerplate_pages"]))


@pytest.fixture(params=["jsonl", "txt"])
def night_two(request, tmp_path) -> tuple[pa.Table, Path]:
    """Night two's ingested pages and the warehouse night one left, in one input shape."""
    order = list(range(len(corpus_pages())))
    random.Random(5).shuffle(order)
    pages = [corpus_pages()[i] for i in order]
    first = ingest(_write_night(tmp_path / "raw1", pages[:NIGHT_ONE_PAGES], request.param), "night-1").kept
    warehouse = tmp_path / "warehouse"
    _publish_night_one(warehouse, first)
    second = pages[NIGHT_ONE_PAGES:] + [_menu_only_page()]
    return ingest(_write_night(tmp_path / "raw2", second, request.param), "night-2").kept, warehouse


def test_sharded_strip_equals_one_pass_in_any_cut_and_place(night_two, tmp_path):
    pages, warehouse = night_two
    alone = strip_boilerplate_task.fn(pages, History.latest(warehouse), BoilerplateConfig())
    assert alone.stats["restripped"] >= 1, "night two re-strips some of night one's documents"
    assert [r["reason"] for r in alone.quarantined.to_pylist()] == [reasons.BOILERPLATE_EMPTY_BODY]
    assert alone.stats["boilerplate_lines"] > 0 and alone.outputs["boilerplate_pages"].num_rows > 0
    for shard_rows, processes in ((1, 2), (7, 2), (10_000, 1)):
        out = tmp_path / f"cut-{shard_rows}-{processes}"
        sharded = _sharded_strip(pages, warehouse, shard_rows, out, processes)
        n_shards = -(-pages.num_rows // shard_rows)
        assert len(list((out / "kept").glob("part-*.parquet"))) == n_shards + 1, "a part a shard + the re-strip"
        assert sharded.kept.read().equals(alone.kept), shard_rows
        assert sharded.quarantined.equals(alone.quarantined), shard_rows
        assert sharded.stats == {**alone.stats, "restrip": "scoped"}, shard_rows  # the flow's stage records its mode
        assert sharded.outputs["boilerplate_pages"].equals(alone.outputs["boilerplate_pages"]), shard_rows
        assert pq.read_table(out / "model.parquet").num_rows >= alone.outputs["boilerplate_pages"].num_rows
        # a page is fingerprinted once, and only when it is in the night's sample (not for a shard's sample)
        tonight = sharded.outputs["boilerplate_pages"]
        fingerprinted = sum(pq.read_metadata(f).num_rows for f in (out / "fingerprints").glob("part-*.parquet"))
        assert len(set(tonight.column("page_key").to_pylist())) <= fingerprinted <= tonight.num_rows, shard_rows


def test_each_map_reads_under_its_named_step(night_two, tmp_path):
    """The run's progress sees each map of the stage as a pass named by its step: the night's pages sampled, the
    shards holding sampled pages fingerprinted, the night's pages stripped, the published documents of the
    re-strip's scope stripped again."""
    pages, warehouse = night_two
    with records_by_step() as seen:
        _sharded_strip(pages, warehouse, 7, tmp_path / "out", 2)
    steps = step_totals(seen)
    assert [name for name, _ in steps] == [
        "sampling pages",
        "fingerprinting the sampled pages",
        "stripping pages",
        "stripping published documents again",
    ]
    assert steps[0][1] == steps[2][1] == pages.num_rows
    assert 0 < steps[1][1] <= pages.num_rows and steps[3][1] > 0


def test_a_night_without_pages_leaves_an_empty_kept_spill(tmp_path):
    result = _sharded_strip(STG_PAGES.empty(), tmp_path / "warehouse", 4, tmp_path / "out", 1)
    assert result.kept.num_rows == 0 and result.quarantined.num_rows == 0
    assert pq.read_schema(result.kept.files[0]).names == STG_CLEAN.column_names
    assert result.stats["in"] == 0 and result.outputs["boilerplate_pages"].num_rows == 0
