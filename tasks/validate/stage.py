"""The validate stage: narrow the run's tables to what the suites read, run the suites, quarantine the rows they
reject, and hand on the tables without them (contract: tasks/validate/__init__.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas import CONTACTS, DOCUMENTS, DUPLICATES, MENTIONS, PROJECTS, RUNS, Table
from schemas.runs import NEW, UPDATED
from schemas.stg_pages import STG_DOCUMENTS
from tasks._spill import Rows, Spill, chunks, filter_out, read_columns
from tasks._stage import StageResult, quarantine_row, quarantine_table, with_columns
from tasks._warehouse import read_current
from tasks.validate.config import TableExpectationFailed, ValidateConfig, ValidationHistory
from tasks.validate.derived import DERIVED_COLUMNS, ROW_DERIVED
from tasks.validate.reports import add_offline_index
from tasks.validate.suites import REPORTS_DIR, Batch, gx_context, gx_run_id, load_gx, run_suite, table_batches

STAGE = "validate"
VALIDATED: tuple[Table, ...] = (DOCUMENTS, PROJECTS, CONTACTS, DUPLICATES)
IS_UPDATE = "is_update"  # carried on documents rows (STG_DOCUMENTS), counted here, dropped by publish
CHILDREN = (PROJECTS, CONTACTS)  # rows that belong to a document (key -> doc_id)

TEXT_HEAD_CHARS = 80  # what a frame keeps of a text column an expectation reads (its nulls, a quotable head)
# Read by the stage itself besides the checked columns: run id, messages (source_uri), parents, repeated titles.
_BOOKKEEPING = ("doc_id", "source_uri", "run_id", "site", "title")


def narrow_table(rows: Rows, table: Table, history: ValidationHistory, cfg: ValidateConfig) -> pa.Table:
    """The columns validation reads, in memory: the key, the checked columns (text columns cut to their first
    TEXT_HEAD_CHARS characters) and bookkeeping, plus the row-level derived check columns computed from the
    full texts one chunk at a time."""
    expects = table.expectations()
    row_derived = [e for e in expects if e.derive in ROW_DERIVED]
    needed = {e.kwargs.get(k) for e in expects for k in ("column", "column_A", "column_B")}
    needed |= {e.on for e in expects} | {e.where for e in expects} | set(table.key) | set(_BOOKKEEPING)
    texts = set(table.text_columns)
    narrow = [c for c in table.column_names if c in needed]
    if not row_derived and not texts:
        return read_columns(rows, narrow)
    parts = []
    for part in chunks(rows):
        extra = {e.kwargs["column"]: DERIVED_COLUMNS[e.derive](part, e.on, history, cfg) for e in row_derived}
        heads = [
            pc.utf8_slice_codeunits(part.column(c), 0, TEXT_HEAD_CHARS) if c in texts else part.column(c)
            for c in narrow
        ]
        parts.append(with_columns(pa.table(heads, names=narrow), extra))
    if parts:
        return pa.concat_tables(parts)
    extra = {e.kwargs["column"]: pa.array([], pa.bool_()) for e in row_derived}
    return with_columns(table.empty().select(narrow), extra)


def _describe(value: Any) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"{value[0]!r} vs {value[1]!r}"
    return repr(value)


@dataclass(slots=True)
class SuiteOutcome:
    """What the suites found: quarantine rows, failure counts by reason, table-level failures, rejected keys."""

    rejects: list[dict[str, Any]] = field(default_factory=list)
    failed: dict[str, int] = field(default_factory=dict)
    table_failures: list[str] = field(default_factory=list)
    bad_keys: dict[str, set[Any]] = field(default_factory=lambda: {t.name: set() for t in VALIDATED})

    def count(self, reason: str) -> None:
        self.failed[reason] = self.failed.get(reason, 0) + 1


@dataclass(frozen=True, slots=True)
class RowContext:
    """Lookups that turn a rejected key into a quarantine row: its document's source and the run."""

    tables: dict[str, pa.Table]
    run_id: str
    source_by_doc: dict[Any, Any]
    parents: dict[str, dict[Any, Any]]

    def source_uri(self, table: Table, key: Any) -> str:
        doc_id = self.parents.get(table.name, {}).get(key, key)
        uri = self.source_by_doc.get(doc_id) or (key if table is DUPLICATES else None)
        return uri or str(key)


def _column_by_key(data: pa.Table, key: str, column: str) -> dict[Any, Any]:
    return dict(zip(data.column(key).to_pylist(), data.column(column).to_pylist(), strict=True))


def _row_context(tables: dict[str, pa.Table]) -> RowContext:
    docs = tables[DOCUMENTS.name]
    run_id = docs.column("run_id")[0].as_py() if docs.num_rows else "no-run-id"
    parents = {t.name: _column_by_key(tables[t.name], t.key[0], "doc_id") for t in CHILDREN}
    return RowContext(tables, run_id, _column_by_key(docs, "doc_id", "source_uri"), parents)


def _record_table_failure(res: Any, outcome: SuiteOutcome, cfg: ValidateConfig) -> None:
    reason = (res.expectation_config.meta or {}).get("reason", "validate.unknown")
    observed = res.result.get("observed_value", res.result.get("unexpected_percent"))
    examples = (res.result.get("partial_unexpected_list") or [])[: cfg.max_examples]
    outcome.table_failures.append(
        f"{reason} ({res.expectation_config.type}, observed {observed!r}, examples {examples})"
    )
    outcome.count(reason)


