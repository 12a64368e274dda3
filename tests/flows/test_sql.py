"""SQL time travel offline on a real two-run warehouse: DuckDB's delta extension loaded from the
duckdb-extension-delta package file (empty extension directory, automatic installs off, and the CLI in a process
without any network), `docpipe sql --as-of`, and analyst.duckdb still answering without the extension."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys

import duckdb
import pytest
from helpers import ROOT, seed_dir
from typer.testing import CliRunner

from flows.cli import app
from flows.nightly import nightly
from handoff.sql import connect_offline, open_as_of
from handoff.versions import resolve_as_of
from schemas import DOCUMENTS
from tasks._warehouse import read_current, table_path

LATE_SEED = "004_822d45cd400e070e.txt"  # delivered in the second run only


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """run-1 on four seeds; run-2 after the fifth seed arrives."""
    base = tmp_path_factory.mktemp("sql")
    raw, warehouse = seed_dir(base), base / "warehouse"
    late = (raw / LATE_SEED).rename(base / LATE_SEED)
    nightly(str(raw), str(warehouse), "run-1")
    late.rename(raw / LATE_SEED)
    nightly(str(raw), str(warehouse), "run-2")
    return warehouse


def _doc_ids(warehouse, version=None) -> set[str]:
    return set(read_current(warehouse, DOCUMENTS, ["doc_id"], version=version).column("doc_id").to_pylist())


def test_delta_scan_of_an_earlier_version_returns_its_rows(two_runs, tmp_path):
    first = resolve_as_of(two_runs, "run-1").version(DOCUMENTS)
    earlier, now = _doc_ids(two_runs, first), _doc_ids(two_runs)
    assert earlier and earlier < now  # run-2 added the late seed's document
    extensions = tmp_path / "extensions"
    extensions.mkdir()
    con = connect_offline(extension_directory=extensions)
    try:
        assert con.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone() == (False,)
        loaded = con.execute(
            "SELECT loaded, installed FROM duckdb_extensions() WHERE extension_name = 'delta'"
        ).fetchone()
        assert loaded == (True, False)  # loaded from the package's file, never installed (downloaded)
        uri = table_path(two_runs.resolve(), DOCUMENTS).as_uri()
        rows = con.execute(f"SELECT doc_id FROM delta_scan('{uri}', version => {first})").fetchall()
        assert {r[0] for r in rows} == earlier
        latest = con.execute(f"SELECT doc_id FROM delta_scan('{uri}')").fetchall()
        assert {r[0] for r in latest} == now
    finally:
        con.close()
    assert not any(extensions.iterdir())  # nothing fetched or installed into the extension directory


def test_views_as_of_a_run_and_the_run_versions_lookup(two_runs):
    run1 = resolve_as_of(two_runs, "run-1")
    con = open_as_of(two_runs, run1)
    try:
        assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == len(
            _doc_ids(two_runs, run1.version(DOCUMENTS))
        )
        assert con.execute("SELECT run_id FROM runs").fetchall() == [("run-1",)]
        assert con.execute("SELECT getvariable('as_of_run')").fetchone() == ("run-1",)
        lookup = con.execute(
            "SELECT run_id, version FROM run_versions WHERE table_name = 'documents' ORDER BY finished_at"
        ).fetchall()
        assert lookup == [(r.run_id, r.version(DOCUMENTS)) for r in (run1, resolve_as_of(two_runs, "run-2"))]
    finally:
        con.close()


def _offline(cmd: list[str]) -> list[str]:
    """`cmd` in a new network namespace (no interface but a down loopback) when this machine allows one."""
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True) if shutil.which("unshare") else None
    return ["unshare", "-rn", *cmd] if probe is not None and probe.returncode == 0 else cmd


def test_cli_sql_as_of_the_first_run_without_network(two_runs, tmp_path):
    home = tmp_path / "home"  # DuckDB's default extension directory lives under $HOME: empty here
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    query = "SELECT count(*) AS n FROM documents"

    def run(*args: str) -> list[dict]:
        cmd = _offline([sys.executable, "-m", "flows", "sql", query, "--warehouse", str(two_runs), "--json", *args])
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    run1 = resolve_as_of(two_runs, "run-1")
    assert run("--as-of", "run-1") == [{"n": len(_doc_ids(two_runs, run1.version(DOCUMENTS)))}]
    assert run() == [{"n": len(_doc_ids(two_runs))}]
    assert not any(home.rglob("*.duckdb_extension"))


def test_cli_sql_table_csv_and_errors(two_runs):
    runner = CliRunner()
    shown = runner.invoke(app, ["sql", "SELECT run_id, status FROM runs ORDER BY 1", "--warehouse", str(two_runs)])
    assert shown.exit_code == 0, shown.output
    assert "run-1" in shown.output and "run-2" in shown.output and "2 rows" in shown.output
    as_csv = runner.invoke(
        app,
        ["sql", "SELECT run_id, table_versions FROM runs", "--as-of", "run-1", "--csv", "--warehouse", str(two_runs)],
    )
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["run_id"] for r in rows] == ["run-1"]
    assert dict(json.loads(rows[0]["table_versions"]))["documents"] == resolve_as_of(two_runs, "run-1").version(
        DOCUMENTS
    )
    unknown = runner.invoke(app, ["sql", "SELECT 1", "--as-of", "no-such-run", "--warehouse", str(two_runs)])
    assert unknown.exit_code == 2 and "no-such-run" in unknown.output
    bad = runner.invoke(app, ["sql", "SELECT nope FROM documents", "--warehouse", str(two_runs)])
    assert bad.exit_code == 2 and "nope" in bad.output


def test_analyst_duckdb_still_answers_without_the_extension(two_runs):
    """analyst.duckdb keeps plain read_parquet views (no delta_scan): any DuckDB opens it, no extension needed."""
    con = duckdb.connect(
        str(two_runs / "analyst.duckdb"),
        read_only=True,
        config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"},
    )
    try:
        views = " ".join(r[0] for r in con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall())
        assert "read_parquet" in views and "delta_scan" not in views
        assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == len(_doc_ids(two_runs))
        assert not con.execute("SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'delta'").fetchone()[0]
    finally:
        con.close()
