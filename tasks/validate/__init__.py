"""Gate before publish: run each table's Great Expectations suite (declared in schemas/) on the real rows.

In: the tables about to be published (documents, projects, contacts, duplicates; `quarantine` only counts).
Out: the same tables without the offending rows. Quarantines: validate.<table>.<column>.<check> for each row a
row-level expectation rejects, message = expectation + offending value (a rejected document takes its projects
and contacts rows with it). Table-level expectations (null shares with `mostly`, column types, row count against
recent runs) raise TableExpectationFailed: nothing of the run is published. State: none; history is an input.

Suites: one per published table, plus one per list column with expectations (exploded to a child frame
`<table>.<column>`, key = parent key). GX sees slim frames: key + checked scalar columns + derived check
columns, never the page text (text columns an expectation reads are cut to their first 80 characters; the
row-level derived columns are computed from the texts a chunk at a time, so a spilled night is never whole in
memory). Derived inputs (registry DERIVED):
- `template_line`: the title is a line of raw_text (its first `max_template_chars`) that is not in the body,
  i.e. a line the boilerplate stage stripped from that very page (a nav line picked as title) — unless the page
  vouches for it (title_source url_slug or heading: "Press Releases" titling a listing page).
- `repeated_in_site`: the title is the title of `min_docs_repeated_title`+ distinct documents of one site,
  counting this batch and published documents; table-level with `mostly` (listing pages repeat a title; most
  titles repeating means a scraper or template change).
- `recent_row_counts`: documents (= new + updated tonight) ≥ `min_row_share_of_recent` × median of the last
  `max_history_runs` succeeded runs' n_new + n_updated. Skipped while fewer than `min_history_runs` runs exist,
  and on a night that brought nothing (no documents, duplicates or quarantine rows: a no-op rerun).
`mostly` checks are skipped on batches under `min_rows_for_share` rows (a share of 3 rows says nothing). An
expectation with `where` (schemas/_table.py) checks only the rows where that column is set (GX row_condition):
the null share of documents.site is measured over pages with a URL, so a dump without URLs passes and a site
lost on pages that have one still fails the night.

With a warehouse, GX uses a file context in <warehouse>/_gx (results accumulate) and builds Data Docs into
<warehouse>/_reports/gx/index.html; stats["report"] is that path, stats["failed_expectations"] the failed
expectations' reason codes (also on TableExpectationFailed.stats). GX files a run's results under the run name
`docpipe-<run id>` (GX reads a bare run id as a date: reports.py) and the validation's run_time, given explicitly.

Modules: config (settings, history, the stopping error), derived (derived check columns), reports (GX run names, offline
index of the Data Docs); this file builds the suites, runs GX and holds the stage and its task.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas import CONTACTS, DOCUMENTS, DUPLICATES, MENTIONS, PROJECTS, RUNS, Expect, Table
from tasks._spill import Rows, chunks, filter_out, read_columns
from tasks._stage import StageResult, quarantine_row, quarantine_table, with_columns
from tasks._warehouse import read_current
from tasks.validate.config import TableExpectationFailed, ValidateConfig, ValidationHistory
from tasks.validate.derived import DERIVED_COLUMNS, ROW_DERIVED, _recent_row_counts
from tasks.validate.reports import add_offline_index, gx_run_name

if TYPE_CHECKING:
    from great_expectations.core.run_identifier import RunIdentifier

STAGE = "validate"
VALIDATED: tuple[Table, ...] = (DOCUMENTS, PROJECTS, CONTACTS, DUPLICATES)
_CHILDREN = (PROJECTS, CONTACTS)
SITE_NAME = "docpipe"
GX_DIR, REPORTS_DIR = "_gx", "_reports/gx"
# Pandas dtype GX observes for each Arrow type in a slim frame (ints use nullable pandas dtypes, see _to_pandas).
_PANDAS_TYPE = {pa.string(): "str", pa.int32(): "int32", pa.int64(): "int64", pa.float64(): "float64"}
_PANDAS_INTS = {pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype()}


@dataclass(slots=True)
class _Batch:
    """One suite run: a slim frame of one table (or of one exploded list column)."""

    name: str
    table: Table
    frame: pa.Table
    expectations: list[Expect]


def _gx():
    import great_expectations as gx  # imported on first use: it takes ~2 s

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    return gx


def _context(gx, warehouse: Path | None):
    """Ephemeral context, or the warehouse's file context with its Data Docs site (results accumulate)."""
    if warehouse is None:
        context = gx.get_context(mode="ephemeral")
    else:
        context = gx.get_context(mode="file", project_root_dir=str(Path(warehouse) / GX_DIR))
        site = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(Path(warehouse) / REPORTS_DIR),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
        if SITE_NAME in context.get_site_names():
            context.update_data_docs_site(SITE_NAME, site)
        else:
            context.add_data_docs_site(SITE_NAME, site)
    context.variables.progress_bars = gx.data_context.types.base.ProgressBarsConfig(globally=False)
    return context


