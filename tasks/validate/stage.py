"""The validate stage: row-level expectations per shard of each checked table, then once per night the checks
that need the whole night (key uniqueness, table-level suites), the quarantine rows and the tables without the
rows rejected (contract: tasks/validate/__init__.py).

`validate_stage` (the flow's entry) maps `validate_shard` over the shards with the flow's task runner; a night of
at most `Sizes.local_check_rows` documents is checked in one process instead (of its own when the run has worker
processes: `tasks/_shards.apart`); `validate_tables` is the same work in this process (tests, bench scripts).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas import DOCUMENTS, MENTIONS
from schemas.runs import NEW, UPDATED
from schemas.stg_pages import STG_DOCUMENTS
from tasks._progress import advance, step
from tasks._shards import apart, as_spill, map_shards, plan_shards, trim_memory
from tasks._spill import Rows, Spill, filter_out, read_columns
from tasks._stage import StageResult, quarantine_table
from tasks.history import History
from tasks.sizes import DEFAULT_SIZES, Sizes
from tasks.validate.config import TableExpectationFailed, ValidateConfig, ValidationHistory
from tasks.validate.history import history_for_night, load_history
from tasks.validate.reduce import (
    first_run_id,
    quarantine_rows,
    run_reduce_suites,
    shard_rejects,
    summary_batches,
    table_level_batches,
    unique_rejects,
)
from tasks.validate.reports import add_offline_index
from tasks.validate.shards import (
    CHILDREN,
    VALIDATED,
    ShardGroup,
    group_shards,
    validate_shard,
)
from tasks.validate.suites import REPORTS_DIR

IS_UPDATE = "is_update"  # carried on documents rows (STG_DOCUMENTS), counted here, dropped by publish
ShardRunner = Callable[[list[ShardGroup], str, ValidateConfig, Path], list[dict[str, Any]]]


def _in_process(shards: list[ShardGroup], table_name: str, cfg: ValidateConfig, out: Path) -> list[dict[str, Any]]:
    manifests = []
    for shard in shards:
        manifests.append(validate_shard(shard, table_name, cfg, out))
        advance(shard.rows)
    return manifests


def _on_task_runner(shards: list[ShardGroup], table_name: str, cfg: ValidateConfig, out: Path) -> list[dict[str, Any]]:
    return map_shards(validate_shard, shards, table_name=table_name, cfg=cfg, out=out)


def _validate_shards(
    given: dict[str, Rows], cfg: ValidateConfig, out: Path, run: ShardRunner, sizes: Sizes
) -> tuple[dict[str, Any], bool]:
    """Every checked table's shard groups (`sizes.check_rows` rows each) through `run`; the night's rejects,
    failures and counts, and whether worker processes ran them (a table had several groups on the task runner)."""
    rejects, failures, failed, parallel = [], [], {}, False
    for table in VALIDATED:
        spill = as_spill(given[table.name], out / "input" / f"{table.name}.parquet", table, sizes.check_rows)
        shards = group_shards(plan_shards(spill, sizes.check_rows, sizes.chunk_rows), sizes.check_rows)
        parallel |= run is _on_task_runner and len(shards) > 1  # `map_shards` runs a lone shard here
        with step(f"checking {table.name}", records=spill.num_rows):
            manifests = run(shards, table.name, cfg, out)
        for manifest in manifests:
            failures.extend(manifest["table_failures"])
            for reason, n in manifest["failed"].items():
                failed[reason] = failed.get(reason, 0) + n
        found = unique_rejects(out, table, [s.index for s in shards])
        trim_memory()
        for row in found:
            failed[row["reason"]] = failed.get(row["reason"], 0) + 1
        rejects.extend(found)
    found_in_shards = shard_rejects(out)
    if rejects:
        found_in_shards = pa.concat_tables([found_in_shards, pa.Table.from_pylist(rejects, found_in_shards.schema)])
    return {"rejects": found_in_shards, "failures": failures, "failed": failed}, parallel


def _without_rejected(
    given: dict[str, Rows], bad_keys: dict[str, set[Any]], out: Path | None, chunk_rows: int
) -> dict[str, Rows]:
    """Each table without its rejected rows; a rejected document takes its child rows with it."""
    rejected_docs = bad_keys[DOCUMENTS.name]
    clean: dict[str, Rows] = {}
    for table in (*VALIDATED, MENTIONS):
        if table.name not in given:
            continue
        drop = {table.key[0]: set(bad_keys.get(table.name, ()))}
        if table in (DOCUMENTS, *CHILDREN, MENTIONS):
            drop["doc_id"] = drop.get("doc_id", set()) | rejected_docs
        name = "kept.parquet" if table is DOCUMENTS else f"outputs/{table.name}.parquet"
        written = STG_DOCUMENTS if table is DOCUMENTS and IS_UPDATE in column_names(given[table.name]) else table
        clean[table.name] = filter_out(given[table.name], drop, Path(out) / name if out else None, written, chunk_rows)
    return clean


def _report(warehouse: Path | None) -> str | None:
    """The Data Docs index (made readable offline), if this validation built one."""
    report = Path(warehouse) / REPORTS_DIR / "index.html" if warehouse is not None else None
    if report is None or not report.exists():
        return None
    add_offline_index(report)
    return str(report)


def validate_tables(
    given: dict[str, Rows],
    cfg: ValidateConfig,
    history: ValidationHistory | None = None,
    warehouse: Path | None = None,
    out: Path | None = None,
    run_time: datetime | None = None,
    sizes: Sizes = DEFAULT_SIZES,
) -> StageResult:
    """Drop rows that fail row-level expectations into quarantine; raise if a table-level one fails (shards run
    one after another in this process).

    Args:
        given: the run's tables (in memory or spills; read a shard at a time).
        history: earlier runs' counts and titles (default: none, so history checks are skipped).
        warehouse: where to keep GX results (<warehouse>/_gx) and Data Docs (<warehouse>/_reports/gx);
            None validates in memory only.
        out: folder for the spills of the tables without the rejected rows, and the shards' part files.
        run_time: when the validation ran (timezone-aware), GX's run_time for the stored results; default: now.
        sizes: rows a shard group checks together, and read at once.
    """
    if out is not None:
        return validate_night(given, cfg, history, warehouse, Path(out), run_time, _in_process, sizes)
    with tempfile.TemporaryDirectory(prefix="validate-") as scratch:
        return validate_night(given, cfg, history, warehouse, Path(scratch), run_time, _in_process, sizes, keep=False)


def validate_night(
    given: dict[str, Rows],
    cfg: ValidateConfig,
    history: ValidationHistory | None,
    warehouse: Path | None,
    out: Path,
    run_time: datetime | None,
    run: ShardRunner,
    sizes: Sizes,
    keep: bool = True,
) -> StageResult:
    """Shards (through `run`), then the night-wide checks; `keep`: the kept tables may be spills in `out`."""
    history = history or ValidationHistory()
    if run_time is not None and run_time.utcoffset() is None:
        raise ValueError(f"run_time must be timezone-aware, not {run_time!r}")
    night, parallel = _validate_shards(given, cfg, out, run, sizes)
    # in a process of its own when the shards ran on worker processes (tasks/_shards.apart; they leave first,
    # Great Expectations loaded, ~460 MB each); a night whose shards ran here has GX loaded here (~3 s saved)
    with step("night-wide checks"):
        return apart(check_night, given, night, cfg, history, warehouse, out, run_time, sizes, keep, parallel=parallel)


def check_night(
    given: dict[str, Rows],
    night: dict[str, Any],
    cfg: ValidateConfig,
    history: ValidationHistory,
    warehouse: Path | None,
    out: Path,
    run_time: datetime | None,
    sizes: Sizes,
    keep: bool,
) -> StageResult:
    """The night-wide checks over what the shards found (`night`): table-level suites, then the quarantine rows
    and the tables without the rejected rows."""
    n_docs = given[DOCUMENTS.name].num_rows
    n_other = sum(given[n].num_rows for n in ("duplicates", "quarantine") if n in given)
    run_id = first_run_id(given[DOCUMENTS.name], sizes.key_rows)
    summaries = summary_batches(night["failed"])
    history = history_for_night(history, given[DOCUMENTS.name])
    failures, failed = run_reduce_suites(
        table_level_batches(out, n_other, history, cfg), summaries, run_id, warehouse, run_time, cfg
    )
    trim_memory(collect=True)  # the night-wide arrays are gone: their pages too, before the rewrite
    failed = {**night["failed"], **failed}
    stats: dict[str, Any] = {"failed_expectations": sorted(failed), "report": _report(warehouse)}
    failures = night["failures"] + failures
    if failures:
        raise TableExpectationFailed(
            f"table expectations failed: {'; '.join(failures)[:2000]} (report: {stats['report']})", stats
        )
    rejects = night["rejects"]
    bad_keys = {
        t.name: set(rejects.filter(pc.equal(rejects["table"], i))["key"].to_pylist()) for i, t in enumerate(VALIDATED)
    }
    clean = _without_rejected(given, bad_keys, out if keep else None, sizes.chunk_rows)
    rows = quarantine_rows(rejects, given[DOCUMENTS.name], run_id, sizes.key_rows)
    stats.update({"documents_rejected": len(bad_keys[DOCUMENTS.name]), "rows_quarantined": len(rows)})
    for row in rows:
        stats[f"quarantined.{row['reason']}"] = stats.get(f"quarantined.{row['reason']}", 0) + 1
    # Conservation is over documents: a rejected child row (a project, a contact) leaves its document published.
    outputs = {name: rows for name, rows in clean.items() if name != DOCUMENTS.name}
    result = StageResult(clean[DOCUMENTS.name], quarantine_table(rows), stats, outputs=outputs)
    result.stats["in"] = n_docs
    result.stats.update(new_and_updated(clean[DOCUMENTS.name]))
    return result


def column_names(rows: Rows) -> list[str]:
    """The columns of a table or spill (a spill's from its first file's footer)."""
    return pq.read_schema(rows.files[0]).names if isinstance(rows, Spill) else rows.column_names


def new_and_updated(documents: Rows) -> dict[str, int]:
    """The kept documents split by dedupe's is_update (carried by extract; absent: every document is new)."""
    carried = IS_UPDATE in column_names(documents)
    flags = read_columns(documents, [IS_UPDATE]).column(IS_UPDATE) if carried else pa.array([], pa.bool_())
    updated = pc.sum(pc.fill_null(flags, False)).as_py() or 0
    return {NEW: documents.num_rows - updated, UPDATED: updated}


def validate_stage(
    tables: dict[str, Rows],
    cfg: ValidateConfig,
    history: History | None = None,
    sizes: Sizes = DEFAULT_SIZES,
    *,
    out: Path,
) -> StageResult:
    """The stage as the flow runs it: each table's shards mapped on the flow's task runner, then the reduce.
    `history`: the run's warehouse (recent runs, published titles; GX results and Data Docs are kept there)."""
    now = datetime.now(UTC)
    checks = load_history(history, cfg) if history is not None else None
    warehouse = history.warehouse if history is not None else None
    if tables[DOCUMENTS.name].num_rows <= sizes.local_check_rows:
        # a small night is checked in one process, of its own when the run has worker processes: each worker and
        # the reduce's process would import Great Expectations again (~3 s of CPU each) for seconds of checks
        # (100k documents: 16.7 s on two workers, 9.3 s in one process), and in the run process it stayed
        # resident through publish (1M night 2: the run process's peak in publish 1,413 -> 1,806 MB)
        with step("checking a small night in one process"):
            return apart(validate_night, tables, cfg, checks, warehouse, Path(out), now, _in_process, sizes)
    return validate_night(tables, cfg, checks, warehouse, Path(out), now, _on_task_runner, sizes)
