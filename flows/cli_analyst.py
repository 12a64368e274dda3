"""Analyst commands of the `docpipe` CLI: versions, export, diff, report, sql (wiring only; logic in tasks/_*.py).

flows/cli.py calls `register(app)` so that they are top-level commands. None of them loads Prefect. Tables fit
the terminal (80 columns and up): less important columns are dropped when narrow, what is left wraps; `--json`
(and `--csv` for diff) write machine-readable output to stdout, messages go to stderr. A warehouse folder that
does not exist is an error (exit 2), not an empty warehouse.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from flows.settings import resolve_warehouse

console = Console()
err_console = Console(stderr=True)

WarehouseOpt = Annotated[Path | None, typer.Option("--warehouse", help="Warehouse folder (default: warehouse/).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar (also when not on a terminal).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Write JSON to stdout instead of a table.")]

INCOMPLETE_MARK = "*"
DIFF_LIMIT = 50
SQL_LIMIT = 50
MIN_TEXT_WIDTH = 20  # a free-text column (titles) gets at least this, and the room left over


def _fail(message: str) -> NoReturn:
    err_console.print(f"[red]{message}[/red]", soft_wrap=True, highlight=False)
    raise typer.Exit(2)


def _existing_warehouse(warehouse: Path | None) -> Path:
    """The warehouse to read; exit 2 when the folder does not exist (a typo must not read as an empty warehouse)."""
    path = resolve_warehouse(warehouse)
    if not path.is_dir():
        _fail(f"no warehouse: {path} does not exist (or is not a folder)")
    return path


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


def _write_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


@dataclass(frozen=True, slots=True)
class _Column:
    header: str
    cell: Callable[[Any], str]
    justify: str = "left"
    overflow: str = "fold"  # identifiers fold (never lose characters); free text may end in an ellipsis


def _fitted(layouts: Sequence[Sequence[_Column]], rows: Sequence[Any], **table_args: Any) -> RichTable:
    """The first layout (columns, most complete first) whose table fits the terminal unwrapped, else the last one,
    whose cells then wrap. Free-text columns (overflow "ellipsis") stay on one line and take the room left."""

    def build(columns: Sequence[_Column], text_width: int) -> RichTable:
        table = RichTable(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True, **table_args)
        for c in columns:
            free = c.overflow == "ellipsis"
            table.add_column(
                c.header, justify=c.justify, overflow=c.overflow, no_wrap=free, max_width=text_width if free else None
            )
        for row in rows:
            table.add_row(*(c.cell(row) for c in columns))
        return table

    for i, columns in enumerate(layouts):
        natural = Measurement.get(console, console.options.update_width(10_000), build(columns, MIN_TEXT_WIDTH))
        if natural.maximum <= console.width or i == len(layouts) - 1:
            return build(columns, MIN_TEXT_WIDTH + max(0, console.width - natural.maximum))
    raise ValueError("no layout")


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet or not err_console.is_terminal,
        transient=True,
    )


def versions(
    table: Annotated[str | None, typer.Argument(help="One table (default: every table).")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Each table version: run id, commit time, rows added/updated/removed (Delta operationMetrics).

    A version whose run has not succeeded (failed, killed or still publishing) is marked `*`: it is part of no
    complete run, and readers do not see it."""
    from handoff.versions import all_tables, complete_run_ids, table_history

    warehouse = _existing_warehouse(warehouse)
    tables = [t for t in all_tables() if table in (None, t.name)]
    if not tables:
        _fail(f"unknown table {table!r}; tables: {', '.join(t.name for t in all_tables())}")
    complete = complete_run_ids(warehouse)
    history = {t.name: table_history(warehouse, t) for t in tables}
    if as_json:
        _write_json([_version_json(v, complete) for t in tables for v in history[t.name]])
        return
    if not any(history.values()):
        console.print(f"no table versions in {warehouse} (no run has published yet)")
        return
    console.print(f"table versions in {warehouse}", highlight=False)
    layouts = _version_layouts(complete)
    for t in tables:
        if history[t.name]:
            console.print()
            console.print(_fitted(layouts, history[t.name], title=t.name, title_justify="left", title_style="bold"))
    if any(not v.is_complete(complete) for vs in history.values() for v in vs):
        console.print(
            f"{INCOMPLETE_MARK} incomplete: written by a run that has not succeeded (failed, killed or still "
            "running); not part of any complete run, readers do not see it"
        )


def _version_json(v: Any, complete: set[str]) -> dict[str, Any]:
    return {
        "table": v.table,
        "version": v.version,
        "run_id": v.run_id,
        "complete": v.is_complete(complete),
        "committed_at": v.committed_at.isoformat(),
        "operation": v.operation,
        "rows_added": v.rows_added,
        "rows_updated": v.rows_updated,
        "rows_removed": v.rows_removed,
    }