# -- suites and frames ----------------------------------------------------------------------------------------


def _is_list(table: Table, column: str) -> bool:
    return column in table.column_names and pa.types.is_list(table.column(column).type)


def _batches(data: pa.Table, table: Table, n_other: int, history: ValidationHistory, cfg: ValidateConfig):
    """The table's slim frame with its expectations, plus one child frame per checked list column."""
    key = table.key[0]
    main: list[Expect] = []
    columns: dict[str, pa.Array] = {key: data.column(key)}
    children: dict[str, list[Expect]] = {}
    for expect in table.expectations():
        if expect.derive == "recent_row_counts":
            bounds = _recent_row_counts(data, n_other, history, cfg)
            if bounds is not None:
                main.append(Expect(expect.gx_type, bounds, expect.level, expect.check, description=expect.description))
            continue
        if "mostly" in expect.kwargs and _rows_checked(data, expect) < cfg.min_rows_for_share:
            continue
        if expect.where:
            columns[expect.where] = data.column(expect.where)
        if expect.derive:
            name = expect.kwargs["column"]
            derived = data.column(name) if name in data.column_names else None  # computed by _narrow already
            columns[name] = (
                derived if derived is not None else DERIVED_COLUMNS[expect.derive](data, expect.on, history, cfg)
            )
            main.append(expect)
            continue
        if _is_list(table, expect.column):
            children.setdefault(expect.column, []).append(expect)
            continue
        for name in (expect.kwargs.get(k) for k in ("column", "column_A", "column_B")):
            if name and name not in columns:
                columns[name] = data.column(name)
        main.append(expect)
    for name in columns:  # types of the declared scalar columns GX reads
        if name in table.column_names and table.column(name).type in _PANDAS_TYPE:
            type_name = _PANDAS_TYPE[table.column(name).type]
            main.append(Expect("ExpectColumnValuesToBeOfType", {"column": name, "type_": type_name}, "table", "type"))
    out = [_Batch(table.name, table, pa.table(columns), main)]
    for name, expects in children.items():
        parents = pc.list_parent_indices(data.column(name))
        child = pa.table({key: pc.take(data.column(key), parents), name: pc.list_flatten(data.column(name))})
        out.append(_Batch(f"{table.name}.{name}", table, child, expects))
    return out


def _rows_checked(data: pa.Table, expect: Expect) -> int:
    """Rows the expectation looks at: all, or those with its `where` column set."""
    return data.num_rows - (data.column(expect.where).null_count if expect.where else 0)


def _to_pandas(frame: pa.Table) -> pd.DataFrame:
    # Nullable ints keep their type when null (plain to_pandas turns them into float64); floats stay NaN-based.
    return frame.to_pandas(types_mapper=lambda t: _PANDAS_INTS.get(t))


