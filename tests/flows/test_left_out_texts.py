"""A re-delivered crawl read in slices leaves out the raw texts the warehouse holds (tasks/ingest/elide.py) and
publishes exactly what the same night publishes reading every text: the real nightly flow, night 2 delivered as a
new JSON Lines file (the corpus in another order, one page edited, one delivered twice, a copy under another URL,
a line without URL, a new page), once cut into slices of 32 KiB (texts left out) and once read whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from helpers import corpus_pages, good_text

from flows.nightly import nightly
from schemas import CONTACTS, DOCUMENTS, DUPLICATES, MENTIONS, PROJECTS, QUARANTINE
from tasks._warehouse import read_current

EDITED, TWICE, COPIED = 3, 7, 11  # corpus pages (by position) edited / delivered twice / copied on night 2
NO_URL = {"text": good_text(1)}
NEW = {"url": "https://example.org/news/a-page-new-on-night-two", "text": good_text(2)}
SLICE_BYTES = 32_768


def _write(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _rows(warehouse: Path, table) -> list[dict]:
    """A published table's rows without its timestamps (the two nights run at other times), sorted."""
    rows = read_current(warehouse, table)
    keep = [f.name for f in rows.schema if not pa.types.is_timestamp(f.type)]
    return sorted(rows.select(keep).to_pylist(), key=lambda r: json.dumps(r, sort_keys=True, default=str))


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    base = tmp_path_factory.mktemp("left-out")
    raw, sliced, whole = base / "raw", base / "sliced", base / "whole"
    raw.mkdir()
    pages = corpus_pages()
    _write(raw / "night1.jsonl", [*pages, NO_URL])
    assert nightly(str(raw), str(sliced), "night-1").status == "succeeded"
    shutil.copytree(sliced, whole)
    edited = dict(pages[EDITED], text=pages[EDITED]["text"].replace(" the ", " a ", 1))
    copy = dict(pages[COPIED], url=pages[COPIED]["url"].rstrip("/") + "/copy-of-it")
    again = [*reversed(pages[EDITED + 1 :]), edited, *pages[:EDITED], pages[TWICE], copy, NO_URL, NEW]
    _write(raw / "night2.jsonl", again)  # a new file beside night 1's (registered: skipped)
    runs = {
        name: nightly(str(raw), str(warehouse), "night-2", restrip="defer", shard_bytes=size)
        for name, warehouse, size in (("sliced", sliced, SLICE_BYTES), ("whole", whole, None))
    }
    return runs, sliced, whole


def test_texts_are_left_out_and_read_again_only_where_needed(nights):
    runs, sliced, _ = nights
    stats = {name: json.loads(run.row["stage_stats"]) for name, run in runs.items()}
    assert all(run.status == "succeeded" for run in runs.values())
    assert "texts_left_out" not in stats["whole"]["ingest"], "a file read whole keeps its texts"
    left_out = stats["sliced"]["ingest"]["texts_left_out"]
    assert left_out >= 220, "every re-delivered text the warehouse holds (all but the edited and new pages)"
    restored = sliced / "_runs" / "night-2" / "strip_boilerplate" / "restored.parquet"
    assert restored.is_file(), "the records the unchanged test keeps (delivered twice, the copy) were read again"
    kept = stats["sliced"]["strip_boilerplate"]
    assert kept == {**stats["whole"]["strip_boilerplate"], "seconds": kept["seconds"]}


@pytest.mark.parametrize("table", [DOCUMENTS, DUPLICATES, QUARANTINE, PROJECTS, CONTACTS, MENTIONS])
def test_the_night_publishes_what_reading_every_text_publishes(nights, table):
    _, sliced, whole = nights
    rows = _rows(sliced, table)
    assert rows == _rows(whole, table)
    if table in (DOCUMENTS, DUPLICATES):
        assert {r["run_id"] for r in rows} >= {"night-2"}
