"""Great Expectations plumbing of validate: slim frames and their suites (from each table's declared
expectations, schemas/), the file context with its Data Docs site and one checkpoint run per frame (the night's
suites), and a thread's reusable ephemeral context validating frames whose results nobody stores (the shards)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from schemas import Expect, Table
from tasks.validate.config import ValidateConfig, ValidationHistory
from tasks.validate.derived import DERIVED_COLUMNS, recent_row_counts
from tasks.validate.reports import gx_run_name

if TYPE_CHECKING:
    from great_expectations.core.run_identifier import RunIdentifier

SITE_NAME = "docpipe"
GX_DIR, REPORTS_DIR = "_gx", "_reports/gx"
# Pandas dtype GX observes for each Arrow type in a slim frame (ints use nullable pandas dtypes, see _to_pandas).
_PANDAS_TYPE = {pa.string(): "str", pa.int32(): "int32", pa.int64(): "int64", pa.float64(): "float64"}
_PANDAS_INTS = {pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype()}
MAX_CACHED_SUITES = 64  # a FrameChecker's suites (a night needs ~10)
ONCE_SOURCE = "docpipe-once"  # a FrameChecker's data source for a frame validated once
ROW = "row"  # a frame's row position (in its shard), reported with each rejected row beside the key


@dataclass(slots=True)
class Batch:
    """One suite run: a slim frame of one table (or of one exploded list column)."""

    name: str
    table: Table
    frame: pa.Table
    expectations: list[Expect]
    key: str = ""  # the column GX reports rejected rows by (default: the table's key)

    @property
    def index_columns(self) -> list[str]:
        key = self.key or self.table.key[0]
        return [key, ROW] if ROW in self.frame.column_names and key != ROW else [key]


def load_gx():
    import great_expectations as gx  # imported on first use: it takes ~2 s

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    return gx


def gx_context(gx, warehouse: Path | None):
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


def is_list_column(table: Table, column: str) -> bool:
    """True for a declared list column (checked on its own exploded frame)."""
    return column in table.column_names and pa.types.is_list(table.column(column).type)


def table_batches(
    data: pa.Table,
    table: Table,
    n_other: int,
    history: ValidationHistory,
    cfg: ValidateConfig,
    expects: list[Expect] | None = None,
    key: str = "",
) -> list[Batch]:
    """The table's slim frame with `expects` (default: all its expectations), plus one child frame per checked
    list column; `key` names the rows (default: the table's key); a ROW column of `data` is carried along."""
    key = key or table.key[0]
    main: list[Expect] = []
    columns: dict[str, pa.Array] = {key: data.column(key)}
    if ROW in data.column_names:
        columns[ROW] = data.column(ROW)
    children: dict[str, list[Expect]] = {}
    for expect in table.expectations() if expects is None else expects:
        if expect.derive == "recent_row_counts":
            bounds = recent_row_counts(data, n_other, history, cfg)
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
        if is_list_column(table, expect.column):
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
    out = [Batch(table.name, table, pa.table(columns), main, key)]
    for name, listed in children.items():
        parents = pc.list_parent_indices(data.column(name))
        child = {c: pc.take(data.column(c), parents) for c in (key, ROW) if c in columns}
        child[name] = pc.list_flatten(data.column(name))
        out.append(Batch(f"{table.name}.{name}", table, pa.table(child), listed, key))
    return out


def _rows_checked(data: pa.Table, expect: Expect) -> int:
    """Rows the expectation looks at: all, or those with its `where` column set; of a derived column computed
    already, those it judged (not null)."""
    rows = data.num_rows - (data.column(expect.where).null_count if expect.where else 0)
    name = expect.kwargs.get("column")
    return rows - (data.column(name).null_count if expect.derive and name in data.column_names else 0)


def _to_pandas(frame: pa.Table) -> pd.DataFrame:
    # Nullable ints keep their type when null (plain to_pandas turns them into float64); floats stay NaN-based.
    return frame.to_pandas(types_mapper=lambda t: _PANDAS_INTS.get(t))


def _suite(gx, batch: Batch):
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


# What the night-wide suites ask GX for (stored results, Data Docs, the failure lines): counts and shares with 20
# examples, not every unexpected row. COMPLETE listed them all: at 1M documents the repeated-title check (27 % of
# the rows, passing with `mostly`) made a 27 MB stored result and 15 s of validate's reduce.
NIGHT_RESULT_FORMAT = "SUMMARY"


def gx_result_format(batch: Batch, result_format: str) -> dict[str, Any]:
    """GX's result_format for `batch`. Its key columns name the unexpected rows, except in a frame keyed by its own
    row index (the night-wide suites'), whose rows GX names by the frame's index: named columns make GX look each
    unexpected row up one at a time, even to keep 20 (at 1M documents, 263k look-ups, ~8 s). The query string that
    lists every unexpected row is never asked for, so GX does not build it."""
    fmt: dict[str, Any] = {"result_format": result_format, "return_unexpected_index_query": False}
    if batch.index_columns != [ROW]:
        fmt["unexpected_index_column_names"] = batch.index_columns
    return fmt


def run_suite(gx, context, batch: Batch, run_id: RunIdentifier) -> tuple[Any, list[Any]]:
    """Validate one slim frame through a Checkpoint (which stores the result) under `run_id`, results as
    NIGHT_RESULT_FORMAT; the stored result's identifier (for `build_docs`) and GX's results."""
    source = context.data_sources.add_or_update_pandas(name="docpipe")
    asset = source.add_dataframe_asset(name=batch.name)
    definition = asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add_or_update(_suite(gx, batch))
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=batch.name, data=definition, suite=suite)
    )
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=batch.name,
            validation_definitions=[validation],
            result_format=gx_result_format(batch, NIGHT_RESULT_FORMAT),
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": _to_pandas(batch.frame)}, run_id=run_id)
    ((identifier, suite_result),) = result.run_results.items()
    return identifier, suite_result.results