def _version_layouts(complete: set[str]) -> tuple[list[_Column], ...]:
    """The `versions` table's column sets, widest first (`_fitted` takes the first that fits the terminal)."""

    def run(v: Any) -> str:
        return (v.run_id or "") + ("" if v.is_complete(complete) else INCOMPLETE_MARK)

    def number(attr: str) -> Callable[[Any], str]:
        return lambda v: f"{getattr(v, attr):,}"

    version, run_col = _Column("version", lambda v: str(v.version), "right"), _Column("run", run)
    counts = [_Column(h, number(f"rows_{h}"), "right") for h in ("added", "updated", "removed")]
    seconds = _Column("committed (UTC)", lambda v: v.committed_at.strftime("%Y-%m-%d %H:%M:%S"))
    minutes = _Column("committed (UTC)", lambda v: v.committed_at.strftime("%Y-%m-%d %H:%M"))
    operation = _Column("operation", lambda v: v.operation)
    return (
        [version, run_col, seconds, operation, *counts],
        [version, run_col, seconds, *counts],
        [version, run_col, minutes, *counts],
    )


def export(
    out: Annotated[Path, typer.Option("--out", help="Folder to write (replaced if it holds an earlier export).")],
    tables: Annotated[
        list[str] | None, typer.Option("--tables", help="Tables, repeated or comma-separated (default: all).")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="RUN_ID, DATE (YYYY-MM-DD) or runs-table VERSION (default: latest).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    redact_pii: Annotated[bool, typer.Option("--redact-pii", help="Hash PII columns, scrub e-mails/phones.")] = False,
    warehouse: WarehouseOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Write the published tables as of a complete run to plain files, with README.md and manifest.json."""
    from handoff.export import ExportConfig, export_warehouse
    from handoff.versions import AsOfError, resolve_as_of
    from schemas import PUBLISHED

    warehouse = _existing_warehouse(warehouse)
    names = tuple(n.strip() for item in tables or [] for n in item.split(",") if n.strip())
    cfg = ExportConfig(tables=names or ExportConfig().tables, format=fmt, redact_pii=redact_pii)
    try:
        run = resolve_as_of(warehouse, as_of)
    except AsOfError as exc:
        _fail(f"--as-of: {exc}" if as_of else str(exc))
    with _progress(quiet) as progress:
        bar = progress.add_task("export", total=len([t for t in PUBLISHED if t.name in cfg.tables]) * 3)

        def step(table: str, what: str) -> None:
            progress.update(bar, description=f"{table}: {what}", advance=0 if what == "redacting" else 1)

        try:
            result = export_warehouse(warehouse, run, out, cfg, datetime.now(UTC), step)
        except (ValueError, FileExistsError) as exc:
            _fail(str(exc))
    rows = ", ".join(f"{name}={n}" for name, n in result.rows.items())
    console.print(f"exported run {run.run_id} to {result.out} ({cfg.format}{', PII redacted' if redact_pii else ''})")
    console.print(f"rows: {rows}")


def diff(
    run_a: Annotated[str | None, typer.Argument(help="Earlier run (id, date or runs-table version).")] = None,
    run_b: Annotated[str | None, typer.Argument(help="Later run (default: latest).")] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Changes since the start of DATE (00:00 UTC) or an ISO datetime: from the last run finished before "
            "it (the empty warehouse if none was) to the latest.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Changes shown in the table (0: all).")] = DIFF_LIMIT,
    as_json: Annotated[bool, typer.Option("--json", help="Write every change to stdout as JSON, no table.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Write every change to stdout as CSV, no table.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the changes to this Parquet file.")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Documents added, updated, removed or newly flagged duplicate between two runs."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from handoff.diff import count_changes, diff_runs
    from handoff.versions import AsOfError, RunVersions, resolve_as_of, run_before

    warehouse = _existing_warehouse(warehouse)
    if (run_a is None) == (since is None):
        _fail("give RUN_A [RUN_B] (run ids, dates or runs-table versions) or --since DATE")
    if as_json and as_csv:
        _fail("give --json or --csv, not both")

    def resolve(label: str, find: Callable[[Path, str | None], RunVersions], value: str | None) -> RunVersions:
        try:
            return find(warehouse, value)
        except AsOfError as exc:
            _fail(f"{label}: {exc}" if value is not None else str(exc))

    before = resolve("--since", run_before, since) if since else resolve("RUN_A", resolve_as_of, run_a)
    after = resolve("RUN_B", resolve_as_of, run_b)
    changes = diff_runs(warehouse, before, after)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(changes, out, compression="zstd")
        err_console.print(f"written to {out}", soft_wrap=True, highlight=False)
    if as_json:
        _write_json(changes.to_pylist())
        return
    if as_csv:
        pacsv.write_csv(changes, sys.stdout.buffer)
        return
    _print_changes(changes, count_changes(changes), before.run_id, after.run_id, since, limit)


def _print_changes(changes: Any, counts: dict[str, int], run_a: str, run_b: str, since: str | None, limit: int) -> None:
    """Totals by kind, then the first `limit` changes as a table that fits the terminal."""
    what = f" since {since}" if since else ""
    console.print(f"documents{what}: {run_a or 'empty warehouse'} → {run_b}", highlight=False)
    kinds = ", ".join(f"{n:,} {kind}" for kind, n in counts.items())
    console.print(_plural(changes.num_rows, "change") + (f" ({kinds})" if kinds else ""), highlight=False)
    if not changes.num_rows:
        return
    shown = changes if not limit else changes.slice(0, limit)
    rows = shown.to_pylist()

    def text(name: str) -> Callable[[dict], str]:
        return lambda row: row[name] or ""

    change, doc_id = _Column("change", text("change")), _Column("doc_id", text("doc_id"))
    source, title = _Column("source_uri", text("source_uri")), _Column("title", text("title"), overflow="ellipsis")
    duplicate_of = [_Column("duplicate_of", text("duplicate_of"))] if any(r["duplicate_of"] for r in rows) else []
    layouts = (
        [change, doc_id, source, title, *duplicate_of],
        [change, source, title, *duplicate_of],
        [change, source, title],
    )
    console.print(_fitted(layouts, rows))
    if shown.num_rows < changes.num_rows:
        console.print(
            f"… {changes.num_rows - shown.num_rows:,} more (--limit 0 shows all; --json or --csv write every change)"
        )


def report(
    run_id: Annotated[str | None, typer.Argument(help="Run id (default: the run that finished last).")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """(Re)write a run's HTML report under warehouse/_reports/ and print its location."""
    from handoff.report import latest_run_id, write_run_report

    warehouse = _existing_warehouse(warehouse)
    run_id = run_id or latest_run_id(warehouse)
    if run_id is None:
        _fail(f"no run in {warehouse}")
    try:
        path = write_run_report(warehouse, run_id)
    except KeyError as exc:
        _fail(str(exc.args[0]))
    console.print(f"report: {path.as_uri()}", soft_wrap=True, highlight=False)


def sql(
    query: Annotated[str, typer.Argument(help="SQL over the published tables (and run_versions).")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="RUN_ID, DATE (YYYY-MM-DD) or runs-table VERSION (default: latest).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Rows shown in the table (0: all).")] = SQL_LIMIT,
    as_json: Annotated[bool, typer.Option("--json", help="Write every row to stdout as JSON, no table.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Write every row to stdout as CSV, no table.")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Query the tables as of a complete run in DuckDB (delta_scan at that run's versions; offline)."""
    import duckdb

    from handoff.sql import DeltaExtensionMissing, query_as_of, write_csv
    from handoff.versions import AsOfError, resolve_as_of

    warehouse = _existing_warehouse(warehouse)
    if as_json and as_csv:
        _fail("give --json or --csv, not both")
    try:
        run = resolve_as_of(warehouse, as_of)
    except AsOfError as exc:
        _fail(f"--as-of: {exc}" if as_of else str(exc))
    try:
        result = query_as_of(warehouse, run, query)
    except (duckdb.Error, DeltaExtensionMissing) as exc:
        _fail(str(exc))
    if as_json:
        _write_json(result.to_pylist())
        return
    if as_csv:
        write_csv(result, sys.stdout)
        return
    err_console.print(f"as of run {run.run_id} (finished {run.finished_at:%Y-%m-%d %H:%M:%S} UTC)", highlight=False)
    shown = result if not limit else result.slice(0, limit)

    def cell(i: int) -> Callable[[tuple], str]:
        return lambda row: "" if row[i] is None else str(row[i])

    if result.num_columns:
        columns = [_Column(name, cell(i)) for i, name in enumerate(result.column_names)]
        console.print(_fitted([columns], list(zip(*(c.to_pylist() for c in shown.columns), strict=True))))
    more = (
        f" ({result.num_rows - shown.num_rows:,} not shown: --limit 0 shows all)"
        if shown.num_rows < result.num_rows
        else ""
    )
    console.print(_plural(result.num_rows, "row") + more, highlight=False)


def register(app: typer.Typer) -> None:
    """Add the analyst commands to the `docpipe` app as top-level commands."""
    for command in (versions, export, diff, report, sql):
        app.command()(command)
