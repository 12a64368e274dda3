"""The run log that `docpipe runs` and `docpipe status` print: the `runs` table, plus runs that have no `runs`
row: no-op runs (succeeded, nothing new: they leave only `_runs/<id>/summary.json`), and runs that left
checkpoints but no summary (killed, or still running)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table as RichTable

from flows.checkpoints import COMPLETE, MANIFEST, runs_root
from flows.lock import LOCK_FILE
from schemas import RUNS
from schemas.runs import RUN_COUNTS, STAGES
from tasks._warehouse import read_current, summary_path

WIDE_COLUMNS = 160  # at this terminal width and more, `runs` prints one column per count and per stage


def _running_run_id(warehouse: Path) -> str | None:
    lock = Path(warehouse) / LOCK_FILE
    try:
        return json.loads(lock.read_text() or "{}").get("run_id")
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _summary_row(path: Path) -> dict[str, Any]:
    """A run's summary.json (its would-be `runs` row) with times and stats decoded."""
    row = json.loads(path.read_text())
    for key in ("started_at", "finished_at"):
        row[key] = datetime.fromisoformat(row[key]) if row.get(key) else None
    row["stage_stats"] = json.loads(row.get("stage_stats") or "{}")
    return row


def _unrecorded(warehouse: Path, recorded: set[str]) -> list[dict[str, Any]]:
    """Runs with a run.json but no `runs` row: no-op runs from their summary, the others from checkpoints."""
    running = _running_run_id(warehouse)
    rows = []
    root = runs_root(warehouse)
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        manifest = folder / MANIFEST
        if folder.name in recorded or not manifest.is_file():
            continue
        summary = summary_path(warehouse, folder.name)
        if summary.is_file() and folder.name != running:
            rows.append({**_summary_row(summary), "nothing_new": True})
            continue
        stats = {}
        for stage in STAGES:
            done = folder / stage / COMPLETE
            if done.is_file():
                stats[stage] = {"status": "checkpointed", **json.loads(done.read_text())["stats"]}
        started = datetime.fromisoformat(json.loads(manifest.read_text())["started_at"])
        status = "running" if folder.name == running else "incomplete"
        rows.append({"run_id": folder.name, "status": status, "started_at": started, "stage_stats": stats})
    return rows


def list_runs(warehouse: Path) -> list[dict[str, Any]]:
    """Every run, oldest first; `stage_stats` decoded; `nothing_new` marks a succeeded run that changed nothing."""
    rows = read_current(warehouse, RUNS).to_pylist()
    for row in rows:
        row["stage_stats"] = json.loads(row["stage_stats"] or "{}")
        row["nothing_new"] = False
    rows += _unrecorded(warehouse, {r["run_id"] for r in rows})
    return sorted(rows, key=lambda r: r["started_at"])


def find_run(warehouse: Path, run_id: str) -> dict[str, Any] | None:
    """One run of the log, or None."""
    return next((r for r in list_runs(warehouse) if r["run_id"] == run_id), None)


class RunAlreadySucceeded(RuntimeError):
    """The run id names a run that already succeeded: its `runs` row is a fact that no later run rewrites."""

    def __init__(self, run_id: str, finished_at: Any):
        super().__init__(
            f"run {run_id} already succeeded (finished {finished_at:%Y-%m-%d %H:%M:%S} UTC); a run id names one run: "
            "start a new run without --run-id (`docpipe rerun` resumes only a failed or killed run)"
        )
        self.run_id = run_id


def refuse_succeeded(warehouse: Path, run_id: str) -> None:
    """Raise RunAlreadySucceeded when `run_id` is a succeeded run of the warehouse (no-op runs included)."""
    run = find_run(warehouse, run_id) if Path(warehouse).is_dir() else None
    if run is not None and run["status"] == "succeeded":
        raise RunAlreadySucceeded(run_id, run["finished_at"])


def status_label(row: dict[str, Any]) -> str:
    return f"{row['status']} (nothing new)" if row.get("nothing_new") else row["status"]


def run_seconds(row: dict[str, Any]) -> str:
    finished = row.get("finished_at")
    return f"{(finished - row['started_at']).total_seconds():.1f}" if finished else ""


