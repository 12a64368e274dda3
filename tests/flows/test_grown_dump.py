"""A JSON Lines dump that grew by appending to the version a night registered is read from where that version
ended (tasks/ingest/slices.py): the real nightly flow, corpus pages with URLs. Nothing is lost: every line of the
grown dump is in `documents`, `duplicates` or `quarantine`, and the registry counts both parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import corpus_pages

from flows.nightly import nightly
from schemas import DOCUMENTS, DUPLICATES, INGESTED_FILES, QUARANTINE
from tasks._warehouse import read_current

N_PAGES = 30


def _write(dump: Path, records: list[dict]) -> None:
    dump.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_a_grown_dump_is_read_from_where_it_was_registered_and_every_line_is_accounted_for(tmp_path):
    raw, warehouse = tmp_path / "raw", tmp_path / "warehouse"
    raw.mkdir()
    pages = corpus_pages()
    records = [*pages[:N_PAGES], {"url": "https://example.org/empty", "text": ""}]
    _write(raw / "crawl.jsonl", records)
    assert nightly(str(raw), str(warehouse), "night-1").status == "succeeded"

    grown = [*records, *pages[N_PAGES : N_PAGES + 3], {**pages[0], "url": pages[0]["url"] + "/again"}]
    _write(raw / "crawl.jsonl", grown)
    second = nightly(str(raw), str(warehouse), "night-2")
    ingest = json.loads(second.row["stage_stats"])["ingest"]
    assert ingest["files_appended"] == 1 and ingest["read"] == 4 == second.row["n_read"]
    assert second.row["n_new"] == 3 and second.row["n_duplicates"] == 1  # the copy of page 0, under another URL

    found = set()
    for table in (DOCUMENTS, DUPLICATES, QUARANTINE):
        found |= set(read_current(warehouse, table, ["source_uri"]).column("source_uri").to_pylist())
    assert {f"crawl.jsonl#line={n}" for n in range(1, len(grown) + 1)} <= found
    files = read_current(warehouse, INGESTED_FILES).to_pylist()
    latest = next(f for f in files if f["run_id"] == "night-2")
    assert latest["n_records"] == len(grown) and latest["size_bytes"] == (raw / "crawl.jsonl").stat().st_size


@pytest.mark.parametrize("restrip", ["auto", "defer"])
def test_a_dump_rewritten_in_another_order_has_tonights_decision_at_each_line(tmp_path, restrip):
    """A dump rewritten with its lines moved is read whole; a duplicate at a line where the registered version
    had another duplicate replaces that row (a row a line no longer holds), so every line has its own row: decided
    again, or on a deferred night carried from the row the moved record had."""
    raw, warehouse = tmp_path / "raw", tmp_path / "warehouse"
    raw.mkdir()
    pages = corpus_pages()[:N_PAGES]
    copy_a, copy_b = ({**pages[i], "url": pages[i]["url"] + f"/copy-{i}"} for i in (0, 1))
    _write(raw / "crawl.jsonl", [*pages, copy_a])
    assert nightly(str(raw), str(warehouse), "night-1").status == "succeeded"
    last = f"crawl.jsonl#line={N_PAGES + 1}"
    assert {d["source_uri"]: d["url"] for d in read_current(warehouse, DUPLICATES).to_pylist()} == {last: copy_a["url"]}

    _write(raw / "crawl.jsonl", [*pages, copy_b, copy_a])  # copy b where copy a was, copy a one line down
    night = nightly(str(raw), str(warehouse), "night-2", restrip=restrip)
    assert night.row["n_read"] == N_PAGES + 2 and night.row["n_duplicates"] == 2
    carried = json.loads(night.row["stage_stats"])["strip_boilerplate"]["duplicates"]
    assert carried == (1 if restrip == "defer" else 0)  # copy a, one line down
    rows = read_current(warehouse, DUPLICATES).to_pylist()
    moved = f"crawl.jsonl#line={N_PAGES + 2}"
    assert {d["source_uri"]: (d["url"], d["run_id"]) for d in rows} == {
        last: (copy_b["url"], "night-2"),
        moved: (copy_a["url"], "night-2"),
    }
