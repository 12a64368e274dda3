"""An incremental night (#14): records re-delivered as they were published leave the night before stripping
(strip_boilerplate's `unchanged`, tasks/strip_boilerplate/unchanged.py), with the outcome the whole path gives.

The real nightly flow on the corpus as JSON lines with URLs; night 2 delivers it again in another file (other
source_uri, same URLs) with one page edited, one page delivered twice, one new page, and a JSON line without URL
(identified by its body: not recognised before stripping, so dedupe finds it unchanged)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from helpers import corpus_pages, good_text

from flows.nightly import nightly
from schemas import DOCUMENTS
from tasks._warehouse import read_current
from tasks.identity import doc_ids

EDITED, TWICE = 3, 7  # corpus pages (by position) edited / delivered twice on night 2
NO_URL = {"text": good_text(1)}
NEW = {"url": "https://example.org/news/a-page-new-on-night-two", "text": good_text(2)}


def _write(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _documents(warehouse: Path) -> dict[str, dict]:
    cols = ["doc_id", "url", "text", "title", "language", "run_id"]
    return {d["doc_id"]: d for d in read_current(warehouse, DOCUMENTS, cols).to_pylist()}


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    base = tmp_path_factory.mktemp("redelivered")
    raw, warehouse = base / "raw", base / "warehouse"
    raw.mkdir()
    pages = corpus_pages()
    _write(raw / "night1.jsonl", [*pages, NO_URL])
    first = nightly(str(raw), str(warehouse), "night-1")
    before = _documents(warehouse)
    edited = dict(pages[EDITED], text=pages[EDITED]["text"].replace(" the ", " a ", 1))
    assert edited["text"] != pages[EDITED]["text"]
    again = [*pages[:EDITED], edited, *pages[EDITED + 1 :], pages[TWICE], NO_URL, NEW]
    (raw / "night1.jsonl").unlink()  # raw/ is the test's own folder
    _write(raw / "night2.jsonl", again)
    second = nightly(str(raw), str(warehouse), "night-2")
    return pages, first, second, before, _documents(warehouse), warehouse


def test_unchanged_records_leave_before_stripping(nights):
    pages, first, second, before, *_ = nights
    assert first.status == second.status == "succeeded"
    strip = json.loads(second.row["stage_stats"])["strip_boilerplate"]
    # every corpus page published on night 1 (not one folded into a duplicate or quarantined) whose doc_id comes
    # once on night 2: not the edited one, not the one delivered twice, not the two URLs of one canonical URL
    # (www. and not) the corpus holds; not the line without URL
    ids = doc_ids(pa.array([p["url"] for p in pages]), None, pa.array(["night2.jsonl#line=1"] * len(pages)))
    delivered = Counter([*ids, ids[TWICE]])
    expected = sum(delivered[d] == 1 and d in before for i, d in enumerate(ids) if i != EDITED)
    assert strip["unchanged"] == expected > 0.9 * len(pages)
    row = second.row
    assert row["n_read"] == len(pages) + 3
    # dedupe finds the rest unchanged: the line without URL, one record of each doc_id delivered twice
    repeated = len(pages) + 1 - len(set(delivered))
    assert row["n_unchanged"] == strip["unchanged"] + 1 + repeated
    assert row["n_new"] == 1 and row["n_updated"] == 1
    outcomes = row["n_new"] + row["n_updated"] + row["n_unchanged"] + row["n_duplicates"] + row["n_quarantined"]
    assert row["n_read"] + row["n_restripped"] == outcomes


def test_the_warehouse_is_what_the_whole_path_gives(nights):
    pages, _, _, before, after, _ = nights
    edited_url = pages[EDITED]["url"]
    changed = {d for d, doc in after.items() if doc != before.get(d)}
    assert {after[d]["url"] for d in changed} == {edited_url, NEW["url"]}
    (edited,) = [d for d in changed if after[d]["url"] == edited_url]
    assert after[edited]["run_id"] == "night-2" and before[edited]["run_id"] == "night-1"
    assert all(doc["run_id"] == "night-1" for d, doc in after.items() if d not in changed)


def test_every_published_raw_text_carries_its_raw_key(nights):
    """documents.raw_key is what the unchanged test reads instead of raw_text: DuckDB's hash of each row's
    raw_text, on rows published on either night (the edited page's rewritten file included)."""
    *_, after, warehouse = nights
    rows = read_current(warehouse, DOCUMENTS, ["doc_id", "raw_text", "raw_key", "run_id"])
    assert {r["run_id"] for r in rows.to_pylist()} == {"night-1", "night-2"} and rows.num_rows == len(after)
    mismatched = duckdb.sql(
        "SELECT count(*) FROM rows WHERE raw_key IS DISTINCT FROM left(sha256(raw_text), 16)"
    ).fetchone()[0]
    assert mismatched == 0 and rows.column("raw_key").null_count == rows.column("raw_text").null_count == 0
