"""Analyst hand-off on a real two-run warehouse: export as of a run, redaction, diff, versions, run report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import seed_dir
from typer.testing import CliRunner

from flows.cli import app
from flows.nightly import nightly
from handoff.diff import diff_runs
from handoff.export import MANIFEST, README, ExportConfig, export_warehouse
from handoff.report import _counts, _run_row, _table_at, _versions_of, write_run_report
from handoff.versions import resolve_as_of
from schemas import CONTACTS, DOCUMENTS, PUBLISHED, RUNS
from tasks._warehouse import read_current

CHANGED_SEED = "004_822d45cd400e070e.txt"
# Independent of handoff.export's patterns on purpose: any address, any "+" number, any grouped local number.
EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[a-z]{2,}", re.I)
PHONE = re.compile(
    r"\+\s?\d[\d\s().-]{5,}\d"  # international
    r"|\(\d{2,4}\)\s?\d{3,4}[\s.-]\d{3,4}|\b\d{2,4}[.-]\d{3,4}[.-]\d{3,4}\b|\b0\d{1,3} \d{3,4} \d{3,4}\b"  # local
    r"|(?i:\b(?:tel|phone|fax)\b\.?:?\s*\d{6,})"  # labelled
)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """run-1 on the seeds; run-2 after one seed's body changed (the registry re-reads that file only)."""
    base = tmp_path_factory.mktemp("analyst")
    raw, warehouse = seed_dir(base), base / "warehouse"
    nightly(str(raw), str(warehouse), "run-1")
    page = raw / CHANGED_SEED
    text = page.read_text(encoding="utf-8")
    assert "half-day national consultation" in text
    page.write_text(text.replace("half-day national consultation", "full-day national consultation"), "utf-8")
    nightly(str(raw), str(warehouse), "run-2")
    return warehouse


def _sorted(table: pa.Table, key: tuple[str, ...]) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in key])


def test_export_as_of_an_older_run_equals_the_warehouse_at_that_run(two_runs, tmp_path):
    run1 = resolve_as_of(two_runs, "run-1")
    assert resolve_as_of(two_runs, "1").run_id == "run-1"  # runs-table version 1 holds run-1's row only
    assert resolve_as_of(two_runs, run1.finished_at.date().isoformat()).run_id == "run-2"  # same day: last run
    result = export_warehouse(two_runs, run1, tmp_path / "export")
    for table in PUBLISHED:
        exported = pq.read_table(result.files[table.name])
        at_run = read_current(two_runs, table, version=run1.version(table))
        assert _sorted(exported, table.key).equals(_sorted(at_run, table.key)), table.name
        field = exported.schema.field(table.columns[0].name)
        assert field.metadata[b"doc"].decode() == table.columns[0].doc
        assert pq.read_metadata(result.files[table.name]).row_group(0).column(0).compression == "ZSTD"
    assert pq.read_table(result.files["runs"]).column("run_id").to_pylist() == ["run-1"]
    assert pq.read_table(result.files["documents"]).num_rows == 5
    assert read_current(two_runs, DOCUMENTS).num_rows == 5  # run-2 updated the changed page (same file → same doc_id)


