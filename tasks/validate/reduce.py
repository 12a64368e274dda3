"""The night-wide half of validate, once per night after the shards: uniqueness of each table's key (an Arrow
group-by on the keys' 64-bit hashes from the shards' checks parts, the keys of repeated hashes read back and
compared), the table-level suites (site null share, repeated titles from hashes of doc_id and of site + title,
row count) in GX on a frame of markers keyed by an int32 row index, the Data Docs summaries under each suite's
name, and the quarantine rows in today's order. Held whole: ~20 bytes a document, ~8 a project or contact row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas import DOCUMENTS, DUPLICATES, Expect, Table
from tasks._spill import Rows, Spill
from tasks._stage import quarantine_row
from tasks.validate.config import ValidateConfig, ValidationHistory
from tasks.validate.derived import DERIVED_COLUMNS, KEY_HASH, PAIR_HASH, PAIR_NULL
from tasks.validate.shards import (
    BY_NAME,
    CHECKS,
    HAS_SITE,
    HAS_URL,
    REJECT_SCHEMA,
    REJECTS,
    STAGE,
    UNIQUE,
    VALIDATED,
    table_failure,
)
from tasks.validate.suites import (
    NIGHT_RESULT_FORMAT,
    ROW,
    Batch,
    build_docs,
    frame_checker,
    gx_context,
    gx_run_id,
    is_list_column,
    load_gx,
    run_suite,
    table_batches,
)

SUMMARY_KEY, SUMMARY_COLUMN = "expectation", "n_rejected"


def _parts(out: Path, kind: str, table: Table, columns: list[str] | None = None) -> tuple[pa.Table, list[int]]:
    """A kind of part files of one table, in shard order, and each part's row count."""
    files = _files(out, kind, table)
    parts = [pq.read_table(f, columns=columns) for f in files]
    return pa.concat_tables(parts) if parts else None, [p.num_rows for p in parts]


def _files(out: Path, kind: str, table: Table) -> list[Path]:
    return sorted((Path(out) / kind / table.name).glob("part-*.parquet"))


def unique_rejects(out: Path, table: Table, shard_ids: list[int]) -> list[dict[str, Any]]:
    """A reject for every row whose key another row of the night also has (GX's ExpectColumnValuesToBeUnique).
    Held whole: the keys' 64-bit hashes (8 bytes a row, sorted by numpy); the keys themselves are read back only
    for the rows whose hash repeats, and compared exactly (a hash collision rejects nothing; null keys are not
    repeats, as in Arrow's count)."""
    (declared, expect), key = _unique_expectation(table), table.key[0]
    hashes, sizes = _parts(out, CHECKS, table, [KEY_HASH])
    if expect is None or hashes is None or not hashes.num_rows:
        return []
    values = pc.fill_null(hashes.column(KEY_HASH), 0).to_numpy()  # null keys: candidates, settled below
    del hashes
    ordered = np.sort(values)
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    if not len(repeated):
        return []
    rows = np.flatnonzero(np.isin(values, repeated))
    del values
    starts = np.concatenate([[0], np.cumsum(sizes)])
    part = np.searchsorted(starts, rows, side="right") - 1
    values = _keys_at(_files(out, CHECKS, table), key, rows - starts[part], part)
    found = pa.table({key: values}).group_by(key).aggregate([(key, "count")])
    exact = found.filter(pc.greater(found[f"{key}_count"], 1)).column(key)
    is_repeated = pc.fill_null(pc.is_in(values, exact), False).to_pylist()
    reason = expect.reason(table.name)
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
        for r, p, value, hit in zip(rows.tolist(), part.tolist(), values.to_pylist(), is_repeated, strict=True)
        if hit
    ]


def _keys_at(files: list[Path], key: str, local: np.ndarray, part: np.ndarray) -> pa.Array:
    """The `key` values at rows `local` of part files `part` (rows in part order), reading one part at a time."""
    taken = [
        pq.read_table(files[p], columns=[key]).column(key).take(pa.array(local[part == p]))
        for p in np.unique(part).tolist()
    ]
    return pa.chunked_array(taken).combine_chunks()


def _unique_expectation(table: Table) -> tuple[int, Expect | None]:
    found = [(i, e) for i, e in enumerate(table.expectations()) if e.gx_type == UNIQUE]
    return found[0] if found else (-1, None)


def shard_rejects(out: Path) -> pa.Table:
    """Every shard's rejects."""
    parts = [pq.read_table(f) for t in VALIDATED for f in sorted((Path(out) / REJECTS / t.name).glob("*.parquet"))]
    return pa.concat_tables(parts) if parts else REJECT_SCHEMA.empty_table()


