"""Ingest in shards (tasks/ingest/shards.py, the flow's `ingest_stage`) against the one-process reference
(`ingest_dumps`): the same rows, quarantine, registry rows and stats for any shard size, on the corpus as JSON
Lines, the seeds as .txt, and every kind of bad input; large JSON Lines files cut into line-aligned slices. Real
Prefect flow (a temporary server), real worker processes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake
from helpers import CORPUS, NOW, SEEDS, build_bad_inputs, ingest_in_shards
from prefect.testing.utilities import prefect_test_harness

from schemas import INGESTED_FILES, reasons
from tasks.ingest import IngestConfig, ingest_dumps
from tasks.ingest.shards import ingest_shard, plan_ingest
from tasks.ingest.stage import _sliced_files

RUN = "night"


@pytest.fixture(scope="module", autouse=True)
def prefect_server():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def _sharded(raw: Path, registry_of: Path, shard_bytes: int, out: Path, processes: int, run_id: str = RUN):
    return ingest_in_shards(raw, registry_of, shard_bytes, out, processes, run_id)


def _sharded_against(raw: Path, registry: pa.Table, shard_bytes: int, out: Path):
    """`ingest_stage` on a warehouse whose `ingested_files` holds `registry` (what earlier nights registered)."""
    warehouse = out.with_name(out.name + "-warehouse")
    write_deltalake(str(warehouse / INGESTED_FILES.name), INGESTED_FILES.conform(registry))
    return _sharded(raw, warehouse, shard_bytes, out, 2, run_id=f"after-{out.name}")


def _raw(tmp_path: Path) -> Path:
    """The corpus as one JSON Lines dump, the seeds as .txt files, and every kind of bad input."""
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "corpus.jsonl").write_bytes((CORPUS / "pages.jsonl").read_bytes())
    for seed in sorted(SEEDS.glob("*.txt")):
        (raw / "seeds").mkdir(exist_ok=True)
        (raw / "seeds" / seed.name).write_bytes(seed.read_bytes())
    (tmp_path / "outside").mkdir()
    build_bad_inputs(raw, tmp_path / "outside")
    return raw


def _quarantined(result) -> list[tuple[str, str]]:
    return sorted(
        zip(result.quarantined["source_uri"].to_pylist(), result.quarantined["reason"].to_pylist(), strict=True)
    )


def _registered(result) -> list[tuple]:
    files = result.outputs["ingested_files"].select(["path", "size_bytes", "mtime_ns", "sha256", "n_records"])
    return sorted(tuple(r.values()) for r in files.to_pylist())


def test_shards_read_what_one_process_reads_in_any_cut(tmp_path):
    raw = _raw(tmp_path)
    alone = ingest_dumps(raw, INGESTED_FILES.empty(), IngestConfig(), RUN, NOW)
    assert alone.stats["read"] > 229 and alone.quarantined.num_rows > 20, "the corpus, the seeds and the bad input"
    corpus_bytes = (raw / "corpus.jsonl").stat().st_size
    for shard_bytes, processes in ((4_096, 2), (corpus_bytes // 3, 2), (1 << 30, 1)):
        out = tmp_path / f"cut-{shard_bytes}"
        sharded = _sharded(raw, tmp_path / "warehouse", shard_bytes, out, processes)
        assert sharded.kept.read().equals(alone.kept), shard_bytes
        assert _quarantined(sharded) == _quarantined(alone), shard_bytes
        assert _registered(sharded) == _registered(alone), shard_bytes
        assert sharded.stats == alone.stats, shard_bytes
        parts = len(list((out / "kept").glob("part-*.parquet")))
        assert parts > (1 if shard_bytes < corpus_bytes else 0), shard_bytes
    slices = -(-corpus_bytes // 4_096)
    assert len(list((tmp_path / "cut-4096" / "kept").glob("part-*.parquet"))) >= slices // 2, "the dump was cut"


def test_each_row_carries_the_key_of_its_raw_text(tmp_path):
    raw = _raw(tmp_path)
    pages = _sharded(raw, tmp_path / "warehouse", 8_192, tmp_path / "out", 2).kept.read()
    for row in pages.select(["raw_text", "raw_key"]).to_pylist():
        want = hashlib.sha256(row["raw_text"].encode()).hexdigest()[:16] if row["raw_text"] is not None else None
        assert row["raw_key"] == want
    assert pc.sum(pc.is_valid(pages["raw_key"])).as_py() >= 229


def test_a_registered_dump_is_skipped_by_its_content_even_when_touched(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "corpus.jsonl").write_bytes((CORPUS / "pages.jsonl").read_bytes())
    first = _sharded(raw, tmp_path / "warehouse", 16_384, tmp_path / "one", 2)
    registry = first.outputs["ingested_files"]
    assert registry["n_records"].to_pylist() == [229]
    os.utime(raw / "corpus.jsonl", ns=(1, 1))  # same bytes, another mtime: the planner hashes it and skips it
    plan = plan_ingest(raw, registry, IngestConfig(), RUN, 16_384)
    assert plan.shards == [] and plan.tally.files_skipped == 1


def _new_lines(first: int, n: int) -> str:
    return "".join(
        json.dumps({"url": f"https://example.org/new/{i}", "text": f"Page {i}.\nA body."}) + "\n"
        for i in range(first, first + n)
    )


@pytest.mark.parametrize("shard_bytes", [4_096, 1 << 30])
def test_a_dump_grown_by_appending_is_read_from_where_it_was_registered(tmp_path, shard_bytes):
    raw = tmp_path / "raw"
    raw.mkdir()
    dump = raw / "corpus.jsonl"
    dump.write_bytes((CORPUS / "pages.jsonl").read_bytes())
    registry = _sharded(raw, tmp_path / "warehouse", shard_bytes, tmp_path / "one", 2).outputs["ingested_files"]
    with dump.open("a") as f:
        f.write(_new_lines(0, 40) + "not json\n")
    grown = _sharded_against(raw, registry, shard_bytes, tmp_path / "two")
    assert grown.stats["files_appended"] == 1 and grown.stats["read"] == 41
    whole = ingest_dumps(raw, INGESTED_FILES.empty(), IngestConfig(), RUN, NOW)
    appended = whole.kept.slice(229).drop_columns(["run_id"])
    got = grown.kept.read().drop_columns(["run_id"])
    assert got.equals(appended), "the rows a whole read gives for the appended lines, line numbers too"
    assert grown.kept.read()["source_uri"][0].as_py() == "corpus.jsonl#line=230"
    assert [(r["source_uri"], r["reason"]) for r in grown.quarantined.to_pylist()] == [
        ("corpus.jsonl#line=270", reasons.INGEST_BAD_JSON)
    ]
    (row,) = grown.outputs["ingested_files"].to_pylist()
    assert row["n_records"] == 229 + 41 and row["sha256"] == hashlib.sha256(dump.read_bytes()).hexdigest()
    assert row["size_bytes"] == dump.stat().st_size


def test_a_dump_rewritten_or_grown_from_a_cut_line_is_read_whole(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    dump = raw / "corpus.jsonl"
    lines = (CORPUS / "pages.jsonl").read_text().splitlines(keepends=True)
    dump.write_text("".join(lines[:100]) + lines[100].rstrip("\n"))  # the last line cut short of its end
    registry = _sharded(raw, tmp_path / "warehouse", 8_192, tmp_path / "one", 2).outputs["ingested_files"]
    dump.write_text("".join(lines[:100]) + lines[100] + _new_lines(0, 3))  # the cut line completed: it changed
    grown = _sharded_against(raw, registry, 8_192, tmp_path / "two")
    assert grown.stats["files_appended"] == 0 and grown.stats["read"] == 104
    dump.write_text("".join(reversed(lines)) + _new_lines(0, 3))  # rewritten in another order, then grown
    rewritten = _sharded_against(raw, grown.outputs["ingested_files"], 8_192, tmp_path / "three")
    assert rewritten.stats["files_appended"] == 0 and rewritten.stats["read"] == 232


def test_a_dump_that_changes_after_it_was_cut_keeps_its_records_and_is_not_registered(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    dump = raw / "corpus.jsonl"
    dump.write_bytes((CORPUS / "pages.jsonl").read_bytes())
    plan = plan_ingest(raw, INGESTED_FILES.empty(), IngestConfig(), RUN, 65_536)
    assert len(plan.shards) >= 3
    manifests = [ingest_shard(s, IngestConfig(), RUN, NOW, 500, tmp_path / "out") for s in plan.shards]
    for manifest in manifests:
        plan.tally.slices.update({(rel, i): n for rel, i, n in manifest["slices"]})
    with dump.open("a") as f:
        f.write("\n")
    assert _sliced_files(plan, RUN).num_rows == 0
    (row,) = plan.tally.quarantine
    assert (row["source_uri"], row["reason"]) == ("corpus.jsonl", reasons.INGEST_FILE_CHANGED)
    kept = pa.concat_tables(pq.read_table(p) for p in sorted((tmp_path / "out" / "kept").glob("part-*.parquet")))
    assert kept.num_rows == 229, "the records read stay"
    assert kept["source_uri"].to_pylist() == [f"corpus.jsonl#line={n}" for n in range(1, 230)]
