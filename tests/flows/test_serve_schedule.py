"""Scheduled nights are runs of their own (issue 17): `docpipe serve` with a one-minute cron against the real local
Prefect server it starts; two scheduled runs, each with new pages, get distinct run ids and distinct `runs` rows."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

from helpers import ROOT, seed_files

from flows.prefect_server import stop_process_group
from schemas import RUNS
from tasks._warehouse import read_current

RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[a-z][a-z0-9]{5}$")


def _ui_log_lines(api_url: str, run_id: str) -> list[str]:
    """The log lines Prefect's API holds for the flow run named `run_id` (what its UI shows)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, LogFilter, LogFilterFlowRunId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[run_id])))
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
    return [log.message for log in logs]


def _runs(warehouse) -> list[dict]:
    if not (warehouse / RUNS.name).is_dir():
        return []
    return read_current(warehouse, RUNS, ["run_id", "status", "n_new"]).to_pylist()


def test_every_scheduled_night_gets_its_own_run_id_and_runs_row(tmp_path):
    raw, warehouse = tmp_path / "raw", tmp_path / "warehouse"
    raw.mkdir()
    seeds = seed_files()
    shutil.copy(seeds[0], raw / seeds[0].name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    cmd = [
        sys.executable,
        "-m",
        "flows",
        "serve",
        "--cron",
        "* * * * *",
        "--raw",
        str(raw),
        "--warehouse",
        str(warehouse),
    ]
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 330  # server start-up, then up to 3 minute boundaries and two runs
        rows: list[dict] = []
        while time.monotonic() < deadline and proc.poll() is None:
            rows = [r for r in _runs(warehouse) if r["status"] == "succeeded"]
            if len(rows) >= 2:
                break
            if len(rows) == 1 and not (raw / seeds[1].name).exists():
                shutil.copy(seeds[1], raw / seeds[1].name)  # the next night brings a new page
            time.sleep(2)
        output = (tmp_path / "serve.log").read_text()
        assert len(rows) >= 2, f"fewer than two scheduled runs published: {rows}\n{output[-3000:]}"
        ids = [r["run_id"] for r in rows]
        assert len(set(ids)) == len(ids), ids
        assert all(RUN_ID.match(i) for i in ids), ids
        assert [r["n_new"] for r in rows[:2]] == [1, 1]
        assert "PREFECT_API_URL=http://127.0.0.1:" in output and "prefect deployment run 'nightly/nightly'" in output
        api_url = re.search(r"PREFECT_API_URL=(\S+)", output).group(1)
        for run_id in ids:  # each night has its own folder, log and attempt count, and its lines in the UI
            manifest = (warehouse / "_runs" / run_id / "run.json").read_text()
            assert '"attempts": 1' in manifest
            assert (warehouse / "_runs" / run_id / "run.log").read_text().count("▶ ingest") == 1
            deadline = time.monotonic() + 90  # the run's last lines reach the API after its `runs` row
            ui = _ui_log_lines(api_url, run_id)
            while not any(line.startswith("✓ publish succeeded") for line in ui):
                assert time.monotonic() < deadline, ui
                time.sleep(2)
                ui = _ui_log_lines(api_url, run_id)
    finally:
        stop_process_group(proc, grace_seconds=60)
        log.close()