def build_docs(context, identifiers: list[Any]) -> None:
    """The Data Docs pages of these stored results and of their suites, and the site's index, built once
    (what a checkpoint's UpdateDataDocsAction does for its own result, index included, each time)."""
    resources = [r for i in identifiers for r in (i, i.expectation_suite_identifier)]
    context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=resources)


def gx_run_id(gx, run_id: str, run_time: datetime | None) -> RunIdentifier:
    """GX's id of this validation run: an explicit aware run_time, so GX never guesses one from the name, and a
    run name no date parser reads (see `gx_run_name`)."""
    if run_time is not None and run_time.utcoffset() is None:
        raise ValueError(f"run_time must be timezone-aware, not {run_time!r}")
    return gx.RunIdentifier(run_name=gx_run_name(run_id), run_time=run_time or datetime.now(UTC))


# -- frames validated without storing results (shards) ---------------------------------------------------------


class FrameChecker:
    """An ephemeral GX context with one pandas data source, a whole-dataframe batch definition per frame name and
    the suites, built once and reused for every frame: building them took longer than validating a 10,000-row
    shard (bench/bench_validate.py). Results are returned, not stored (the night's summaries make the Data Docs).
    GX's engine keeps the last frame of each name and its metrics: a shard group's, bounded by `Sizes.check_rows`."""

    def __init__(self) -> None:
        self.gx = load_gx()
        self.context = gx_context(self.gx, None)
        self.source = self.context.data_sources.add_pandas(name="docpipe-frames")
        self.definitions: dict[str, Any] = {}
        self.suites: dict[tuple[str, str], Any] = {}

    def validate(self, batch: Batch, result_format: str) -> list[Any]:
        """The frame through its suite; `result_format` as GX names it (BOOLEAN_ONLY … COMPLETE)."""
        definition = self.definitions.get(batch.name)
        if definition is None:
            asset = self.source.add_dataframe_asset(name=batch.name)
            definition = self.definitions[batch.name] = asset.add_batch_definition_whole_dataframe("whole")
        return self._run(definition, batch, result_format)

    def validate_once(self, batch: Batch, result_format: str) -> list[Any]:
        """`validate` through a data source made for this frame and deleted after, so that GX keeps neither the
        frame nor its metrics (the night-wide frame: a few bytes a document, all of them)."""
        source = self.context.data_sources.add_or_update_pandas(name=ONCE_SOURCE)
        try:
            definition = source.add_dataframe_asset(name=batch.name).add_batch_definition_whole_dataframe("whole")
            return self._run(definition, batch, result_format)
        finally:
            self.context.data_sources.delete(ONCE_SOURCE)

    def _run(self, definition: Any, batch: Batch, result_format: str) -> list[Any]:
        key = (batch.name, repr(batch.expectations))
        suite = self.suites.get(key)
        if suite is None:
            if len(self.suites) >= MAX_CACHED_SUITES:  # night-specific suites (row-count bounds) come and go
                self.suites.clear()
            suite = self.suites[key] = _suite(self.gx, batch)
        gx_batch = definition.get_batch(batch_parameters={"dataframe": _to_pandas(batch.frame)})
        return gx_batch.validate(suite, result_format=gx_result_format(batch, result_format)).results


_THREAD = threading.local()  # one FrameChecker a thread: GX contexts are not shared between threads


def frame_checker() -> FrameChecker:
    """This thread's FrameChecker (built on first use)."""
    checker = getattr(_THREAD, "checker", None)
    if checker is None:
        checker = _THREAD.checker = FrameChecker()
    return checker