def table_level_batches(out: Path, n_other: int, history: ValidationHistory, cfg: ValidateConfig) -> list[Batch]:
    """Documents' table-level suite on markers: an int32 row index as key, `url`/`site` set or null, the
    repeated-title flag (from the hashes of doc_id and of site and title, tonight's and published)."""
    expects = [e for e in DOCUMENTS.expectations() if e.level == "table"]
    columns = [KEY_HASH, HAS_URL, HAS_SITE, PAIR_HASH, PAIR_NULL]
    checks, _ = _parts(out, CHECKS, DOCUMENTS, columns)
    if checks is None:
        types = (pa.uint64(), pa.bool_(), pa.bool_(), pa.uint64(), pa.bool_())
        checks = pa.schema(list(zip(columns, types, strict=True))).empty_table()
    repeated = next(e for e in expects if e.derive == "repeated_in_site")
    flags = DERIVED_COLUMNS[repeated.derive](checks, repeated.on, history, cfg)
    marker, unset = pa.scalar("y"), pa.scalar(None, pa.string())
    frame = pa.table(
        {
            ROW: pa.array(np.arange(checks.num_rows, dtype=np.int32)),
            "url": pc.if_else(checks.column(HAS_URL), marker, unset),
            "site": pc.if_else(checks.column(HAS_SITE), marker, unset),
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
    results = (
        [(b, frame_checker().validate_once(b, NIGHT_RESULT_FORMAT)) for b in batches]
        if warehouse is None  # nothing to store: the thread's reusable context
        else _run_with_docs(batches, summaries, run_id, warehouse, run_time)
    )
    for batch, found in results:
        for res in found:
            meta = res.expectation_config.meta or {}
            if res.exception_info and res.exception_info.get("raised_exception"):
                raise RuntimeError(f"{meta.get('reason')}: GX error {res.exception_info.get('exception_message')}")
            if not res.success and batch in batches:
                failures.append(table_failure(res, cfg))
                failed[meta["reason"]] = failed.get(meta["reason"], 0) + 1
    return failures, failed


def _run_with_docs(
    batches: list[Batch], summaries: list[Batch], run_id: str, warehouse: Path, run_time: Any
) -> list[tuple[Batch, list[Any]]]:
    """Every batch through a checkpoint of the warehouse's file context (results stored), then their Data Docs."""
    gx = load_gx()
    context = gx_context(gx, warehouse)
    gx_run = gx_run_id(gx, run_id, run_time)
    runs = [(b, run_suite(gx, context, b, gx_run)) for b in (*batches, *summaries)]
    build_docs(context, [identifier for _, (identifier, _) in runs])
    return [(b, results) for b, (_, results) in runs]


def quarantine_rows(rejects: pa.Table, documents: Rows, run_id: str, batch_rows: int) -> list[dict[str, Any]]:
    """The rejects in today's order (table, suite, expectation, row), each named by its document's source
    (documents' ids read `batch_rows` at a time)."""
    ordered = rejects.sort_by([(c, "ascending") for c in ("table", "batch", "expectation", "shard", ROW)])
    sources = _sources(documents, set(ordered.column("parent").to_pylist()), batch_rows)
    out = []
    for r in ordered.to_pylist():
        table = VALIDATED[r["table"]]
        uri = sources.get(r["parent"]) or (r["key"] if table is DUPLICATES else None) or str(r["key"])
        out.append(quarantine_row(uri, STAGE, r["reason"], r["message"], run_id))
    return out


def _sources(documents: Rows, wanted: set[Any], batch_rows: int) -> dict[Any, Any]:
    """source_uri of the wanted documents (the last row of a repeated doc_id, as a dict built over all rows)."""
    found: dict[Any, Any] = {}
    if not wanted:
        return found
    values = pa.array(sorted(v for v in wanted if v is not None), pa.string())
    for part in _column_batches(documents, ["doc_id", "source_uri"], batch_rows):
        hit = part.filter(pc.fill_null(pc.is_in(part.column("doc_id"), values), False))
        found.update(zip(hit.column("doc_id").to_pylist(), hit.column("source_uri").to_pylist(), strict=True))
    return found


def _column_batches(rows: Rows, columns: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The rows' `columns`, `batch_rows` at a time (not reported as progress: the shards were)."""
    if isinstance(rows, Spill):
        yield from rows.batches(batch_rows, columns)
    else:
        yield from rows.select(columns).to_batches(max_chunksize=batch_rows)


def first_run_id(documents: Rows, batch_rows: int) -> str:
    """The night's run id, as the first document carries it."""
    for part in _column_batches(documents, ["run_id"], batch_rows):
        if part.num_rows:
            return part.column("run_id")[0].as_py()
    return "no-run-id"
