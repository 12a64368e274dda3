"""The publish stage: write a run's tables in PLAN order, then its `runs` row and summary."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas import DOCUMENTS, RUNS
from tasks._progress import note, step, unmetered
from tasks._spill import Rows, read_columns
from tasks._warehouse import current_version, summary_path
from tasks.publish.config import PLAN, TableWrite
from tasks.publish.merge import ensure_table, merge_rows, publish_rows, replace_by_rewrite, stale_rows_predicate
from tasks.sizes import DEFAULT_SIZES, Sizes

STAGE = "publish"


def publish_tables(
    warehouse: Path,
    tables: dict[str, Rows],
    run_id: str,
    after_commit: Callable[[str], None] | None = None,
    sizes: Sizes = DEFAULT_SIZES,
) -> dict[str, int]:
    """Write each table of the run (no commit when nothing changes); return every table's version. Tables may
    be spills: they are merged as streams.

    `after_commit(table_name)` is called after each table that got a new version (fault-injection drills)."""
    documents = tables.get(DOCUMENTS.name, DOCUMENTS.empty())
    values = functools.cache(lambda column: pc.unique(read_columns(documents, [column]).column(column)))
    for write in PLAN:
        start = time.perf_counter()
        dt = ensure_table(warehouse, write.table, run_id)
        before = dt.version()
        rows = tables.get(write.table.name, write.table.empty())
        metered = nullcontext() if write.table is DOCUMENTS else unmetered()  # the stage's records: documents
        with metered, step(f"publishing {write.table.name}"):
            if write.rewrites and write.replaced_by_documents and dt.file_uris():
                replace_by_rewrite(dt, rows, write, run_id, values(write.replaced_by_documents), sizes)
            elif (stale := stale_rows_predicate(dt, values, write)) or rows.num_rows:
                publish_rows(dt, rows if rows.num_rows else write.table.empty(), write, run_id, stale, sizes)
        version = current_version(warehouse, write.table)
        if version != before:
            seconds = time.perf_counter() - start
            note(f"{STAGE}: {write.table.name} version {version}, {rows.num_rows:,} rows in {seconds:.1f} s")
            if after_commit:
                after_commit(write.table.name)
    ensure_table(warehouse, RUNS, run_id)
    return versions(warehouse)


def publish_run_row(warehouse: Path, row: dict[str, Any]) -> int:
    """Write the run's `runs` row (last commit of a run; a rerun replaces its row)."""
    dt = ensure_table(warehouse, RUNS, row["run_id"])
    merge_rows(dt, RUNS.conform([row]), TableWrite(RUNS, "true"), row["run_id"])
    return current_version(warehouse, RUNS)


def publish_run_summary(warehouse: Path, row: dict[str, Any]) -> Path:
    """Write the run's summary.json (also for no-op runs, which commit nothing)."""
    path = summary_path(warehouse, row["run_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(row, indent=2, sort_keys=True, default=str))
    return path


def changed_tables(before: dict[str, int | None], after: dict[str, int]) -> list[str]:
    """Tables whose version differs between two `versions` snapshots."""
    return [name for name, version in after.items() if before.get(name) != version]


def versions(warehouse: Path) -> dict[str, int | None]:
    """Current version of every table publish writes (None: not created yet)."""
    return {t.name: current_version(warehouse, t) for t in (*(w.table for w in PLAN), RUNS)}


# The flow's publish task: `publish_tables` itself (the ledger retries it on transient errors).
publish_tables_task = task(name="publish", cache_policy=NO_CACHE)(publish_tables)
