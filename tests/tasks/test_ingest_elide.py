"""Raw texts left out where they are published (tasks/ingest/elide.py): ingest's shards leave out the raw_text of a
JSON line whose raw_key the warehouse holds, keeping the key and the line's byte offset; strip reads those lines
again (`restore_texts`) and gets exactly the rows the one-process reference reads; a raw file changed in between
is a clear error, never a wrong text. Real Prefect flow (a temporary server), real worker processes, real Delta."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import write_deltalake
from helpers import CORPUS, NOW, ingest_in_shards
from prefect.testing.utilities import prefect_test_harness

from schemas import INGESTED_FILES
from tasks._spill import Spill
from tasks._stage import raw_keys
from tasks.ingest import IngestConfig, ingest_dumps
from tasks.ingest.elide import RawTextChanged, restore_texts

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


def test_restored_texts_are_the_rows_one_process_reads(night):
    raw, alone, sharded, _, tmp_path = night
    restored = restore_texts(sharded.kept, raw, tmp_path / "restored.parquet", 50).read()
    assert restored.column("raw_offset").null_count == restored.num_rows
    assert restored.equals(alone)
    assert restore_texts(Spill(tmp_path / "restored.parquet"), None, tmp_path / "again.parquet", 50).path == (
        tmp_path / "restored.parquet"
    ), "a spill without left-out texts is used as it is"


def test_a_raw_file_changed_after_ingest_is_a_clear_error(night):
    raw, _, sharded, _, tmp_path = night
    changed = tmp_path / "changed-raw"
    changed.mkdir()
    lines = (raw / "corpus.jsonl").read_bytes().splitlines(keepends=True)
    (changed / "corpus.jsonl").write_bytes(b"".join(reversed(lines)))
    with pytest.raises(RawTextChanged, match=r"corpus\.jsonl#line=\d+: the raw file changed after ingest read it"):
        restore_texts(sharded.kept, changed, tmp_path / "wrong.parquet", 50)
    with pytest.raises(ValueError, match="strip needs the raw folder"):
        restore_texts(sharded.kept, None, tmp_path / "none.parquet", 50)
    assert pc.sum(sharded.kept.read().column("raw_offset").is_valid()).as_py() > 0
