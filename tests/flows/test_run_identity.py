"""Every run trustworthy in the CLI (issue 17), through the real `docpipe` commands, Prefect and Delta: a run id
names one run for ever, no-op runs read as succeeded, a failed run's counts are what its stages counted, a busy
warehouse is refused before Prefect starts, and errors are one clear message."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from helpers import ROOT, seed_dir
from typer.testing import CliRunner

from flows.cli import app
from flows.settings import FAULT_ENV
from schemas import RUNS
from tasks._warehouse import current_version, read_current

WIDE = {"COLUMNS": "200"}


def _cli(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, [*args], env={**WIDE, **(env or {})})


def _runs_rows(warehouse) -> list[dict]:
    return sorted(read_current(warehouse, RUNS).to_pylist(), key=lambda r: r["run_id"])


def test_a_run_id_names_one_run_and_a_no_op_run_has_succeeded(tmp_path):
    raw, warehouse = seed_dir(tmp_path), tmp_path / "warehouse"
    where = ("--raw", str(raw), "--warehouse", str(warehouse))
    first = _cli("run", *where, "--run-id", "night-a")
    assert first.exit_code == 0, first.output
    assert "▶ ingest" in first.output and "✓ publish succeeded" in first.output  # a line per stage, publish timed
    assert (
        "publish" in json.loads(_runs_rows(warehouse)[0]["stage_stats"])
        and "seconds" in json.loads(_runs_rows(warehouse)[0]["stage_stats"])["publish"]
    )
    log = (warehouse / "_runs" / "night-a" / "run.log").read_text()
    assert log.count("✓ ") == 6
    assert re.search(r"publish: documents version \d+, 5 rows in [\d.]+ s", log)  # each table's commit, timed
    rows, version = _runs_rows(warehouse), current_version(warehouse, RUNS)

    again = _cli("run", *where, "--full", "--run-id", "night-a")  # reusing the id of a succeeded run
    assert again.exit_code == 2 and "already succeeded" in again.output, again.output
    assert "Traceback" not in again.output
    assert current_version(warehouse, RUNS) == version and _runs_rows(warehouse) == rows

    resumed = _cli("rerun", "night-a", "--warehouse", str(warehouse))
    assert resumed.exit_code == 0 and "nothing to resume" in resumed.output, resumed.output
    assert current_version(warehouse, RUNS) == version and _runs_rows(warehouse) == rows

    noop = _cli("run", *where, "--run-id", "night-b")
    assert noop.exit_code == 0, noop.output
    assert "tables changed: none" in noop.output
    assert current_version(warehouse, RUNS) == version  # a no-op run adds no version, `runs` included

    status = _cli("status", "--warehouse", str(warehouse))
    assert "night-b: succeeded (nothing new)" in status.output and "resume with" not in status.output, status.output
    listed = {r["run_id"]: r for r in json.loads(_cli("runs", "--json", "--warehouse", str(warehouse)).output)}
    assert listed["night-a"]["status"] == "succeeded" and not listed["night-a"]["nothing_new"]
    assert listed["night-b"]["status"] == "succeeded" and listed["night-b"]["nothing_new"]
    assert "incomplete" not in _cli("runs", "--warehouse", str(warehouse)).output
    versions = _cli("versions", "--warehouse", str(warehouse))
    assert versions.exit_code == 0 and "night-a" in versions.output and "incomplete" not in versions.output

    narrow = CliRunner().invoke(app, ["runs", "--warehouse", str(warehouse)], env={"COLUMNS": "80"})
    assert narrow.exit_code == 0 and max(len(line) for line in narrow.output.splitlines()) <= 80, narrow.output
    assert "night-a" in narrow.output and "succeeded (nothing new)" in narrow.output.replace("\n", " ")


def test_a_failed_run_counts_what_its_stages_counted_and_says_so_in_one_message(tmp_path):
    raw, warehouse = seed_dir(tmp_path), tmp_path / "warehouse"
    (raw / "empty.txt").write_text("")  # ingest quarantines it
    failed = _cli(
        "run", "--raw", str(raw), "--warehouse", str(warehouse), "--run-id", "bad-night", env={FAULT_ENV: "extract"}
    )
    assert failed.exit_code == 1, failed.output
    assert "stage extract failed" in failed.output and "injected fault" in failed.output
    assert "Traceback" not in failed.output and "resume with: docpipe rerun bad-night" in failed.output
    (row,) = _runs_rows(warehouse)
    assert (row["status"], row["n_read"], row["n_quarantined"]) == ("failed", 6, 1)
    assert "quarantined=1" in failed.output


def test_a_busy_warehouse_is_refused_before_prefect_starts(tmp_path):
    raw, warehouse = seed_dir(tmp_path), tmp_path / "warehouse"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from flows.lock import RunLock; RunLock({str(warehouse)!r}, 'first').acquire(); "
            "import time; time.sleep(120)",
        ],
        cwd=ROOT,
    )
    try:
        for _ in range(100):
            if (warehouse / "_run.lock").is_file():
                break
            subprocess.run(["sleep", "0.1"], check=True)
        refused = _cli("run", "--raw", str(raw), "--warehouse", str(warehouse), "--run-id", "second")
        assert refused.exit_code == 2 and "refused: another docpipe run is in progress" in refused.output
        assert "Traceback" not in refused.output and "run first" in refused.output.replace("\n", " ")
        assert not (warehouse / "_runs" / "second").exists()  # the flow never started
    finally:
        holder.kill()
        holder.wait()


def test_read_commands_refuse_a_warehouse_that_does_not_exist(tmp_path):
    for command in ("status", "runs"):
        result = _cli(command, "--warehouse", str(tmp_path / "nope"))
        assert result.exit_code == 2 and "does not exist" in result.output, (command, result.output)
    assert _cli("rerun", "x", "--warehouse", str(tmp_path / "nope")).exit_code == 2