def _suite(gx, batch: _Batch):
    # Expectations go in through the constructor: add_expectation() re-serialises a stored suite each time.
    expectations = []
    for expect in batch.expectations:
        kwargs = {k: v for k, v in expect.kwargs.items() if v is not None or k in ("min_value", "max_value")}
        if expect.where:  # pandas query syntax (GX's "pandas" condition parser)
            kwargs.update(row_condition=f"{expect.where}.notna()", condition_parser="pandas")
        expectations.append(
            getattr(gx.expectations, expect.gx_type)(
                **kwargs,
                description=expect.description or None,
                meta={"reason": expect.reason(batch.table.name), "level": expect.level, "on": expect.column},
            )
        )
    return gx.ExpectationSuite(name=batch.name, expectations=expectations)


def _run_suite(gx, context, batch: _Batch, run_id: RunIdentifier, with_docs: bool):
    """Validate one slim frame through a Checkpoint (which stores the result and updates the Data Docs) under
    `run_id`."""
    key = batch.table.key[0]
    source = context.data_sources.add_or_update_pandas(name="docpipe")
    asset = source.add_dataframe_asset(name=batch.name)
    definition = asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add_or_update(_suite(gx, batch))
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=batch.name, data=definition, suite=suite)
    )
    actions = [gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=[SITE_NAME])] if with_docs else []
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=batch.name,
            validation_definitions=[validation],
            actions=actions,
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [key]},
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": _to_pandas(batch.frame)}, run_id=run_id)
    (suite_result,) = result.run_results.values()
    return suite_result.results


def _gx_run_id(gx, run_id: str, run_time: datetime | None) -> RunIdentifier:
    """GX's id of this validation run: an explicit aware run_time, so GX never guesses one from the name, and a
    run name no date parser reads (see `gx_run_name`)."""
    if run_time is not None and run_time.utcoffset() is None:
        raise ValueError(f"run_time must be timezone-aware, not {run_time!r}")
    return gx.RunIdentifier(run_name=gx_run_name(run_id), run_time=run_time or datetime.now(UTC))


def _describe(value: Any) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"{value[0]!r} vs {value[1]!r}"
    return repr(value)


# -- the stage --------------------------------------------------------------------------------------------------

TEXT_HEAD_CHARS = 80  # what a frame keeps of a text column an expectation reads (its nulls, a quotable head)
# Read by the stage itself besides the checked columns: run id, messages (source_uri), parents, repeated titles.
_BOOKKEEPING = ("doc_id", "source_uri", "run_id", "site", "title")


