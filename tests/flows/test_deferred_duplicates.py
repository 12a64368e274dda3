"""A night that defers its re-strip (`docpipe run --restrip defer`) lets records re-delivered as their recorded
duplicate leave before stripping (tasks/strip_boilerplate/unchanged.py), keeping their `duplicates` decision (the
row, or at another source_uri a new row); a duplicate whose document changes tonight, and every duplicate on a
night that does not defer, is decided again.

The real nightly flow on corpus pages as JSON lines with URLs, two of them delivered again under other URLs
(exact copies: `duplicates` rows)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from helpers import corpus_pages, good_text
from typer.testing import CliRunner

from flows.cli import app
from flows.nightly import nightly
from flows.settings import FAULT_ENV
from schemas import DOCUMENTS, DUPLICATES, RUNS
from schemas.duplicates import DECISION_COLUMNS
from tasks._warehouse import read_current

N_PAGES = 40
COPIED = (5, 11)  # corpus pages (by position) delivered twice, the copy under another URL
DEFER = ("--restrip", "defer")


def _copy(page: dict) -> dict:
    return {**page, "url": page["url"].rstrip("/") + "/copy-of-it"}


def _deliver(raw: Path, name: str, records: list[dict]) -> None:
    for old in raw.glob("*.jsonl"):
        old.unlink()  # raw/ is the test's own folder
    (raw / name).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _duplicates(warehouse: Path) -> dict[str, dict]:
    return {d["url"]: d for d in read_current(warehouse, DUPLICATES).to_pylist()}


def _night_one(tmp_path: Path) -> tuple[Path, Path, list[dict]]:
    raw, warehouse = tmp_path / "raw", tmp_path / "warehouse"
    raw.mkdir()
    pages = corpus_pages()[:N_PAGES]
    records = [*pages, *(_copy(pages[i]) for i in COPIED)]
    _deliver(raw, "crawl.jsonl", records)
    assert nightly(str(raw), str(warehouse), "night-1").status == "succeeded"
    return raw, warehouse, records


def _stripped(warehouse: Path, run_id: str) -> set[str]:
    """source_uri of the records strip_boilerplate passed on to dedupe (its checkpoint's kept rows)."""
    kept = pq.read_table(warehouse / "_runs" / run_id / "strip_boilerplate" / "kept", columns=["source_uri"])
    return set(kept.column("source_uri").to_pylist())


def _published(warehouse: Path) -> dict[str, str]:
    """url of each published doc_id."""
    return {d["doc_id"]: d["url"] for d in read_current(warehouse, DOCUMENTS, ["doc_id", "url"]).to_pylist()}


def test_a_deferred_night_keeps_re_delivered_duplicates_as_recorded(tmp_path):
    raw, warehouse, records = _night_one(tmp_path)
    before = _duplicates(warehouse)
    # one of each pair is published, the other folded into it (which one: the canonical rule, dedupe/stage.py)
    assert len(before) == len(COPIED) and all(d["kind"] == "exact" and d["raw_key"] for d in before.values())
    for url in before:  # the stored key is DuckDB's hash of the record's raw text
        text = next(r["text"] for r in records if r["url"] == url)
        assert before[url]["raw_key"] == duckdb.sql("SELECT left(sha256($t), 16)", params={"t": text}).fetchone()[0]

    new = {"url": "https://example.org/news/new-on-night-two", "text": corpus_pages()[N_PAGES]["text"]}
    _deliver(raw, "crawl.jsonl", [*records, new])  # the same file grown by a line: same source_uri
    # read whole (`--full`; without it only the appended line would be read: tasks/ingest/slices.py)
    second = nightly(str(raw), str(warehouse), "night-2", full=True, restrip="defer")
    strip = json.loads(second.row["stage_stats"])["strip_boilerplate"]
    dedupe = json.loads(second.row["stage_stats"])["dedupe"]
    assert strip["duplicates"] == len(COPIED) and dedupe["in"] == 1  # only the new page goes on
    assert second.row["n_duplicates"] == len(COPIED) and second.row["n_new"] == 1
    row = second.row
    outcomes = row["n_new"] + row["n_updated"] + row["n_unchanged"] + row["n_duplicates"] + row["n_quarantined"]
    assert row["n_read"] + row["n_restripped"] == outcomes == len(records) + 1
    assert _duplicates(warehouse) == before  # the rows as night 1 wrote them (run_id night-1)


def test_a_duplicate_is_decided_again_when_its_document_changes_or_the_night_does_not_defer(tmp_path):
    raw, warehouse, records = _night_one(tmp_path)
    (copy, kept), *_ = _duplicates(warehouse).items()
    original = next(r for r in records if r["url"] == _published(warehouse)[kept["duplicate_of"]])
    edited = {**original, "text": original["text"] + "\nThis paragraph was added after publication, on night two."}
    changed = [edited if r is original else r for r in records]
    _deliver(raw, "crawl.jsonl", changed)
    night = nightly(str(raw), str(warehouse), "night-2", restrip="defer")
    strip = json.loads(night.row["stage_stats"])["strip_boilerplate"]
    assert strip["duplicates"] == 1 and night.row["n_updated"] == 1  # the other copy's document did not change
    # the copy of the edited page goes on to be decided again, beside the edited page; the other copy does not
    (other,) = set(_duplicates(warehouse)) - {copy}
    uri = {r["url"]: f"crawl.jsonl#line={i + 1}" for i, r in enumerate(changed)}
    assert _stripped(warehouse, "night-2") == {uri[copy], uri[original["url"]]}

    new = {"url": "https://example.org/news/new-on-night-three", "text": good_text(3)}
    _deliver(raw, "crawl.jsonl", [*changed, new])
    auto = nightly(str(raw), str(warehouse), "night-3", full=True)  # every line read again, not only the new one
    assert json.loads(auto.row["stage_stats"])["strip_boilerplate"]["duplicates"] == 0
    assert {uri[copy], uri[other]} <= _stripped(warehouse, "night-3")  # both decided again tonight


def _deliver_as_a_new_file(raw: Path, records: list[dict]) -> None:
    """Night 2's crawl: delivered again as a second file beside night 1's (which stays, registered and not read),
    its records in reverse order, with a new page and a new copy of a published page (decided tonight)."""
    pages = corpus_pages()
    new = [pages[N_PAGES], _copy(pages[20])]
    (raw / "crawl-2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*new, *records[::-1]]), "utf-8")


def _night_two_as_a_new_file(raw: Path, warehouse: Path, records: list[dict], restrip: str) -> dict:
    _deliver_as_a_new_file(raw, records)
    night = nightly(str(raw), str(warehouse), "night-2", restrip=restrip)
    assert night.status == "succeeded"
    return night.row


def test_a_duplicate_re_delivered_in_a_new_file_keeps_its_decision_under_its_new_source_uri(tmp_path, monkeypatch):
    raw, warehouse, records = _night_one(tmp_path)
    before = _duplicates(warehouse)
    auto, resumed = tmp_path / "auto", tmp_path / "resumed"  # the same night 2 decided again, and resumed
    for copy in (auto, resumed):
        shutil.copytree(tmp_path, copy, ignore=shutil.ignore_patterns("auto", "resumed"))
    row = _night_two_as_a_new_file(raw, warehouse, records, "defer")
    stats = json.loads(row["stage_stats"])
    assert stats["strip_boilerplate"]["duplicates"] == len(COPIED) and stats["dedupe"]["in"] == 2
    assert row["n_duplicates"] == len(COPIED) + 1 and row["n_new"] == 1 and row["n_unchanged"] == N_PAGES
    rows = read_current(warehouse, DUPLICATES).to_pylist()
    tonight = {d["source_uri"]: d for d in rows if d["run_id"] == "night-2"}
    assert len(rows) == len({d["source_uri"] for d in rows}) == len(before) + len(tonight)  # each row once
    assert len(tonight) == len(COPIED) + 1 and all(uri.startswith("crawl-2.jsonl#") for uri in tonight)
    carried = {d["url"]: d for d in tonight.values() if d["url"] in before}
    decision = [c for c in DECISION_COLUMNS if c != "url"]  # the url is the record's own
    for url, old in before.items():  # night 1's rows stay; tonight's carry their decision
        assert {k: carried[url][k] for k in decision} == {k: old[k] for k in decision}
    assert {d["url"]: d for d in read_current(warehouse, DUPLICATES).to_pylist() if d["run_id"] == "night-1"} == before

    decided = _night_two_as_a_new_file(auto / "raw", auto / "warehouse", records, "auto")
    assert json.loads(decided["stage_stats"])["dedupe"]["in"] == len(COPIED) + 2
    assert read_current(auto / "warehouse", DUPLICATES).sort_by("source_uri") == read_current(
        warehouse, DUPLICATES
    ).sort_by("source_uri")

    # failed at validate and resumed: strip's carried rows come back from its checkpoint, joined to dedupe's once
    _deliver_as_a_new_file(resumed / "raw", records)
    args = ["--warehouse", str(resumed / "warehouse")]
    monkeypatch.setenv(FAULT_ENV, "validate")
    failed = CliRunner().invoke(app, ["run", "--raw", str(resumed / "raw"), *args, "--run-id", "night-2", *DEFER])
    assert failed.exit_code == 1, failed.output
    monkeypatch.delenv(FAULT_ENV)
    assert CliRunner().invoke(app, ["rerun", "night-2", *args]).exit_code == 0
    (resumed_row,) = [r for r in read_current(resumed / "warehouse", RUNS).to_pylist() if r["run_id"] == "night-2"]
    reused = json.loads(resumed_row["stage_stats"])
    assert [reused[s].get("checkpoint") for s in ("strip_boilerplate", "dedupe", "validate")] == ["reused"] * 2 + [None]
    assert read_current(resumed / "warehouse", DUPLICATES).sort_by("source_uri") == read_current(
        warehouse, DUPLICATES
    ).sort_by("source_uri")