def _record_row_failures(res: Any, batch: Batch, rows: RowContext, outcome: SuiteOutcome) -> None:
    """One quarantine row per row the expectation rejected, quoting the offending value."""
    table, key, config = batch.table, batch.table.key[0], res.expectation_config
    meta = config.meta or {}
    reason, on = meta.get("reason", "validate.unknown"), meta.get("on")
    items = res.result.get("unexpected_index_list") or []
    values = res.result.get("unexpected_list") or [None] * len(items)
    # A derived check column holds True/False: quote the declared column's value instead.
    derived = on and on != config.kwargs.get("column", on)
    shown = _column_by_key(rows.tables[table.name], key, on) if derived else {}
    args = ", ".join(f"{a}={v!r}" for a, v in config.kwargs.items() if a not in ("column", "batch_id"))
    for item, value in zip(items, values, strict=False):
        k = item.get(key)
        outcome.bad_keys[table.name].add(k)
        outcome.count(reason)
        message = f"{reason}: {config.type}({args}) rejected {_describe(shown.get(k, value))}"
        outcome.rejects.append(quarantine_row(rows.source_uri(table, k), STAGE, reason, message, rows.run_id))


def run_suites(
    batches: list[Batch], rows: RowContext, warehouse: Path | None, run_time: datetime | None, cfg: ValidateConfig
) -> SuiteOutcome:
    """Run every batch's suite under one GX run id; sort failures into table-level ones and rejected rows."""
    outcome = SuiteOutcome()
    if not batches:
        return outcome
    gx = load_gx()
    context = gx_context(gx, warehouse)
    gx_run = gx_run_id(gx, rows.run_id, run_time)
    for batch in batches:
        for res in run_suite(gx, context, batch, gx_run, warehouse is not None):
            if res.success:
                continue
            meta = res.expectation_config.meta or {}
            if res.exception_info and res.exception_info.get("raised_exception"):
                reason = meta.get("reason", "validate.unknown")
                raise RuntimeError(f"{reason}: GX error {res.exception_info.get('exception_message')}")
            if meta.get("level") == "table":
                _record_table_failure(res, outcome, cfg)
            else:
                _record_row_failures(res, batch, rows, outcome)
    return outcome


def _without_rejected(given: dict[str, Rows], bad_keys: dict[str, set[Any]], out: Path | None) -> dict[str, Rows]:
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
        clean[table.name] = filter_out(given[table.name], drop, Path(out) / name if out else None, written)
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
) -> StageResult:
    """Drop rows that fail row-level expectations into quarantine; raise if a table-level one fails.

    Args:
        given: the run's tables (in memory or spills; text columns are read a chunk at a time).
        history: earlier runs' counts and titles (default: none, so history checks are skipped).
        warehouse: where to keep GX results (<warehouse>/_gx) and Data Docs (<warehouse>/_reports/gx);
            None validates in memory only.
        out: folder for the spills of documents and mentions without the rejected documents.
        run_time: when the validation ran (timezone-aware), GX's run_time for the stored results; default: now.
    """
    history = history or ValidationHistory()
    tables = {t.name: narrow_table(given[t.name], t, history, cfg) for t in VALIDATED}
    n_other = sum(given[n].num_rows for n in ("duplicates", "quarantine") if n in given)
    batches = [
        b
        for table in VALIDATED
        for b in table_batches(tables[table.name], table, n_other, history, cfg)
        if b.frame.num_rows or any(e.derive == "recent_row_counts" for e in b.expectations)
    ]
    outcome = run_suites(batches, _row_context(tables), warehouse, run_time, cfg)
    stats: dict[str, Any] = {"failed_expectations": sorted(outcome.failed), "report": _report(warehouse)}
    if outcome.table_failures:
        failures = "; ".join(outcome.table_failures)[:2000]
        raise TableExpectationFailed(f"table expectations failed: {failures} (report: {stats['report']})", stats)
    clean = _without_rejected(given, outcome.bad_keys, out)
    stats.update(
        {"documents_rejected": len(outcome.bad_keys[DOCUMENTS.name]), "rows_quarantined": len(outcome.rejects)}
    )
    for row in outcome.rejects:
        stats[f"quarantined.{row['reason']}"] = stats.get(f"quarantined.{row['reason']}", 0) + 1
    # Conservation is over documents: a rejected child row (a project, a contact) leaves its document published.
    outputs = {name: rows for name, rows in clean.items() if name != DOCUMENTS.name}
    result = StageResult(clean[DOCUMENTS.name], quarantine_table(outcome.rejects), stats, outputs=outputs)
    result.stats["in"] = tables[DOCUMENTS.name].num_rows
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


def load_history(warehouse: Path, cfg: ValidateConfig) -> ValidationHistory:
    """Recent succeeded runs' published document counts and the published (doc_id, site, title)."""
    runs = read_current(warehouse, RUNS, ["started_at", "status", "n_new", "n_updated"])
    runs = runs.filter(pc.equal(runs["status"], "succeeded")).sort_by([("started_at", "descending")])
    counts = pc.add(runs["n_new"], runs["n_updated"]).to_pylist()[: cfg.max_history_runs]
    titles = read_current(warehouse, DOCUMENTS, ["doc_id", "site", "title"])
    return ValidationHistory(tuple(counts), titles)


@task(name="validate", cache_policy=NO_CACHE)
def validate_tables_task(
    tables: dict[str, Rows], cfg: ValidateConfig, warehouse: Path | None = None, out: Path | None = None
) -> StageResult:
    now = datetime.now(UTC)
    if warehouse is None:
        return validate_tables(tables, cfg, out=out, run_time=now)
    return validate_tables(tables, cfg, load_history(Path(warehouse), cfg), Path(warehouse), out, now)
