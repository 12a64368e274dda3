"""Raw texts left out where they are published (tasks/ingest/elide.py): ingest's shards leave out the raw_text of a
JSON line whose raw_key the warehouse holds, keeping the key and the line's byte offset; strip reads those lines
again (`restore_texts`) and gets exactly the rows the one-process reference reads; a record whose line changed in
between is quarantined (ingest.file_changed), never given a wrong text. Real Prefect flow (a temporary server),
real worker processes, real Delta."""

from __future__ import annotations

import functools
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import write_deltalake
from helpers import CORPUS, NOW, ingest_in_shards
from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.testing.utilities import prefect_test_harness

from schemas import INGESTED_FILES, reasons
from tasks._spill import Spill
from tasks._stage import raw_keys
from tasks.history import History
from tasks.ingest import IngestConfig, ingest_dumps
from tasks.ingest.elide import restore_texts
from tasks.strip_boilerplate import BoilerplateConfig, strip_stage

RUN = "night-2"


@pytest.fixture(scope="module", autouse=True)
def prefect_server():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def _published(tmp_path: Path, keys: list[str]) -> Path:
    """A warehouse whose `documents` hold these raw_keys (the columns elide.py reads)."""
    warehouse = tmp_path / "warehouse"
    docs = pa.table({"doc_id": [f"d{i}" for i in range(len(keys))], "raw_key": pa.array(keys, pa.string())})
    write_deltalake(str(warehouse / "documents"), docs)
    write_deltalake(str(warehouse / INGESTED_FILES.name), INGESTED_FILES.empty())
    return warehouse


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """The corpus as one JSON Lines dump, ingested in slices against a warehouse that publishes every other line's
    text; the one-process reference beside it."""
    tmp_path = tmp_path_factory.mktemp("elide")
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "corpus.jsonl").write_bytes((CORPUS / "pages.jsonl").read_bytes())
    alone = ingest_dumps(raw, INGESTED_FILES.empty(), IngestConfig(), RUN, NOW, None).kept
    published = raw_keys(alone.column("raw_text")).to_pylist()[::2]
    sharded = ingest_in_shards(raw, _published(tmp_path, published), 65_536, tmp_path / "out", run_id=RUN)
    return raw, alone, sharded, set(published), tmp_path


def test_shards_leave_out_published_texts_with_their_key_and_line_offset(night):
    raw, alone, sharded, published, _ = night
    kept = sharded.kept.read()
    assert kept.num_rows == alone.num_rows == 229
    left_out = kept.filter(kept.column("raw_offset").is_valid())
    assert left_out.column("raw_key").to_pylist() == [
        k for k in raw_keys(alone["raw_text"]).to_pylist() if k in published
    ]
    assert sharded.stats["texts_left_out"] == left_out.num_rows >= 100
    assert left_out.column("raw_text").null_count == left_out.num_rows
    data = (raw / "corpus.jsonl").read_bytes()
    for uri, offset in zip(left_out["source_uri"].to_pylist(), left_out["raw_offset"].to_pylist(), strict=True):
        number = int(uri.rpartition("#line=")[2])
        assert offset == 0 or data[offset - 1 : offset] == b"\n"
        assert data[:offset].count(b"\n") == number - 1, uri
    kept_texts = kept.filter(kept.column("raw_offset").is_null())
    assert kept_texts.column("raw_text").null_count == 0
    assert not set(kept_texts.column("raw_key").to_pylist()) & published


def _restore(spill: Spill, raw: Path, path: Path) -> tuple[Spill, pa.Table]:
    return restore_texts(spill, path, raw=raw, chunk_rows=50, run_id=RUN)


def test_restored_texts_are_the_rows_one_process_reads(night):
    raw, alone, sharded, _, tmp_path = night
    restored, lost = _restore(sharded.kept, raw, tmp_path / "restored.parquet")
    assert lost.num_rows == 0
    assert restored.read().column("raw_offset").null_count == alone.num_rows
    assert restored.read().equals(alone)
    again, _ = _restore(Spill(tmp_path / "restored.parquet"), raw, tmp_path / "again.parquet")
    assert again.path == tmp_path / "restored.parquet", "a spill without left-out texts is used as it is"


def test_a_record_whose_line_changed_after_ingest_is_quarantined_not_given_a_wrong_text(night):
    raw, alone, sharded, published, tmp_path = night
    changed = tmp_path / "changed-raw"
    changed.mkdir()
    lines = (raw / "corpus.jsonl").read_bytes().splitlines(keepends=True)
    # the first half of the dump as it was, the second half rewritten in another order (same sizes, other lines)
    half = len(lines) // 2
    (changed / "corpus.jsonl").write_bytes(b"".join(lines[:half] + lines[half:][::-1]))
    restored, lost = _restore(sharded.kept, changed, tmp_path / "changed.parquet")
    kept = sharded.kept.read()
    left_out = kept.filter(kept.column("raw_offset").is_valid())
    moved = {
        f"corpus.jsonl#line={i + 1}" for i in range(half, len(lines)) if lines[i] != lines[len(lines) - 1 - i + half]
    }
    expected_lost = sorted(set(left_out["source_uri"].to_pylist()) & moved)
    assert expected_lost, "the rewrite moves some left-out lines"
    assert sorted(lost["source_uri"].to_pylist()) == expected_lost
    assert set(lost["reason"].to_pylist()) == {reasons.INGEST_FILE_CHANGED}
    assert set(lost["stage"].to_pylist()) == {"ingest"}
    rows = restored.read()
    assert rows.num_rows + lost.num_rows == alone.num_rows, "every record is kept or quarantined"
    reference = alone.filter(pc.invert(pc.is_in(alone["source_uri"], pa.array(expected_lost))))
    assert rows.equals(reference), "the other records have exactly the texts ingest read"
    assert pc.sum(kept.column("raw_offset").is_valid()).as_py() > 0


@flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
def _strip(pages: Spill, warehouse: Path, raw: Path, out: Path):
    restore = functools.partial(restore_texts, raw=raw, chunk_rows=50, run_id=RUN)
    return strip_stage(pages, History.latest(warehouse), BoilerplateConfig(), run_id=RUN, restore=restore, out=out)


def test_strip_quarantines_the_records_whose_line_changed_and_conserves_the_night(night):
    raw, alone, sharded, _, tmp_path = night
    changed = tmp_path / "rewritten"
    changed.mkdir()
    lines = (raw / "corpus.jsonl").read_bytes().splitlines(keepends=True)
    (changed / "corpus.jsonl").write_bytes(b"".join(reversed(lines)))  # every line elsewhere but the middle one
    warehouse = tmp_path / "empty-warehouse"
    warehouse.mkdir()
    result = _strip(sharded.kept, warehouse, changed, tmp_path / "strip")
    quarantined = result.quarantined
    lost = quarantined.filter(pc.equal(quarantined["reason"], reasons.INGEST_FILE_CHANGED))
    n_left_out = sharded.stats["texts_left_out"]
    assert lost.num_rows >= n_left_out - 1 and lost.num_rows > 0
    assert result.stats["in"] == alone.num_rows == result.kept.num_rows + quarantined.num_rows
    stripped = set(result.kept.read()["source_uri"].to_pylist())
    assert not stripped & set(lost["source_uri"].to_pylist()), "a record is stripped or quarantined, not both"
    with pytest.raises(ValueError, match="strip needs ingest's restore_texts"):
        strip_stage(sharded.kept, History.latest(warehouse), BoilerplateConfig(), run_id=RUN, out=tmp_path / "none")
