"""Cutting large JSON Lines dumps ahead of the flow (tasks/ingest/ahead.py, started by `docpipe run` while Prefect
starts): the flow's plan takes the cut made ahead for the same file state and is the plan it would make itself; a
dump that changed after its cut ahead, or a plan of another slice size, is cut again."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake
from helpers import CORPUS

from schemas import INGESTED_FILES
from tasks.ingest import IngestConfig
from tasks.ingest.ahead import cut_ahead, cuts_waiting, forget_cuts
from tasks.ingest.shards import IngestPlan, plan_ingest
from tasks.ingest.slices import cut_lines

RUN = "night"
SHARD_BYTES = 65_536


def _raw(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "corpus.jsonl").write_bytes((CORPUS / "pages.jsonl").read_bytes())
    (raw / "small.jsonl").write_bytes(b'{"url": "https://example.org/a", "text": "A page."}\n')
    return raw


def _slices(plan: IngestPlan) -> list[tuple]:
    pieces = [p for shard in plan.shards for p in shard.pieces]
    return [(p.entry.rel, p.sha256, p.index, p.start, p.stop, p.first_line) for p in pieces if hasattr(p, "sha256")]


def _ahead(raw: Path, warehouse: Path, shard_bytes: int = SHARD_BYTES) -> None:
    forget_cuts()
    cut_ahead(raw, warehouse, RUN, IngestConfig(), shard_bytes, workers=1).join(timeout=120)


def test_the_plan_takes_the_cut_made_ahead_and_plans_as_it_would_alone(tmp_path):
    raw = _raw(tmp_path)
    _ahead(raw, tmp_path / "warehouse")
    assert cuts_waiting() == 1, "the corpus dump is cut ahead; the small file is read whole"
    plan = plan_ingest(raw, INGESTED_FILES.empty(), IngestConfig(), RUN, SHARD_BYTES)
    assert cuts_waiting() == 0, "the plan took it"
    alone = plan_ingest(raw, INGESTED_FILES.empty(), IngestConfig(), RUN, SHARD_BYTES, cut=cut_lines)
    assert len(_slices(plan)) >= 3
    assert _slices(plan) == _slices(alone)
    assert [len(s.pieces) for s in plan.shards] == [len(s.pieces) for s in alone.shards]
    assert plan.sliced.keys() == alone.sliced.keys()


def test_a_dump_changed_after_its_cut_ahead_is_cut_again(tmp_path):
    raw = _raw(tmp_path)
    _ahead(raw, tmp_path / "warehouse")
    dump = raw / "corpus.jsonl"
    with dump.open("a") as f:
        f.write('{"url": "https://example.org/late", "text": "Appended after the cut."}\n')
    plan = plan_ingest(raw, INGESTED_FILES.empty(), IngestConfig(), RUN, SHARD_BYTES)
    assert cuts_waiting() == 1, "the cut of the older state is not taken"
    last = _slices(plan)[-1]
    assert (last[4], last[5]) != (0, 0) and last[4] == dump.stat().st_size, "the slices cover the grown file"
    assert _slices(plan) == _slices(
        plan_ingest(raw, INGESTED_FILES.empty(), IngestConfig(), RUN, SHARD_BYTES, cut=cut_lines)
    )
    forget_cuts()
    assert cuts_waiting() == 0


def test_a_grown_dump_is_cut_ahead_against_the_registry_and_other_slice_sizes_cut_again(tmp_path):
    raw = _raw(tmp_path)
    dump = raw / "corpus.jsonl"
    first = plan_ingest(raw, INGESTED_FILES.empty(), IngestConfig(), RUN, SHARD_BYTES, cut=cut_lines)
    sha, n_slices = first.sliced["corpus.jsonl"][2:4]
    st = dump.stat()
    registry = [
        {
            "path": "corpus.jsonl",
            "size_bytes": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "sha256": sha,
            "n_records": 229,
            "run_id": "earlier",
        }
    ]
    warehouse = tmp_path / "warehouse"
    write_deltalake(str(warehouse / INGESTED_FILES.name), INGESTED_FILES.conform(pa.Table.from_pylist(registry)))
    with dump.open("a") as f:
        f.write('{"url": "https://example.org/next", "text": "Tomorrow\'s page."}\n')
    _ahead(raw, warehouse)
    assert cuts_waiting() == 1
    known = INGESTED_FILES.conform(pa.Table.from_pylist(registry))
    plan = plan_ingest(raw, known, IngestConfig(), RUN, SHARD_BYTES)
    assert cuts_waiting() == 0 and plan.tally.files_appended == 1
    (only,) = _slices(plan)
    assert only[3] == st.st_size and only[5] == 230, "only the appended line is read"
    _ahead(raw, warehouse, shard_bytes=4 * SHARD_BYTES)  # cut ahead for another slice size: not taken
    again = plan_ingest(raw, known, IngestConfig(), RUN, SHARD_BYTES)
    assert cuts_waiting() == 1 and _slices(again) == _slices(plan)
    forget_cuts()
