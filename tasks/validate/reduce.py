"""The night-wide half of validate, once per night after the shards: uniqueness of each table's key (an Arrow
group-by on the key column of the shards' checks parts: ~32 bytes a row, the one per-row structure held whole),
the table-level suites (site null share, repeated titles, row count) in GX on a frame of markers keyed by an
int32 row index, the Data Docs summaries under each suite's name, and the quarantine rows in today's order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas import DOCUMENTS, DUPLICATES, Expect, Table
from tasks._spill import CHUNK_ROWS, Rows, Spill
from tasks._stage import quarantine_row
from tasks.validate.config import ValidateConfig, ValidationHistory
from tasks.validate.derived import DERIVED_COLUMNS
from tasks.validate.shards import (
    BY_NAME,
    CHECKS,
    HAS_URL,
    REJECT_SCHEMA,
    REJECTS,
    STAGE,
    UNIQUE,
    VALIDATED,
    table_failure,
)
from tasks.validate.suites import ROW, Batch, gx_context, gx_run_id, is_list_column, load_gx, run_suite, table_batches

SUMMARY_KEY, SUMMARY_COLUMN = "expectation", "n_rejected"


def _parts(out: Path, kind: str, table: Table, columns: list[str] | None = None) -> tuple[pa.Table, list[int]]:
    """A kind of part files of one table, in shard order, and each part's row count."""
    files = sorted((Path(out) / kind / table.name).glob("part-*.parquet"))
    parts = [pq.read_table(f, columns=columns) for f in files]
    return pa.concat_tables(parts) if parts else None, [p.num_rows for p in parts]


def unique_rejects(out: Path, table: Table, shard_ids: list[int]) -> list[dict[str, Any]]:
    """A reject for every row whose key another row of the night also has (GX's ExpectColumnValuesToBeUnique)."""
    (declared, expect), key = _unique_expectation(table), table.key[0]
    checks, sizes = _parts(out, CHECKS, table, [key])
    if expect is None or checks is None or not checks.num_rows:
        return []
    counts = checks.group_by(key).aggregate([(key, "count")])
    repeated = counts.filter(pc.greater(counts[f"{key}_count"], 1)).column(key)
    if not len(repeated):
        return []
    rows = pc.indices_nonzero(pc.fill_null(pc.is_in(checks.column(key), repeated), False)).to_numpy()
    starts = np.concatenate([[0], np.cumsum(sizes)])
    part = np.searchsorted(starts, rows, side="right") - 1
    reason = expect.reason(table.name)
    values = checks.column(key).take(pa.array(rows)).to_pylist()
    return [
        {
            "table": VALIDATED.index(table),
            "batch": 0,
            "expectation": declared,
            "shard": shard_ids[p],
            ROW: int(r - starts[p]),
            "key": value,
            "parent": value,
            "reason": reason,
            "message": f"{reason}: expect_column_values_to_be_unique() rejected {value!r}",
        }
        for r, p, value in zip(rows.tolist(), part.tolist(), values, strict=True)
    ]


def _unique_expectation(table: Table) -> tuple[int, Expect | None]:
    found = [(i, e) for i, e in enumerate(table.expectations()) if e.gx_type == UNIQUE]
    return found[0] if found else (-1, None)


def shard_rejects(out: Path) -> pa.Table:
    """Every shard's rejects."""
    parts = [pq.read_table(f) for t in VALIDATED for f in sorted((Path(out) / REJECTS / t.name).glob("*.parquet"))]
    return pa.concat_tables(parts) if parts else REJECT_SCHEMA.empty_table()


def table_level_batches(out: Path, n_other: int, history: ValidationHistory, cfg: ValidateConfig) -> list[Batch]:
    """Documents' table-level suite on markers: an int32 row index as key, `url`/`site` set or null, the
    repeated-title flag (from site and title of tonight's and published documents)."""
    expects = [e for e in DOCUMENTS.expectations() if e.level == "table"]
    checks, _ = _parts(out, CHECKS, DOCUMENTS)
    if checks is None:
        checks = pa.table({c: pa.array([], pa.string()) for c in ("doc_id", "site", "title")})
        checks = checks.append_column(HAS_URL, pa.array([], pa.bool_()))
    repeated = next(e for e in expects if e.derive == "repeated_in_site")
    flags = DERIVED_COLUMNS[repeated.derive](checks, repeated.on, history, cfg)
    marker = pa.scalar("y")
    frame = pa.table(
        {
            ROW: pa.array(np.arange(checks.num_rows, dtype=np.int32)),
            "url": pc.if_else(checks.column(HAS_URL), marker, pa.scalar(None, pa.string())),
            "site": pc.if_else(pc.is_valid(checks.column("site")), marker, pa.scalar(None, pa.string())),
            repeated.kwargs["column"]: flags,
        }
    )
    batches = table_batches(frame, DOCUMENTS, n_other, history, cfg, expects, key=ROW)
    for batch in batches:
        batch.name = f"{DOCUMENTS.name}.table"
    return [b for b in batches if b.frame.num_rows or any(e.derive == "recent_row_counts" for e in b.expectations)]


