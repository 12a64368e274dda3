"""Resumable runs and failure safety (issue 7): fault injection, rerun from checkpoints, kill mid-publish, the
run lock, retry classification, checkpoint retention. Real flow, Prefect, Delta; no mocks."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from helpers import ROOT, seed_dir
from typer.testing import CliRunner

from flows.checkpoints import prune_checkpoints
from flows.cli import app
from flows.ledger import RunAlreadySucceeded, StageFailed
from flows.lock import RunLock, RunLocked
from flows.nightly import nightly
from flows.settings import DEFAULT_CRON, FAULT_ENV
from flows.stages import is_transient
from handoff.analyst_db import complete_versions
from schemas import DOCUMENTS, INGESTED_FILES, RUNS
from tasks._warehouse import open_delta, read_current
from tasks.publish import PLAN, RUN_ID_KEY

RUN = "night-1"
UPSTREAM = ("ingest", "strip_boilerplate", "dedupe")


def _snapshot(warehouse) -> dict[str, list]:
    """Every data and state table, minus the columns that record when something happened."""
    out = {}
    for table in (w.table for w in PLAN):
        data = read_current(warehouse, table)
        keep = [c for c in data.column_names if not c.endswith("_at") and c != "mtime_ns"]
        out[table.name] = sorted(json.dumps(r, sort_keys=True, default=str) for r in data.select(keep).to_pylist())
    return out


def _stage_status(warehouse, run_id: str) -> dict[str, str]:
    (row,) = [r for r in read_current(warehouse, RUNS).to_pylist() if r["run_id"] == run_id]
    return {stage: s["status"] for stage, s in json.loads(row["stage_stats"]).items()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    base = tmp_path_factory.mktemp("clean")
    warehouse = base / "warehouse"
    assert nightly(str(seed_dir(base)), str(warehouse), RUN).status == "succeeded"
    return _snapshot(warehouse)


def test_fault_in_extract_then_rerun_skips_finished_stages(tmp_path, monkeypatch, clean):
    raw, warehouse = seed_dir(tmp_path), tmp_path / "warehouse"
    monkeypatch.setenv(FAULT_ENV, "extract")
    with pytest.raises(StageFailed) as failure:
        nightly(str(raw), str(warehouse), RUN)
    assert failure.value.stage == "extract" and "injected fault" in str(failure.value)
    assert open_delta(warehouse, DOCUMENTS) is None
    assert _stage_status(warehouse, RUN)["extract"] == "failed"

    monkeypatch.delenv(FAULT_ENV)
    summary = nightly(str(raw), str(warehouse), RUN)
    status = _stage_status(warehouse, RUN)
    assert summary.status == "succeeded"
    assert [status[s] for s in UPSTREAM] == ["skipped"] * 3
    assert [status[s] for s in ("extract", "validate", "publish")] == ["succeeded"] * 3
    (row,) = read_current(warehouse, RUNS).to_pylist()  # the rerun replaced the failed row: one row per run
    assert row["status"] == "succeeded" and row["failed_stage"] is None
    assert _snapshot(warehouse) == clean

    with pytest.raises(RunAlreadySucceeded):  # a succeeded run's row is a fact: no flow run rewrites it
        nightly(str(raw), str(warehouse), RUN, from_stage="extract")
    assert read_current(warehouse, RUNS).to_pylist() == [row]


def test_rerun_from_a_stage_forces_it_and_the_later_ones(tmp_path, monkeypatch, clean):
    raw, warehouse = seed_dir(tmp_path), tmp_path / "warehouse"
    monkeypatch.setenv(FAULT_ENV, "validate")
    with pytest.raises(StageFailed):
        nightly(str(raw), str(warehouse), RUN)
    monkeypatch.delenv(FAULT_ENV)
    nightly(str(raw), str(warehouse), RUN, from_stage="extract")  # --from forces extract and what follows
    status = _stage_status(warehouse, RUN)
    assert (status["dedupe"], status["extract"], status["validate"]) == ("skipped", "succeeded", "succeeded")
    assert _snapshot(warehouse) == clean


def _killed_run(tmp_path, raw, warehouse, fault: str) -> None:
    """A real `docpipe run` process SIGKILLed by the fault drill `fault` (and its temporary Prefect server)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {FAULT_ENV: fault}
    cmd = [sys.executable, "-m", "flows", "run", "--raw", str(raw), "--warehouse", str(warehouse), "--run-id", RUN]
    log = tmp_path / "run.log"
    with log.open("w") as out:  # files, not pipes: the orphaned temporary Prefect server would hold a pipe open
        killed = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True)
        try:
            assert killed.wait(timeout=300) == -signal.SIGKILL, log.read_text()
        finally:
            with contextlib.suppress(ProcessLookupError):  # the killed run's temporary Prefect server
                os.killpg(killed.pid, signal.SIGKILL)


def test_kill_during_publish_then_rerun(tmp_path, clean):
    """SIGKILL right after publish's first table commit, in a real `docpipe run` process; then rerun."""
    raw, warehouse = seed_dir(tmp_path), tmp_path / "warehouse"
    _killed_run(tmp_path, raw, warehouse, "publish:kill")
    committed = [t.name for t in (w.table for w in PLAN) if (dt := open_delta(warehouse, t)) and dt.version() > 0]
    assert len(committed) == 1 and open_delta(warehouse, committed[0]).history()[0][RUN_ID_KEY] == RUN
    assert complete_versions(warehouse) == {}  # readers see no version of the killed run
    assert not (warehouse / "analyst.duckdb").exists()

    summary = nightly(str(raw), str(warehouse), RUN)  # the dead process's lock is stale and taken over
    assert summary.status == "succeeded"
    assert set(_stage_status(warehouse, RUN).values()) == {"skipped", "succeeded"}
    docs = read_current(warehouse, DOCUMENTS, ["doc_id"]).column("doc_id").to_pylist()
    assert len(docs) == len(set(docs)) == 5
    assert _snapshot(warehouse) == clean
    assert complete_versions(warehouse)["documents"] == open_delta(warehouse, DOCUMENTS).version()


