"""The run log that `docpipe runs` and `docpipe status` print: the `runs` table, plus runs that left
checkpoints but no `runs` row (killed, or still running)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.table import Table as RichTable

from flows.checkpoints import COMPLETE, MANIFEST, runs_root
from flows.lock import LOCK_FILE
from flows.stages import STAGES
from schemas import RUNS
from schemas.runs import RUN_COUNTS
from tasks._warehouse import read_current

COUNTS = RUN_COUNTS


def _unrecorded(warehouse: Path, recorded: set[str]) -> list[dict[str, Any]]:
    """Runs with a run.json but no `runs` row: stats from their checkpoints."""
    lock = Path(warehouse) / LOCK_FILE
    running = json.loads(lock.read_text() or "{}").get("run_id") if lock.is_file() else None
    rows = []
    root = runs_root(warehouse)
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        manifest = folder / MANIFEST
        if folder.name in recorded or not manifest.is_file():
            continue
        stats = {}
        for stage in STAGES:
            done = folder / stage / COMPLETE
            if done.is_file():
                stats[stage] = {"status": "checkpointed", **json.loads(done.read_text())["stats"]}
        if not stats and (folder / "summary.json").is_file():
            continue  # a no-op run: it finished and changed nothing
        started = datetime.fromisoformat(json.loads(manifest.read_text())["started_at"])
        status = "running" if folder.name == running else "incomplete"
        rows.append({"run_id": folder.name, "status": status, "started_at": started, "stage_stats": stats})
    return rows


def list_runs(warehouse: Path) -> list[dict[str, Any]]:
    """Every run, oldest first; `stage_stats` decoded."""
    rows = read_current(warehouse, RUNS).to_pylist()
    for row in rows:
        row["stage_stats"] = json.loads(row["stage_stats"] or "{}")
    rows += _unrecorded(warehouse, {r["run_id"] for r in rows})
    return sorted(rows, key=lambda r: r["started_at"])


def _stage_cell(s: dict[str, Any]) -> str:
    status = s.get("status", "")
    rows = f" {s['kept']}/{s['in']}" if "in" in s and "kept" in s else ""
    seconds = f" {s['seconds']}s" if "seconds" in s else ""
    return f"{status}{rows}{seconds}"


def runs_table(rows: list[dict[str, Any]]) -> RichTable:
    """One line per run: status, duration, counts, each stage's status kept/in and seconds, the error."""
    table = RichTable(title="runs (stages: status kept/in seconds)", show_lines=True)
    table.add_column("run_id", no_wrap=True)
    for column in ("status", "seconds", *(c[2:] for c in COUNTS)):
        table.add_column(column, no_wrap=True)
    table.add_column("stages", no_wrap=True)
    table.add_column("error", overflow="fold")
    for row in rows:
        finished = row.get("finished_at")
        seconds = f"{(finished - row['started_at']).total_seconds():.1f}" if finished else ""
        stats = row["stage_stats"]
        error = f"{row.get('failed_stage')}: {row.get('error')}" if row.get("error") else ""
        table.add_row(
            row["run_id"],
            row["status"],
            seconds,
            *(str(row.get(c, "")) if row.get(c) is not None else "" for c in COUNTS),
            "\n".join(f"{stage}: {_stage_cell(stats[stage])}" for stage in STAGES if stage in stats),
            error,
        )
    return table


def stage_table(row: dict[str, Any]) -> RichTable:
    """The stages of one run, one line each."""
    table = RichTable(title=f"run {row['run_id']}: {row['status']}")
    for column in ("stage", "status", "in", "kept", "quarantined", "seconds"):
        table.add_column(column, justify="left" if column in ("stage", "status") else "right")
    for stage, s in row["stage_stats"].items():
        table.add_row(stage, *(str(s.get(k, "")) for k in ("status", "in", "kept", "quarantined", "seconds")))
    return table
