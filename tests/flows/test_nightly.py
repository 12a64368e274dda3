"""The real `nightly` flow (Prefect, Great Expectations, Delta Lake, DuckDB; no mocks) on the seed pages."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import duckdb
import pytest
from helpers import ROOT, seed_dir

from flows.ledger import StageFailed
from flows.nightly import nightly
from schemas import DOCUMENTS, DUPLICATES, PROJECTS, QUARANTINE, RUNS
from tasks._warehouse import open_delta, read_current
from tasks.publish import versions

NAV_LINES = {"Who we are", "Take Action", "Work with us", "Get involved", "Our Work"}


def _run(raw, warehouse, run_id):
    return nightly(str(raw), str(warehouse), run_id)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("seedrun")
    raw, warehouse = seed_dir(base), base / "warehouse"
    summary = _run(raw, warehouse, "run-1")
    return raw, warehouse, summary


def test_seeds_are_published(first_run):
    _, warehouse, summary = first_run
    assert summary.status == "succeeded"
    docs = read_current(warehouse, DOCUMENTS).to_pylist()
    assert len(docs) == 5
    titles = {d["title"] for d in docs}
    assert "IOM Director General to Visit Mongolia, Open IOM Office" in titles
    assert {d["language"] for d in docs} == {"en"}
    for doc in docs:
        assert not {line.strip() for line in doc["text"].splitlines()} & NAV_LINES
        assert doc["run_id"] == "run-1"
    (project,) = read_current(warehouse, PROJECTS).to_pylist()
    assert (project["prima_id"], project["budget_usd"], project["start_date"], project["end_date"]) == (
        "MN10P0001",
        200000.0,
        2014,
        2016,
    )


def test_each_table_version_is_tagged_with_the_run(first_run):
    _, warehouse, _ = first_run
    history = open_delta(warehouse, DOCUMENTS).history()
    assert any(h.get("docpipe.run_id") == "run-1" for h in history)
    (run,) = read_current(warehouse, RUNS).to_pylist()
    assert run["status"] == "succeeded" and run["n_read"] == 5 and run["n_new"] == 5
    assert dict(run["table_versions"])["documents"] == open_delta(warehouse, DOCUMENTS).version()


def test_second_run_on_same_input_adds_nothing(first_run):
    raw, warehouse, _ = first_run
    before = versions(warehouse)
    summary = _run(raw, warehouse, "run-2")
    assert summary.status == "succeeded" and summary.changed_tables == []
    assert versions(warehouse) == before
    assert read_current(warehouse, DOCUMENTS).num_rows == 5
    assert (warehouse / "_runs" / "run-2" / "summary.json").exists()


def test_copy_empty_and_binary_files(tmp_path):
    raw, warehouse = seed_dir(tmp_path), tmp_path / "warehouse"
    shutil.copy(sorted(raw.iterdir())[2], raw / "copy_of_seed.txt")
    (raw / "empty.txt").write_bytes(b"")
    (raw / "picture.txt").write_bytes(bytes(range(256)) * 4)
    summary = _run(raw, warehouse, "mixed")
    assert summary.status == "succeeded"
    assert read_current(warehouse, DOCUMENTS).num_rows == 5
    assert read_current(warehouse, DUPLICATES).column("source_uri").to_pylist() == ["copy_of_seed.txt"]
    quarantine = {r["source_uri"]: r["reason"] for r in read_current(warehouse, QUARANTINE).to_pylist()}
    assert quarantine == {"empty.txt": "ingest.empty_file", "picture.txt": "ingest.binary_file"}
    row = summary.row
    assert row["n_read"] == 8
    assert (
        row["n_read"]
        == row["n_new"] + row["n_updated"] + row["n_unchanged"] + row["n_duplicates"] + row["n_quarantined"]
    )


def test_failing_stage_is_named_and_publishes_no_data(tmp_path, monkeypatch):
    from prefect import task

    @task(name="extract")
    def broken_extract(pages, cfg, sizes, out=None):
        raise RuntimeError("injected fault")

    monkeypatch.setattr("flows.nightly.extract_stage", broken_extract)
    raw, warehouse = seed_dir(tmp_path), tmp_path / "warehouse"
    with pytest.raises(StageFailed) as failure:
        _run(raw, warehouse, "broken")
    assert failure.value.stage == "extract"
    assert open_delta(warehouse, DOCUMENTS) is None
    (run,) = read_current(warehouse, RUNS).to_pylist()
    assert (run["status"], run["failed_stage"]) == ("failed", "extract")
    assert "injected fault" in run["error"]


def test_duckdb_views_answer_queries(first_run):
    _, warehouse, _ = first_run
    con = duckdb.connect(str(warehouse / "analyst.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from documents where language = 'en'").fetchone() == (5,)
        assert con.execute("select budget_usd from projects").fetchone() == (200000.0,)
        assert con.execute("select count(*) from quarantine").fetchone() == (0,)
    finally:
        con.close()


def test_tables_open_with_deltalake_to_pandas_in_a_fresh_process(first_run):
    """Analysts' way in. Run in a child process: to_pandas() can abort at interpreter exit (delta-rs 2184)."""
    _, warehouse, _ = first_run
    code = (
        "import json, os, sys; from deltalake import DeltaTable; "
        f"df = DeltaTable({str(warehouse / 'documents')!r}).to_pandas(); "
        "print(json.dumps(sorted(df['title']))); sys.stdout.flush(); os._exit(0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "IOM Director General to Visit Mongolia, Open IOM Office" in json.loads(out.stdout)


def test_cli_run_exits_cleanly(tmp_path):
    """`python -m flows run` end to end in its own process (its own temporary Prefect server); exit 0, not 134."""
    raw, warehouse = seed_dir(tmp_path), tmp_path / "warehouse"
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("PREFECT_")}
    cmd = [sys.executable, "-m", "flows", "run", "--raw", str(raw), "--warehouse", str(warehouse), "--run-id", "cli"]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "run cli: succeeded" in result.stdout
    runs = subprocess.run(
        [sys.executable, "-m", "flows", "runs", "--warehouse", str(warehouse)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert runs.returncode == 0 and "cli" in runs.stdout


@pytest.mark.parametrize(
    ("code", "returncode", "stderr"), [(3, 3, ""), (None, 0, ""), ("refused: why", 1, "refused: why")]
)
def test_a_command_exits_after_its_threads_and_exit_handlers(tmp_path, code, returncode, stderr):
    """`flows.cli.exit_without_teardown`: what interpreter shutdown does before the module teardown it skips (a
    thread still writing is joined, an exit handler runs), then the command's exit code."""
    script = (
        "import atexit, pathlib, sys, threading, time\n"
        "from flows.cli import exit_without_teardown\n"
        f"out = pathlib.Path({str(tmp_path)!r})\n"
        "atexit.register(lambda: (out / 'handler').write_text('ran'))\n"
        "threading.Thread(target=lambda: (time.sleep(0.5), (out / 'thread').write_text('done'))).start()\n"
        "print('said', flush=False)\n"
        f"exit_without_teardown({code!r})\n"
        "(out / 'after').write_text('never')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert (done.returncode, done.stdout, done.stderr.strip()) == (returncode, "said\n", stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["handler", "thread"]