def test_export_holds_exactly_its_files_with_their_checksums(two_runs, tmp_path):
    out = tmp_path / "export"
    export_warehouse(two_runs, resolve_as_of(two_runs), out)
    export_warehouse(two_runs, resolve_as_of(two_runs), out, ExportConfig(tables=("documents",), format="csv"))
    manifest = json.loads((out / MANIFEST).read_text())
    assert {p.name for p in out.iterdir()} == {"documents.csv", README, MANIFEST}
    assert set(manifest["files"]) == {"documents.csv", README}
    import hashlib

    for name, digest in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert manifest["tables"]["documents"]["rows"] == 5 and manifest["run_id"] == "run-2"
    readme = (out / README).read_text()
    assert "## `documents`" in readme and "## `projects`" not in readme and "run-2" in readme
    assert not list(tmp_path.glob(".export.tmp-*"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not an export")
    with pytest.raises(FileExistsError):
        export_warehouse(two_runs, resolve_as_of(two_runs), tmp_path / "mine")


def test_redacted_export_has_no_email_or_phone_anywhere(two_runs, tmp_path):
    contacts = read_current(two_runs, CONTACTS).to_pylist()
    known = {c[k] for c in contacts for k in ("email", "phone", "phone_raw", "name") if c[k]}
    assert any("@" in v for v in known)
    result = export_warehouse(two_runs, resolve_as_of(two_runs), tmp_path / "redacted", ExportConfig(redact_pii=True))
    cells = 0
    for table in PUBLISHED:
        for row in pq.read_table(result.files[table.name]).to_pylist():
            for column, value in row.items():
                text = json.dumps(value, default=str, ensure_ascii=False) if value is not None else ""
                cells += 1
                assert not EMAIL.search(text), (table.name, column, text[:200])
                assert not PHONE.search(text), (table.name, column, text[:200])
                assert not any(k in text for k in known), (table.name, column)
    assert cells > 100
    redacted = pq.read_table(result.files["contacts"])
    assert redacted.num_rows == len(contacts) and all(v.startswith("h:") for v in redacted.column("email").to_pylist())
    docs = pq.read_table(result.files["documents"])
    raw_text = "".join(docs.column("raw_text").to_pylist())
    assert "[redacted]" in raw_text and "Tel:" in raw_text


def test_diff_between_runs_lists_exactly_the_changed_page(two_runs, tmp_path):
    changes = diff_runs(two_runs, resolve_as_of(two_runs, "run-1"), resolve_as_of(two_runs, "run-2"))
    assert changes.num_rows == 1
    (change,) = changes.to_pylist()
    assert change["source_uri"] == CHANGED_SEED and change["change"] == "updated"
    before = {d["doc_id"]: d for d in read_current(two_runs, DOCUMENTS).to_pylist()}
    assert change["doc_id"] in before and change["replaces_doc_id"] is None
    assert diff_runs(two_runs, resolve_as_of(two_runs, "run-2"), resolve_as_of(two_runs, "run-2")).num_rows == 0

    out = tmp_path / "diff.parquet"
    result = CliRunner().invoke(app, ["diff", "run-1", "run-2", "--warehouse", str(two_runs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).column("source_uri").to_pylist() == [CHANGED_SEED]


def test_versions_command_lists_each_run_commit(two_runs):
    result = CliRunner().invoke(app, ["versions", "documents", "--warehouse", str(two_runs)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "run-1" in result.output and "run-2" in result.output and "WRITE" in result.output


def test_export_command_quiet_and_bad_as_of(two_runs, tmp_path):
    runner = CliRunner()
    args = ["export", "--warehouse", str(two_runs), "--out", str(tmp_path / "x"), "--tables", "runs,documents"]
    result = runner.invoke(app, [*args, "--as-of", "run-1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in (tmp_path / "x").iterdir()} == {"runs.parquet", "documents.parquet", README, MANIFEST}
    assert runner.invoke(app, [*args, "--as-of", "no-such-run"]).exit_code == 2


def test_run_report_is_a_self_contained_page_with_charts(two_runs):
    path = write_run_report(two_runs, "run-2")
    assert path == two_runs / "_reports" / "run-run-2.html"
    page = path.read_text()
    assert page.count("<svg") >= 4  # funnel, languages, doc types, projects
    assert "Records through the stages" in page and "Projects by IDF region" in page
    assert not re.search(r"""(src|href)=["']https?://""", page)
    assert read_current(two_runs, RUNS).num_rows == 2


def test_warming_the_report_up_loads_what_its_first_chart_needs():
    """`warm_up` (a run calls it on a thread while validate runs elsewhere) leaves the SVG backend loaded: in a
    fresh process, so nothing else loaded it first."""
    script = (
        "import sys\n"
        "import handoff.report as report\n"
        "assert 'matplotlib.backends.backend_svg' not in sys.modules\n"
        "report.warm_up()\n"
        "print('matplotlib.backends.backend_svg' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "True"), done.stderr


def test_run_report_counts_the_documents_as_of_the_run_and_its_own(two_runs):
    """The report's bars count documents by language and by type as of the run, all of them and the run's own
    (Arrow's counts, nulls included): the same as counting the rows one by one."""
    versions = _versions_of(two_runs, _run_row(two_runs, "run-2"))
    docs = _table_at(two_runs, DOCUMENTS, versions, ["language", "doc_type", "run_id"])
    rows = docs.to_pylist()
    for column in ("language", "doc_type"):
        every, ours = _counts(docs, column, "run-2")
        assert every == Counter(r[column] for r in rows) and sum(every.values()) == len(rows) > 0
        assert ours == Counter(r[column] for r in rows if r["run_id"] == "run-2")
        assert 0 < sum(ours.values()) < len(rows)


def test_run_report_shows_the_lines_removed_by_reason(two_runs):
    """The removed-line reason codes counted in runs.stage_stats, as bars and a table in the run's report."""
    from schemas import reasons

    (row,) = [r for r in read_current(two_runs, RUNS).to_pylist() if r["run_id"] == "run-1"]
    strip = json.loads(row["stage_stats"])["strip_boilerplate"]
    counts = {code: strip[code] for code in reasons.REMOVED_LINE_REASONS}
    assert counts[reasons.BOILERPLATE_REPEATED] > 50 and sum(counts.values()) == strip["boilerplate_lines"]
    page = write_run_report(two_runs, "run-1").read_text()
    assert "Lines removed by reason" in page
    for code, n in counts.items():
        assert f"<tr><td><code>{code}</code></td><td>{n:,}</td>" in page
