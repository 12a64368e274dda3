"""Table versions and complete runs of the warehouse (not a stage; reads only).

A run is complete once its `runs` row says `succeeded` and lists its `table_versions`: the `runs` row is the
marker (`complete_runs`, the one rule every reader uses). Every commit also carries the run id in its custom
metadata (`docpipe.run_id`), so a table version is part of a complete run when the run that wrote it is complete,
its CREATE TABLE commit included.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from schemas import PUBLISHED, RUNS, STATE, Table
from tasks._warehouse import RUN_ID_KEY, current_version, open_delta, read_current

SUCCEEDED = "succeeded"

# Delta operationMetrics names per operation: MERGE reports target rows, WRITE/DELETE report added/deleted rows
# (publish's rewrite of `documents` updates, a WRITE, reports added and updated rows: tasks/publish/rewrite.py).
_ADDED = ("num_target_rows_inserted", "num_added_rows")
_UPDATED = ("num_target_rows_updated", "num_updated_rows")
_REMOVED = ("num_target_rows_deleted", "num_deleted_rows")


class AsOfError(ValueError):
    """A run reference (run id, date, runs-table version) names no complete run. The message names the value,
    not the option: the CLI says which argument it was."""


@dataclass(frozen=True, slots=True)
class RunVersions:
    """A complete run and the version of every table as of its end."""

    run_id: str
    finished_at: datetime
    table_versions: dict[str, int]

    def version(self, table: Table) -> int | None:
        return self.table_versions.get(table.name)


@dataclass(frozen=True, slots=True)
class TableVersion:
    table: str
    version: int
    run_id: str | None
    committed_at: datetime
    operation: str
    rows_added: int
    rows_updated: int
    rows_removed: int

    def is_complete(self, complete_run_ids: Collection[str]) -> bool:
        """Written by a complete run (`complete_run_ids`), or by no run at all (untagged commit)."""
        return self.run_id is None or self.run_id in complete_run_ids


def _metric(metrics: dict[str, Any], names: tuple[str, ...]) -> int:
    return int(sum(metrics.get(n) or 0 for n in names))


def table_history(warehouse: Path, table: Table) -> list[TableVersion]:
    """Every version of `table`, oldest first, with its run id and row counts from Delta's operationMetrics."""
    dt = open_delta(warehouse, table)
    if dt is None:
        return []
    out = []
    for h in dt.history():
        metrics = h.get("operationMetrics") or {}
        out.append(
            TableVersion(
                table=table.name,
                version=int(h["version"]),
                run_id=h.get(RUN_ID_KEY),
                committed_at=datetime.fromtimestamp(h["timestamp"] / 1000, UTC),
                operation=h.get("operation", ""),
                rows_added=_metric(metrics, _ADDED),
                rows_updated=_metric(metrics, _UPDATED),
                rows_removed=_metric(metrics, _REMOVED),
            )
        )
    return sorted(out, key=lambda v: v.version)


def complete_runs(warehouse: Path, runs_version: int | None = None) -> list[RunVersions]:
    """Succeeded runs that published a `runs` row (at `runs_version`, else now), oldest first.

    `table_versions["runs"]` is set to the `runs` version that holds the run's own row (the row lists the version
    before its own commit), so that exporting `runs` as of a run includes that run.
    """
    rows = read_current(warehouse, RUNS, version=runs_version).to_pylist()
    runs_commit = {v.run_id: v.version for v in table_history(warehouse, RUNS) if v.run_id}
    out = []
    for row in rows:
        if row["status"] != SUCCEEDED or not row["table_versions"]:
            continue
        versions = {name: int(v) for name, v in row["table_versions"]}
        if row["run_id"] in runs_commit:
            versions[RUNS.name] = runs_commit[row["run_id"]]
        out.append(RunVersions(row["run_id"], row["finished_at"], versions))
    return sorted(out, key=lambda r: (r.finished_at, r.run_id))


def _parse_instant(text: str, day_end: bool) -> datetime | None:
    """A YYYY-MM-DD day's end (exclusive) or start, or an ISO datetime's instant (UTC when naive; just after it
    for `day_end`, so that a run finished at that instant counts); None if `text` is neither."""
    try:
        day = date.fromisoformat(text)
        return datetime.combine(day + timedelta(days=1) if day_end else day, time(), UTC)
    except ValueError:
        pass
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        return None
    instant = instant if instant.tzinfo else instant.replace(tzinfo=UTC)
    return instant + timedelta(microseconds=1) if day_end else instant


def resolve_as_of(warehouse: Path, as_of: str | None = None) -> RunVersions:
    """The complete run that `as_of` names: a run id, an integer `runs`-table version (its last succeeded run),
    a date (the last succeeded run finished on or before it) or an ISO datetime; None = the latest run."""
    runs = complete_runs(warehouse)
    if not runs:
        raise AsOfError(f"no complete run in {warehouse}")
    if as_of is None:
        return runs[-1]
    by_id = {r.run_id: r for r in runs}
    if as_of in by_id:
        return by_id[as_of]
    if as_of.isdigit():
        latest = current_version(warehouse, RUNS)
        if latest is None or int(as_of) > latest:
            raise AsOfError(f"runs table has no version {as_of} (latest: {latest})")
        at_version = complete_runs(warehouse, runs_version=int(as_of))
        if not at_version:
            raise AsOfError(f"runs table version {as_of} holds no succeeded run")
        return by_id.get(at_version[-1].run_id, at_version[-1])
    until = _parse_instant(as_of, day_end=True)
    if until is None:
        raise AsOfError(f"{as_of!r} is neither a complete run id, a runs-table version nor a date (YYYY-MM-DD)")
    earlier = [r for r in runs if r.finished_at < until]
    if not earlier:
        raise AsOfError(f"no run finished on or before {as_of}")
    return earlier[-1]


# The warehouse before its first run: every table absent (`diff --since` a day before the first run).
BEFORE_FIRST_RUN = RunVersions(run_id="", finished_at=datetime.min.replace(tzinfo=UTC), table_versions={})


def run_before(warehouse: Path, since: str) -> RunVersions:
    """The last complete run finished before `since` (a day: its start, 00:00 UTC; or an ISO datetime), else
    BEFORE_FIRST_RUN: changes since DATE are those of the runs finished from DATE on."""
    start = _parse_instant(since, day_end=False)
    if start is None:
        raise AsOfError(f"{since!r} is neither a date (YYYY-MM-DD) nor an ISO datetime")
    earlier = [r for r in complete_runs(warehouse) if r.finished_at < start]
    return earlier[-1] if earlier else BEFORE_FIRST_RUN


def complete_run_ids(warehouse: Path) -> set[str]:
    """Ids of the complete runs (`complete_runs`)."""
    return {r.run_id for r in complete_runs(warehouse)}


def all_tables() -> tuple[Table, ...]:
    return PUBLISHED + STATE