def runs_json(rows: list[dict[str, Any]]) -> str:
    """The run log as JSON: one object per run, times in ISO 8601."""
    return json.dumps(rows, indent=2, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))


def _stage_cell(s: dict[str, Any]) -> str:
    status = s.get("status", "")
    rows = f" {s['kept']}/{s['in']}" if "in" in s and "kept" in s else ""
    seconds = f" {s['seconds']}s" if "seconds" in s else ""
    return f"{status}{rows}{seconds}"


def _counts(row: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c[2:], str(row[c])) for c in RUN_COUNTS if row.get(c) is not None]


def _error(row: dict[str, Any]) -> str:
    return f"{row.get('failed_stage')}: {row.get('error')}" if row.get("error") else ""


_MARKS = {"succeeded": "✓", "failed": "✗", "skipped": "↷", "checkpointed": "●"}


def _stage_line(stage: str, s: dict[str, Any]) -> str:
    rows = f" {s['kept']}/{s['in']}" if "in" in s and "kept" in s else ""
    return f"{_MARKS.get(s.get('status', ''), '?')} {stage}{rows}"


def runs_table(rows: list[dict[str, Any]], width: int) -> RichTable:
    """One entry per run: status, duration, counts, each stage's status kept/in and seconds, the error. At
    `WIDE_COLUMNS` and more, one column per count; narrower (80 columns fit), three stacked columns: the run
    (id, status, seconds, error), its non-zero counts, its stages (✓ succeeded, ↷ skipped, ✗ failed)."""
    if width >= WIDE_COLUMNS:
        return _wide_runs_table(rows)
    table = RichTable(title="runs", box=box.SIMPLE_HEAD, show_lines=True, title_justify="left")
    table.add_column("run", overflow="fold", min_width=23)
    table.add_column("records", no_wrap=True)
    table.add_column("stages (kept/in)", overflow="fold")
    for row in rows:
        stats = row["stage_stats"]
        head = f"{row['run_id']}\n{status_label(row)}" + (f" · {run_seconds(row)} s" if run_seconds(row) else "")
        error = _error(row)
        counts = "\n".join(f"{name} {n}" for name, n in _counts(row) if n != "0") or "-"
        stages = "\n".join(_stage_line(stage, stats[stage]) for stage in STAGES if stage in stats)
        table.add_row(head + (f"\n[red]{error}[/red]" if error else ""), counts, stages)
    return table


def _wide_runs_table(rows: list[dict[str, Any]]) -> RichTable:
    table = RichTable(title="runs (stages: status kept/in seconds)", show_lines=True)
    table.add_column("run_id", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    for column in RUN_COUNTS:
        table.add_column(column[2:], justify="right", no_wrap=True)
    table.add_column("stages", no_wrap=True)
    table.add_column("error", overflow="fold")
    for row in rows:
        stats = row["stage_stats"]
        stages = "\n".join(f"{stage}: {_stage_cell(stats[stage])}" for stage in STAGES if stage in stats)
        by_name = dict(_counts(row))
        cells = [by_name.get(c[2:], "") for c in RUN_COUNTS]
        table.add_row(row["run_id"], status_label(row), run_seconds(row), *cells, stages, _error(row))
    return table


STAGE_COLUMNS = ("stage", "status", "in", "kept", "quarantined", "seconds")  # one line per stage of a run


def stage_rows(stage_stats: dict[str, dict[str, Any]]) -> list[list[str]]:
    """The cells of STAGE_COLUMNS for each stage that reported stats, in the order it ran."""
    return [[stage, *(str(s.get(k, "")) for k in STAGE_COLUMNS[1:])] for stage, s in stage_stats.items()]


def stage_table(row: dict[str, Any]) -> RichTable:
    """The stages of one run, one line each (`row["stage_stats"]` decoded)."""
    table = RichTable(title=f"run {row['run_id']}: {status_label(row)}")
    for column in STAGE_COLUMNS:
        table.add_column(column, justify="left" if column in ("stage", "status") else "right")
    for cells in stage_rows(row["stage_stats"]):
        table.add_row(*cells)
    return table
