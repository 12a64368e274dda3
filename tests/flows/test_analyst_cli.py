"""The analyst commands as a user meets them, on a real three-run warehouse: tables that fit 80 columns, JSON and
CSV output, diff totals and --since, the report of a no-op run and of projects without budget, a warehouse that
does not exist, and analyst.duckdb after the warehouse moved."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from datetime import timedelta

import duckdb
import pyarrow as pa
import pytest
from helpers import CORPUS, seed_dir
from typer.testing import CliRunner

from flows.cli import app
from flows.nightly import nightly
from handoff.analyst_db import refresh_analyst_db
from handoff.diff import diff_runs
from handoff.report import report_path
from handoff.versions import resolve_as_of
from schemas import DOCUMENT_CHANGES, DOCUMENTS, PROJECTS
from tasks._warehouse import read_current
from tasks.publish import publish_tables

CHANGED_SEED = "004_822d45cd400e070e.txt"
WIDTH = 80


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """cli-1 on the seeds and the corpus's project pages (most state no budget); cli-2 after one seed's body
    changed; cli-3 over the same files again (a no-op run: nothing new)."""
    base = tmp_path_factory.mktemp("analyst_cli")
    raw, warehouse = seed_dir(base), base / "warehouse"
    with (raw / "projects.jsonl").open("w", encoding="utf-8") as out:
        for line in (CORPUS / "pages.jsonl").read_text(encoding="utf-8").splitlines():
            if "IDF Region" in json.loads(line)["text"]:
                out.write(line + "\n")
    nightly(str(raw), str(warehouse), "cli-1")
    page = raw / CHANGED_SEED
    page.write_text(page.read_text(encoding="utf-8").replace("half-day national", "full-day national"), "utf-8")
    nightly(str(raw), str(warehouse), "cli-2")
    noop = nightly(str(raw), str(warehouse), "cli-3")
    assert noop.status == "succeeded" and not noop.changed_tables
    return warehouse


def _cli(*args: str, width: int = WIDTH):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": str(width)})


def _assert_fits(text: str, width: int = WIDTH) -> None:
    long = [line for line in text.splitlines() if len(line.rstrip()) > width]
    assert not long, long


def test_versions_fit_80_columns_and_a_succeeded_runs_create_table_is_complete(warehouse):
    result = _cli("versions", "--warehouse", str(warehouse))
    assert result.exit_code == 0, result.output
    _assert_fits(result.output)
    assert "…" not in result.output  # nothing cut: run ids and table names in full
    lines = [line.rstrip() for line in result.output.splitlines()]
    documents = lines.index("documents")
    rows = [line.split() for line in lines[documents + 3 : documents + 6]]
    assert [(r[0], r[1]) for r in rows] == [("0", "cli-1"), ("1", "cli-1"), ("2", "cli-2")]  # v0 = CREATE TABLE
    assert "*" not in result.output and "incomplete" not in result.output

    wide = _cli("versions", "documents", "--warehouse", str(warehouse), width=200)
    assert "CREATE TABLE" in wide.output and "WRITE" in wide.output and "projects" not in wide.output


def test_versions_json_lists_every_version_with_its_run(warehouse):
    result = _cli("versions", "--json", "--warehouse", str(warehouse))
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    documents = [v for v in listed if v["table"] == "documents"]
    assert [(v["version"], v["run_id"], v["operation"]) for v in documents] == [
        (0, "cli-1", "CREATE TABLE"),
        (1, "cli-1", "WRITE"),  # a page-text table's first load: files by pyarrow (tasks/publish/files.py)
        (2, "cli-2", "WRITE"),  # an update: the files holding it rewritten (tasks/publish/rewrite.py)
    ]
    assert documents[1]["rows_added"] == read_current(warehouse, DOCUMENTS).num_rows
    assert documents[2]["rows_updated"] == 1
    assert all(v["complete"] for v in listed) and {v["table"] for v in listed} >= {"runs", "ingested_files"}


def test_versions_mark_only_the_commits_of_a_run_that_did_not_finish(warehouse, tmp_path):
    """A run killed after its first commits (no `runs` row) leaves versions that no complete run lists."""
    copy = tmp_path / "warehouse"
    shutil.copytree(warehouse, copy)
    docs = read_current(copy, DOCUMENTS).slice(0, 1)
    docs = docs.set_column(docs.schema.get_field_index("content_hash"), "content_hash", pa.array(["edited"]))
    publish_tables(copy, {"documents": docs}, "killed")

    listed = json.loads(_cli("versions", "--json", "--warehouse", str(copy)).stdout)
    incomplete = {(v["table"], v["version"]) for v in listed if not v["complete"]}
    assert incomplete and incomplete == {(v["table"], v["version"]) for v in listed if v["run_id"] == "killed"}
    assert ("documents", 3) in incomplete and ("documents", 0) not in incomplete

    result = _cli("versions", "documents", "--warehouse", str(copy))
    _assert_fits(result.output)
    assert "killed*" in result.output and "cli-2*" not in result.output and "* incomplete" in result.output


def test_diff_prints_totals_with_plurals_and_fits_80_columns(warehouse):
    result = _cli("diff", "cli-1", "cli-2", "--warehouse", str(warehouse))
    assert result.exit_code == 0, result.output
    _assert_fits(result.output)
    assert "1 change (1 updated)" in result.output and "changes" not in result.output
    assert CHANGED_SEED in result.output


def test_diff_since_a_day_starts_from_the_last_run_before_it(warehouse):
    first, latest = resolve_as_of(warehouse, "cli-1"), resolve_as_of(warehouse, "cli-2")
    n_docs = read_current(warehouse, DOCUMENTS).num_rows

    day = first.finished_at.date().isoformat()  # no run before that day: everything is new since then
    result = _cli("diff", "--since", day, "--limit", "3", "--warehouse", str(warehouse))
    assert result.exit_code == 0, result.output
    _assert_fits(result.output)
    assert f"{n_docs} changes ({n_docs} added)" in result.output and "empty warehouse → cli-2" in result.output
    assert f"… {n_docs - 3} more" in result.output
    assert sum(line.startswith("added ") for line in result.output.splitlines()) == 3

    between = (first.finished_at + timedelta(milliseconds=1)).isoformat()  # cli-1 finished before this instant
    changes = json.loads(_cli("diff", "--since", between, "--json", "--warehouse", str(warehouse)).stdout)
    assert [(c["change"], c["source_uri"], c["run_before"]) for c in changes] == [("updated", CHANGED_SEED, "cli-1")]

    next_day = (latest.finished_at + timedelta(days=1)).date().isoformat()
    result = _cli("diff", "--since", next_day, "--warehouse", str(warehouse))
    assert result.exit_code == 0 and "0 changes" in result.output and "cli-2 → cli-2" in result.output


def test_diff_json_and_csv_write_every_change_and_nothing_else(warehouse):
    day = resolve_as_of(warehouse, "cli-1").finished_at.date().isoformat()
    expected = diff_runs(warehouse, resolve_as_of(warehouse, "cli-1"), resolve_as_of(warehouse, "cli-2"))
    as_json = _cli("diff", "cli-1", "cli-2", "--json", "--warehouse", str(warehouse))
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == expected.to_pylist()

    as_csv = _cli("diff", "--since", day, "--csv", "--limit", "2", "--warehouse", str(warehouse))
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert list(rows[0]) == DOCUMENT_CHANGES.column_names
    assert len(rows) == read_current(warehouse, DOCUMENTS).num_rows > 2  # --limit is for the table only
    assert {r["change"] for r in rows} == {"added"} and {r["run_before"] for r in rows} == {""}
    assert _cli("diff", "cli-1", "--json", "--csv", "--warehouse", str(warehouse)).exit_code == 2


@pytest.mark.parametrize(
    ("args", "named"),
    [(["nosuch"], "RUN_A"), (["cli-1", "nosuch"], "RUN_B"), (["--since", "last week"], "--since")],
)
def test_diff_errors_name_diffs_own_arguments(warehouse, args, named):
    result = _cli("diff", *args, "--warehouse", str(warehouse))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{named}: '{args[-1]}'")
    assert "--as-of" not in result.output and len(result.output.splitlines()) == 1


@pytest.mark.parametrize(
    "command",
    [["versions"], ["export", "--out", "OUT"], ["diff", "cli-1"], ["diff", "--since", "2026-01-01"], ["report"]],
)
def test_read_commands_refuse_a_warehouse_that_does_not_exist(tmp_path, command):
    missing = tmp_path / "no" / "such" / "warehouse"
    args = [str(tmp_path / "out") if a == "OUT" else a for a in command]
    result = _cli(*args, "--warehouse", str(missing))
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert result.output.splitlines() == [f"no warehouse: {missing} does not exist (or is not a folder)"]
    assert not missing.exists() and not (tmp_path / "out").exists()


def test_report_of_a_no_op_run_says_nothing_new(warehouse):
    result = _cli("report", "--warehouse", str(warehouse))  # default: the run that finished last, no-op or not
    assert result.exit_code == 0, result.output
    page = report_path(warehouse, "cli-3").read_text()
    assert "report: " in result.output and "run-cli-3.html" in result.output
    assert "<b>Nothing new.</b>" in page
    assert page.count('<p class="empty">nothing new in this run</p>') >= 2  # funnel, duplicates (none at all)
    assert "Documents by language" in page and page.count("<svg") >= 3  # published documents still charted
    busy = report_path(warehouse, "cli-1")
    assert _cli("report", "cli-1", "--warehouse", str(warehouse)).exit_code == 0
    assert "Nothing new" not in busy.read_text() and "nothing new" not in busy.read_text()


def test_report_labels_projects_without_budget_instead_of_plotting_zero(warehouse):
    projects = read_current(warehouse, PROJECTS, ["idf_region", "budget_usd"]).to_pylist()
    assert any(p["budget_usd"] is None for p in projects) and any(p["budget_usd"] for p in projects)
    _cli("report", "cli-1", "--warehouse", str(warehouse))
    page = report_path(warehouse, "cli-1").read_text()
    chart = page[page.index("Projects by IDF region") :]
    labels = [text.strip() for text in re.findall(r"<!-- (.*?) -->", chart)]  # matplotlib: each text as a comment
    assert "no budget" in labels and any(text.endswith("(1 without budget)") for text in labels)
    assert not [text for text in labels if text.startswith("0.00")]


def test_analyst_duckdb_reads_the_warehouse_after_it_moved(warehouse, tmp_path, monkeypatch):
    copy, moved = tmp_path / "copy", tmp_path / "elsewhere" / "warehouse"
    shutil.copytree(warehouse, copy)
    refresh_analyst_db(copy)  # as publish leaves it
    moved.parent.mkdir()
    copy.rename(moved)
    monkeypatch.chdir(tmp_path)  # neither the warehouse nor where it was built
    con = duckdb.connect(str(moved / "analyst.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == read_current(moved, DOCUMENTS).num_rows
        assert con.execute("SELECT count(*) FROM projects").fetchone()[0] == read_current(moved, PROJECTS).num_rows
        sql = " ".join(r[0] for r in con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall())
        assert "read_parquet" in sql and str(tmp_path) not in sql and str(warehouse) not in sql
    finally:
        con.close()
    # attached to another database, the paths are relative to file_search_path (documented fallback)
    other = duckdb.connect()
    try:
        other.execute(f"ATTACH '{moved / 'analyst.duckdb'}' AS wh (READ_ONLY)")
        other.execute(f"SET file_search_path = '{moved}'")
        assert other.execute("SELECT count(*) FROM wh.documents").fetchone()[0] > 0
    finally:
        other.close()
