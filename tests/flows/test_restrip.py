"""Pages spread over several runs end as they would in one run: the first page of a new site is stripped again
once its template is learned (strip_boilerplate's re-strip of published documents)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import seed_files
from typer.testing import CliRunner

from flows.cli import app
from flows.nightly import nightly
from flows.settings import FAULT_ENV
from schemas import DOCUMENTS, PROJECTS, RUNS
from tasks._warehouse import read_current


def _texts(warehouse) -> dict[str, tuple[str, str]]:
    docs = read_current(warehouse, DOCUMENTS).to_pylist()
    return {d["source_uri"]: (d["title"], d["text"]) for d in docs}


# A site banner of sentences, not navigation, and longer than a site notice nav_shape takes on a lone page
# (BoilerplateConfig.max_banner_words): only its repetition over the site's pages marks it template.
BANNER = (
    "This website is maintained by the country office team and is updated every week with news from our "
    "programmes. Opinions expressed in the stories published here are those of their authors and do not "
    "necessarily reflect the views of the organisation, its member states or its donors."
)


def _bannered(path: Path, folder: Path) -> None:
    (folder / path.name).write_text(BANNER + "\n" + path.read_text(encoding="utf-8"), encoding="utf-8")


@pytest.fixture(scope="module")
def one_run(tmp_path_factory) -> Path:
    """The warehouse of the five bannered seeds published in one run."""
    base = tmp_path_factory.mktemp("one")
    raw = base / "raw"
    raw.mkdir()
    for path in seed_files():
        _bannered(path, raw)
    nightly(str(raw), str(base / "warehouse"), "all-at-once")
    return base / "warehouse"


def _first_page_alone(root: Path) -> tuple[Path, Path, Path, list[Path]]:
    """raw/ and warehouse/ under `root` where the first bannered seed was published alone (run `first-page`),
    the first seed, and the others, delivered to raw/ (not yet run)."""
    raw, warehouse = root / "raw", root / "warehouse"
    raw.mkdir(parents=True)
    first, *rest = seed_files()
    _bannered(first, raw)
    nightly(str(raw), str(warehouse), "first-page")
    for path in rest:
        _bannered(path, raw)
    return raw, warehouse, first, rest


def test_pages_spread_over_runs_equal_one_run(tmp_path, one_run):
    raw, warehouse, first, _ = _first_page_alone(tmp_path / "split")
    assert _texts(warehouse)[first.name][1].startswith(BANNER)  # a new site's banner is not known as template yet
    summary = nightly(str(raw), str(warehouse), "the-others")

    assert _texts(warehouse) == _texts(one_run)
    assert not any(text.startswith(BANNER) for _, text in _texts(warehouse).values())
    assert summary.row["n_read"] == 4 and summary.row["n_restripped"] == 1
    assert summary.row["n_new"] == 4 and summary.row["n_updated"] == 1
    runs = {r["run_id"]: r for r in read_current(warehouse, RUNS).to_pylist()}
    assert runs["the-others"]["n_restripped"] == 1
    log = (warehouse / "_runs" / "the-others" / "run.log").read_text()
    assert "re-strip: published documents read 1, stripped again 1, changed 1 (" in log
    steps = re.search(r"strip_boilerplate steps: (.*)", log).group(1)  # where the stage's time went
    names = ["spill", "unchanged", "restore", "sample", "merge", "fingerprint", "clean", "scope", "re-strip"]
    assert re.findall(r"([a-z-]+) \d+\.\d s", steps) == names, steps
    small = r"dedupe steps: small night \(sketch [\d.]+ s, band keys [\d.]+ s, history [\d.]+ s, decisions [\d.]+ s, "
    assert re.search(small + r"kept rows [\d.]+ s, write [\d.]+ s\) [\d.]+ s", log), log
    assert read_current(warehouse, PROJECTS).num_rows == read_current(one_run, PROJECTS).num_rows


def test_a_deferred_restrip_keeps_published_texts_until_the_next_auto_run_catches_up(tmp_path, one_run):
    raw, warehouse, first, _ = _first_page_alone(tmp_path / "split")
    deferred = nightly(str(raw), str(warehouse), "the-others", restrip="defer")
    assert deferred.row["n_restripped"] == 0 and deferred.row["n_updated"] == 0
    assert _texts(warehouse)[first.name][1].startswith(BANNER)  # learned tonight, not applied to it yet
    assert _texts(warehouse) != _texts(one_run)

    # nothing new delivered: auto strips again the documents the change since the samples they were stripped
    # under may move (the first page's, whose group's sample grew since: every document of its group)
    caught_up = nightly(str(raw), str(warehouse), "catch-up")
    assert caught_up.row["n_read"] == 0 and caught_up.row["n_restripped"] == 1 and caught_up.row["n_updated"] == 1
    assert _texts(warehouse) == _texts(one_run)
    runs = {r["run_id"]: r["restrip"] for r in read_current(warehouse, RUNS).to_pylist()}
    assert runs == {"first-page": "scoped", "the-others": "deferred", "catch-up": "scoped"}
    log = (warehouse / "_runs" / "catch-up" / "run.log").read_text()
    assert "re-strip: published documents read 5, stripped again 5, changed 1 (" in log

    again = nightly(str(raw), str(warehouse), "after-the-catch-up")  # caught up: nothing left to strip again
    assert again.row["n_restripped"] == 0 and _texts(warehouse) == _texts(one_run)


def test_rerun_keeps_the_restrip_mode_the_run_was_started_with(tmp_path, monkeypatch):
    raw, warehouse, first, _ = _first_page_alone(tmp_path)
    args = ["--raw", str(raw), "--warehouse", str(warehouse)]
    bad = CliRunner().invoke(app, ["run", *args, "--restrip", "sometimes"])
    assert bad.exit_code == 2 and "unknown --restrip 'sometimes'" in bad.output, bad.output

    monkeypatch.setenv(FAULT_ENV, "extract")
    failed = CliRunner().invoke(app, ["run", *args, "--run-id", "the-others", "--restrip", "defer"])
    assert failed.exit_code == 1, failed.output
    monkeypatch.delenv(FAULT_ENV)
    # strip runs again (not from its checkpoint): with the mode recorded for the run, not the default (auto)
    resumed = CliRunner().invoke(
        app, ["rerun", "the-others", "--warehouse", str(warehouse), "--from", "strip_boilerplate"]
    )
    assert resumed.exit_code == 0, resumed.output
    (row,) = [r for r in read_current(warehouse, RUNS).to_pylist() if r["run_id"] == "the-others"]
    assert (row["status"], row["restrip"], row["n_restripped"]) == ("succeeded", "deferred", 0)
    assert _texts(warehouse)[first.name][1].startswith(BANNER)


def test_a_catch_up_after_a_night_that_failed_in_publish_strips_every_document(tmp_path, monkeypatch, one_run):
    """A run that failed in publish may have committed documents stripped under a sample no `runs` row names: the
    catch-up after it strips every published document again, not the scope from the recorded samples."""
    raw, warehouse, _, _ = _first_page_alone(tmp_path)
    nightly(str(raw), str(warehouse), "the-others", restrip="defer")
    monkeypatch.setenv(FAULT_ENV, "publish")
    args = ["--raw", str(raw), "--warehouse", str(warehouse)]
    failed = CliRunner().invoke(app, ["run", *args, "--run-id", "failed-in-publish", "--restrip", "defer"])
    assert failed.exit_code == 1, failed.output
    monkeypatch.delenv(FAULT_ENV)

    caught_up = nightly(str(raw), str(warehouse), "catch-up")
    assert _texts(warehouse) == _texts(one_run)
    runs = {r["run_id"]: (r["status"], r["restrip"]) for r in read_current(warehouse, RUNS).to_pylist()}
    assert runs["failed-in-publish"][0] == "failed" and runs["catch-up"] == ("succeeded", "all"), runs
    assert caught_up.row["n_restripped"] == 1