def _narrow(rows: Rows, table: Table, history: ValidationHistory, cfg: ValidateConfig) -> pa.Table:
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
    tables = {t.name: _narrow(given[t.name], t, history, cfg) for t in VALIDATED}
    docs = tables["documents"]
    run_id = docs.column("run_id")[0].as_py() if docs.num_rows else "no-run-id"
    n_other = sum(given[n].num_rows for n in ("duplicates", "quarantine") if n in given)
    batches = [
        b
        for table in VALIDATED
        for b in _batches(tables[table.name], table, n_other, history, cfg)
        if b.frame.num_rows or any(e.derive == "recent_row_counts" for e in b.expectations)
    ]
    source_by_doc = dict(zip(docs.column("doc_id").to_pylist(), docs.column("source_uri").to_pylist(), strict=False))
    rejects: list[dict[str, Any]] = []
    failed: dict[str, int] = {}
    table_failures: list[str] = []
    bad_keys: dict[str, set[Any]] = {t.name: set() for t in VALIDATED}
    parents = {t.name: _column_by_key(tables[t.name], t.key[0], "doc_id") for t in _CHILDREN}
    if batches:
        gx = _gx()
        context = _context(gx, warehouse)
        gx_run = _gx_run_id(gx, run_id, run_time)
        for batch in batches:
            table, key = batch.table, batch.table.key[0]
            for res in _run_suite(gx, context, batch, gx_run, warehouse is not None):
                if res.success:
                    continue
                meta, config = res.expectation_config.meta or {}, res.expectation_config
                reason, on = meta.get("reason", "validate.unknown"), meta.get("on")
                if res.exception_info and res.exception_info.get("raised_exception"):
                    raise RuntimeError(f"{reason}: GX error {res.exception_info.get('exception_message')}")
                if meta.get("level") == "table":
                    observed = res.result.get("observed_value", res.result.get("unexpected_percent"))
                    examples = (res.result.get("partial_unexpected_list") or [])[: cfg.max_examples]
                    table_failures.append(f"{reason} ({config.type}, observed {observed!r}, examples {examples})")
                    failed[reason] = failed.get(reason, 0) + 1
                    continue
                items = res.result.get("unexpected_index_list") or []
                values = res.result.get("unexpected_list") or [None] * len(items)
                derived = on and on != config.kwargs.get("column", on)
                # A derived check column holds True/False: quote the declared column's value instead.
                shown = _column_by_key(tables[table.name], key, on) if derived else {}
                for item, value in zip(items, values, strict=False):
                    k = item.get(key)
                    bad_keys[table.name].add(k)
                    failed[reason] = failed.get(reason, 0) + 1
                    uri = source_by_doc.get(parents.get(table.name, {}).get(k, k)) or (
                        k if table is DUPLICATES else None
                    )
                    args = ", ".join(f"{a}={v!r}" for a, v in config.kwargs.items() if a not in ("column", "batch_id"))
                    message = f"{reason}: {config.type}({args}) rejected {_describe(shown.get(k, value))}"
                    rejects.append(quarantine_row(uri or str(k), STAGE, reason, message, run_id))
    report = Path(warehouse) / REPORTS_DIR / "index.html" if warehouse is not None else None
    if report is not None and report.exists():
        add_offline_index(report)
    stats: dict[str, Any] = {
        "failed_expectations": sorted(failed),
        "report": str(report) if report is not None and report.exists() else None,
    }
    if table_failures:
        raise TableExpectationFailed(
            "table expectations failed: " + "; ".join(table_failures)[:2000] + f" (report: {stats['report']})", stats
        )
    rejected_docs = bad_keys[DOCUMENTS.name]
    clean: dict[str, Rows] = {}
    for table in (*VALIDATED, MENTIONS):
        if table.name not in given:
            continue
        drop = {table.key[0]: set(bad_keys.get(table.name, ()))}
        if table in (DOCUMENTS, *_CHILDREN, MENTIONS):  # a rejected document takes its child rows with it
            drop["doc_id"] = drop.get("doc_id", set()) | rejected_docs
        name = "kept.parquet" if table is DOCUMENTS else f"outputs/{table.name}.parquet"
        clean[table.name] = filter_out(given[table.name], drop, Path(out) / name if out else None, table)
    stats.update({"documents_rejected": len(rejected_docs), "rows_quarantined": len(rejects)})
    for row in rejects:
        stats[f"quarantined.{row['reason']}"] = stats.get(f"quarantined.{row['reason']}", 0) + 1
    # Conservation is over documents: a rejected child row (a project, a contact) leaves its document published.
    result = StageResult(
        clean["documents"],
        quarantine_table(rejects),
        stats,
        outputs={name: rows for name, rows in clean.items() if name != DOCUMENTS.name},
    )
    result.stats["in"] = docs.num_rows
    return result


def _column_by_key(data: pa.Table, key: str, column: str) -> dict[Any, Any]:
    return dict(zip(data.column(key).to_pylist(), data.column(column).to_pylist(), strict=True))


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


__all__ = [
    "TableExpectationFailed",
    "ValidateConfig",
    "ValidationHistory",
    "add_offline_index",
    "gx_run_name",
    "load_history",
    "validate_tables",
    "validate_tables_task",
]
