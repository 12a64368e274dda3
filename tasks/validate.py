"""Gate before publish: run each table's Great Expectations suite (declared in schemas/) on the real rows.

In: the tables about to be published (documents, projects, contacts, duplicates). Out: the same tables
without the offending rows. Quarantines: validate.<table>.<column>.<check> for each row a row-level
expectation rejects (a rejected document takes its projects and contacts rows with it).
Table-level expectations (e.g. share of nulls with `mostly`) fail the stage: nothing of the run is published.
State: none. GX runs on slim frames (key + checked columns), never on the page text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas import CONTACTS, DOCUMENTS, DUPLICATES, PROJECTS, Table
from tasks._stage import StageResult, quarantine_row, quarantine_table

STAGE = "validate"
VALIDATED: tuple[Table, ...] = (DOCUMENTS, PROJECTS, CONTACTS, DUPLICATES)
_CHILDREN = (PROJECTS, CONTACTS)


class TableExpectationFailed(RuntimeError):
    """A table-level expectation failed: the run must not publish."""


@dataclass(frozen=True, slots=True)
class ValidateConfig:
    max_examples: int = 5  # offending values quoted in the error of a failed table expectation


def _gx():
    import great_expectations as gx  # imported on first use: it takes ~2 s

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    return gx


def _gx_context():
    gx = _gx()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = gx.data_context.types.base.ProgressBarsConfig(globally=False)
    return gx, context


def _suite(gx, table: Table):
    suite = gx.ExpectationSuite(name=table.name)
    for expect in table.expectations():
        kwargs = {k: v for k, v in expect.kwargs.items() if v is not None or k in ("min_value", "max_value")}
        suite.add_expectation(
            getattr(gx.expectations, expect.gx_type)(
                **kwargs, meta={"reason": expect.reason(table.name), "level": expect.level}
            )
        )
    return suite


def _slim_frame(data: pa.Table, table: Table):
    """Key columns plus the scalar columns an expectation reads (no list columns, no page text)."""
    wanted = list(table.key)
    for expect in table.expectations():
        for k in ("column", "column_A", "column_B"):
            name = expect.kwargs.get(k)
            if name and name not in wanted and not pa.types.is_list(data.schema.field(name).type):
                wanted.append(name)
    return data.select(wanted).to_pandas()


def _offending_keys(result: dict[str, Any], key: str) -> list[tuple[Any, Any]]:
    """(key, offending value) pairs of a failed row-level expectation (GX COMPLETE result format)."""
    indices = result.get("unexpected_index_list") or []
    values = result.get("unexpected_list") or [None] * len(indices)
    return [(item.get(key), value) for item, value in zip(indices, values, strict=False)]


def validate_table(
    data: pa.Table, table: Table, context_and_gx=None
) -> tuple[set[Any], list[tuple[str, Any, str]], list[str]]:
    """Run `table`'s suite on `data`: (offending keys, [(key, value, reason)], failed table expectations)."""
    if data.num_rows == 0:
        return set(), [], []
    gx, context = context_and_gx or _gx_context()
    key = table.key[0]
    source = context.data_sources.add_or_update_pandas(name=f"docpipe_{table.name}")
    asset = source.add_dataframe_asset(name=table.name)
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
        batch_parameters={"dataframe": _slim_frame(data, table)}
    )
    results = batch.validate(
        _suite(gx, table), result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [key]}
    )
    bad: set[Any] = set()
    offences: list[tuple[str, Any, str]] = []
    table_failures: list[str] = []
    for res in results.results:
        if res.success:
            continue
        meta = res.expectation_config.meta or {}
        if meta.get("level") == "table":
            table_failures.append(f"{meta.get('reason')}: {res.result}")
            continue
        for k, value in _offending_keys(res.result, key):
            bad.add(k)
            offences.append((k, value, meta.get("reason", "validate.unknown")))
    return bad, offences, table_failures


def validate_tables(tables: dict[str, pa.Table], cfg: ValidateConfig) -> StageResult:
    """Drop rows that fail row-level expectations into quarantine; raise if a table-level one fails."""
    ctx = _gx_context()
    docs = tables["documents"]
    source_by_doc = dict(zip(docs.column("doc_id").to_pylist(), docs.column("source_uri").to_pylist(), strict=False))
    run_id = docs.column("run_id")[0].as_py() if docs.num_rows else ""
    clean = dict(tables)
    rejects: list[dict[str, Any]] = []
    failures: list[str] = []
    rejected_docs: set[Any] = set()
    for table in VALIDATED:
        bad, offences, table_failures = validate_table(tables[table.name], table, ctx)
        failures += table_failures
        for key, value, reason in offences:
            uri = source_by_doc.get(key) or (key if table is DUPLICATES else None)
            if table in _CHILDREN:
                row = clean[table.name].filter(pc.equal(clean[table.name].column(table.key[0]), key))
                uri = source_by_doc.get(row.column("doc_id")[0].as_py()) if row.num_rows else uri
            rejects.append(
                quarantine_row(uri or str(key), STAGE, reason, f"{reason}: offending value {value!r}", run_id)
            )
        if bad:
            mask = pc.invert(pc.is_in(clean[table.name].column(table.key[0]), pa.array(list(bad))))
            clean[table.name] = clean[table.name].filter(mask)
        if table is DOCUMENTS:
            rejected_docs = bad
    if failures:
        raise TableExpectationFailed("; ".join(failures)[:2000])
    if rejected_docs:
        for child in _CHILDREN:
            keep = pc.invert(pc.is_in(clean[child.name].column("doc_id"), pa.array(list(rejected_docs))))
            clean[child.name] = clean[child.name].filter(keep)
    stats: dict[str, Any] = {"documents_rejected": len(rejected_docs), "rows_quarantined": len(rejects)}
    for row in rejects:
        stats[f"quarantined.{row['reason']}"] = stats.get(f"quarantined.{row['reason']}", 0) + 1
    # Conservation is over documents: a rejected child row (a project, a contact) leaves its document published.
    result = StageResult(
        clean["documents"],
        quarantine_table(rejects),
        stats,
        outputs={t.name: clean[t.name] for t in VALIDATED if t is not DOCUMENTS},
    )
    result.stats["in"] = docs.num_rows
    return result


@task(name="validate", cache_policy=NO_CACHE)
def validate_tables_task(tables: dict[str, pa.Table], cfg: ValidateConfig) -> StageResult:
    return validate_tables(tables, cfg)