def test_kill_after_the_registry_commit_then_rerun_from_ingest(tmp_path, clean):
    """Killed after `ingested_files` was committed (the run's files listed as read) but before its `runs` row:
    `rerun --from ingest` must read the run's own files again, not skip them as already ingested."""
    raw, warehouse = seed_dir(tmp_path), tmp_path / "warehouse"
    _killed_run(tmp_path, raw, warehouse, "publish:kill@ingested_files")
    registry = read_current(warehouse, INGESTED_FILES)
    assert registry.num_rows == 5 and set(registry["run_id"].to_pylist()) == {RUN}
    assert complete_versions(warehouse) == {}

    summary = nightly(str(raw), str(warehouse), RUN, from_stage="ingest")
    assert summary.status == "succeeded" and summary.row["n_read"] == 5
    assert _snapshot(warehouse) == clean
    # the stages read the warehouse as it was before the run (tasks/history.py), not its own committed rows:
    # its five pages are new, as in the uninterrupted run, not "unchanged" against themselves
    counts = {k: summary.row[k] for k in ("n_new", "n_updated", "n_unchanged", "n_duplicates", "n_quarantined")}
    assert counts == {"n_new": 5, "n_updated": 0, "n_unchanged": 0, "n_duplicates": 0, "n_quarantined": 0}


def test_second_run_is_refused_while_another_holds_the_warehouse(tmp_path):
    raw, warehouse = seed_dir(tmp_path), tmp_path / "warehouse"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from flows.lock import RunLock; RunLock({str(warehouse)!r}, 'first').acquire(); "
         "print('locked', flush=True); input()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLocked, match=r"another docpipe run is in progress.*run first \(pid"):
            nightly(str(raw), str(warehouse), "second")
    finally:
        holder.kill()
        holder.wait()
    assert open_delta(warehouse, RUNS) is None  # the refused run recorded nothing
    with RunLock(warehouse, "third"):  # the killed holder's lock is stale
        assert json.loads((warehouse / "_run.lock").read_text())["run_id"] == "third"
    assert not (warehouse / "_run.lock").exists()


def test_only_transient_errors_are_retried():
    assert is_transient(OSError(5, "Input/output error")) and is_transient(TimeoutError())
    assert not is_transient(FileNotFoundError("raw/x.txt")) and not is_transient(KeyError("doc_id"))
    assert not is_transient(AssertionError("records do not reconcile"))


def test_old_checkpoints_are_pruned(tmp_path):
    now = datetime(2026, 11, 26, tzinfo=UTC)
    for run_id, age in (("old", 30), ("recent", 1)):
        folder = tmp_path / "_runs" / run_id
        (folder / "ingest").mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({"started_at": (now - timedelta(days=age)).isoformat()}))
    assert prune_checkpoints(tmp_path, 14, now, keep="recent") == ["old"]
    assert not (tmp_path / "_runs" / "old" / "ingest").exists() and (tmp_path / "_runs" / "old" / "run.json").exists()
    assert (tmp_path / "_runs" / "recent" / "ingest").exists()


def test_prefect_yaml_deploys_the_same_flow_and_schedule():
    (deployment,) = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    assert deployment["entrypoint"] == "flows/nightly.py:nightly"
    assert deployment["schedules"][0]["cron"] == DEFAULT_CRON


def test_a_run_killed_during_start_up_is_resumed_by_its_id(tmp_path, clean):
    """Killed (whole process group) once it is recorded, while Prefect is still starting: the id the user or the
    scheduler holds resumes it, and the warehouse ends as the clean run's."""
    raw, warehouse = seed_dir(tmp_path), tmp_path / "warehouse"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    cmd = [sys.executable, "-m", "flows", "run", "--raw", str(raw), "--warehouse", str(warehouse), "--run-id", RUN]
    with (tmp_path / "run.log").open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True)
        manifest = warehouse / "_runs" / RUN / "run.json"
        for _ in range(600):
            if manifest.is_file() or proc.poll() is not None:
                break
            subprocess.run(["sleep", "0.05"], check=True)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert manifest.is_file() and json.loads(manifest.read_text())["attempts"] == 0  # recorded, not yet started
    assert open_delta(warehouse, DOCUMENTS) is None

    resumed = CliRunner().invoke(app, ["rerun", RUN, "--warehouse", str(warehouse)], env={"COLUMNS": "200"})
    assert resumed.exit_code == 0, resumed.output
    assert _stage_status(warehouse, RUN)["ingest"] == "succeeded"
    assert _snapshot(warehouse) == clean


def test_rerun_of_an_id_never_recorded_starts_it_with_raw(tmp_path, clean):
    raw, warehouse = seed_dir(tmp_path), tmp_path / "warehouse"
    refused = CliRunner().invoke(app, ["rerun", RUN, "--warehouse", str(warehouse)])
    assert refused.exit_code == 2
    started = CliRunner().invoke(app, ["rerun", RUN, "--raw", str(raw), "--warehouse", str(warehouse)])
    assert started.exit_code == 0 and "was never recorded" in started.output, started.output
    assert _snapshot(warehouse) == clean