def summary_batches(failed: dict[str, int]) -> list[Batch]:
    """Data Docs of the row-level suites (run per shard): under each of today's suite names, one row per
    expectation with the rows it rejected tonight, expected to be 0."""
    rows: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for table in VALIDATED:
        for expect in table.expectations():
            if expect.level != "row":
                continue
            name = f"{table.name}.{expect.column}" if is_list_column(table, expect.column) else table.name
            reason = expect.reason(table.name)
            rows.setdefault((table.name, name), []).append((reason, failed.get(reason, 0)))
    check = Expect("ExpectColumnValuesToBeBetween", {"column": SUMMARY_COLUMN, "min_value": 0, "max_value": 0})
    return [
        Batch(
            name,
            BY_NAME[table],
            pa.table({SUMMARY_KEY: [r for r, _ in found], SUMMARY_COLUMN: pa.array([n for _, n in found], pa.int64())}),
            [check],
            SUMMARY_KEY,
        )
        for (table, name), found in rows.items()
    ]


def run_reduce_suites(
    batches: list[Batch],
    summaries: list[Batch],
    run_id: str,
    warehouse: Path | None,
    run_time: Any,
    cfg: ValidateConfig,
) -> tuple[list[str], dict[str, int]]:
    """Table-level failures (lines for the error, counts by reason); summaries are run for the Data Docs only."""
    failures: list[str] = []
    failed: dict[str, int] = {}
    if not batches and warehouse is None:
        return failures, failed
    gx = load_gx()
    context = gx_context(gx, warehouse)
    gx_run = gx_run_id(gx, run_id, run_time)
    for batch in (*batches, *(summaries if warehouse is not None else ())):
        for res in run_suite(gx, context, batch, gx_run, warehouse is not None):
            meta = res.expectation_config.meta or {}
            if res.exception_info and res.exception_info.get("raised_exception"):
                raise RuntimeError(f"{meta.get('reason')}: GX error {res.exception_info.get('exception_message')}")
            if not res.success and batch in batches:
                failures.append(table_failure(res, cfg))
                failed[meta["reason"]] = failed.get(meta["reason"], 0) + 1
    return failures, failed


def quarantine_rows(rejects: pa.Table, documents: Rows, run_id: str) -> list[dict[str, Any]]:
    """The rejects in today's order (table, suite, expectation, row), each named by its document's source."""
    ordered = rejects.sort_by([(c, "ascending") for c in ("table", "batch", "expectation", "shard", ROW)])
    sources = _sources(documents, set(ordered.column("parent").to_pylist()))
    out = []
    for r in ordered.to_pylist():
        table = VALIDATED[r["table"]]
        uri = sources.get(r["parent"]) or (r["key"] if table is DUPLICATES else None) or str(r["key"])
        out.append(quarantine_row(uri, STAGE, r["reason"], r["message"], run_id))
    return out


def _sources(documents: Rows, wanted: set[Any]) -> dict[Any, Any]:
    """source_uri of the wanted documents (the last row of a repeated doc_id, as a dict built over all rows)."""
    found: dict[Any, Any] = {}
    if not wanted:
        return found
    values = pa.array(sorted(v for v in wanted if v is not None), pa.string())
    for part in _column_batches(documents, ["doc_id", "source_uri"]):
        hit = part.filter(pc.fill_null(pc.is_in(part.column("doc_id"), values), False))
        found.update(zip(hit.column("doc_id").to_pylist(), hit.column("source_uri").to_pylist(), strict=True))
    return found


def _column_batches(rows: Rows, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """The rows' `columns` a chunk at a time (not reported as progress: the shards were)."""
    if isinstance(rows, Spill):
        yield from rows.batches(CHUNK_ROWS, columns)
    else:
        yield from rows.select(columns).to_batches(max_chunksize=CHUNK_ROWS)


def first_run_id(documents: Rows) -> str:
    """The night's run id, as the first document carries it."""
    for part in _column_batches(documents, ["run_id"]):
        if part.num_rows:
            return part.column("run_id")[0].as_py()
    return "no-run-id"
