"""The validate gate inside the real `nightly` flow: a failed table expectation publishes no table version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from helpers import seed_dir

from flows.ledger import StageFailed
from flows.nightly import nightly
from schemas import RUNS
from tasks._warehouse import open_delta, read_current
from tasks.publish import publish_run_row, versions


def _history_row(i: int, n_new: int) -> dict:
    at = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=i)
    return {
        "run_id": f"past-{i}",
        "started_at": at,
        "finished_at": at,
        "status": "succeeded",
        "n_read": n_new,
        "n_new": n_new,
        "n_updated": 0,
        "n_unchanged": 0,
        "n_duplicates": 0,
        "n_quarantined": 0,
        "stage_stats": "{}",
        "config_fingerprint": "x",
        "code_version": "x",
    }


def test_a_95_percent_drop_fails_validate_and_publishes_nothing(tmp_path):
    raw, warehouse = seed_dir(tmp_path), tmp_path / "warehouse"
    for i in range(4):  # recent nights published ~100 documents; tonight brings the 5 seed pages
        publish_run_row(warehouse, _history_row(i, 100))

    before = {name: v for name, v in versions(warehouse).items() if name != RUNS.name}
    with pytest.raises(StageFailed) as failure:
        nightly(str(raw), str(warehouse), "gate")
    assert failure.value.stage == "validate"
    assert {name: v for name, v in versions(warehouse).items() if name != RUNS.name} == before
    assert open_delta(warehouse, "documents") is None
    (run,) = [r for r in read_current(warehouse, RUNS).to_pylist() if r["run_id"] == "gate"]
    assert (run["status"], run["failed_stage"]) == ("failed", "validate")
    assert "validate.documents.table.row_count_drop" in run["error"]
    report = warehouse / "_reports" / "gx" / "index.html"
    assert report.exists() and str(report) in run["error"]
