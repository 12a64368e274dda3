"""Analyst commands of the `docpipe` CLI: versions, export, diff, report (wiring only; logic in tasks/_*.py).

flows/cli.py calls `register(app)` so that they are top-level commands. None of them loads Prefect.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from flows.settings import resolve_warehouse

console = Console()

WarehouseOpt = Annotated[Path | None, typer.Option("--warehouse", help="Warehouse folder (default: warehouse/).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar (also when not on a terminal).")]


def _fail(message: str) -> None:
    console.print(f"[red]{message}[/red]")
    raise typer.Exit(2)


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet or not console.is_terminal,
        transient=True,
    )


def versions(
    table: Annotated[str | None, typer.Argument(help="One table (default: every table).")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Each table version: run id, commit time, rows added/updated/removed (Delta operationMetrics)."""
    from tasks._versions import all_tables, complete_runs, table_history

    warehouse = resolve_warehouse(warehouse)
    tables = [t for t in all_tables() if table in (None, t.name)]
    if not tables:
        _fail(f"unknown table {table!r}; tables: {', '.join(t.name for t in all_tables())}")
    complete = {(name, v) for r in complete_runs(warehouse) for name, v in r.table_versions.items()}
    out = RichTable(title=f"table versions in {warehouse}")
    for column in ("table", "version", "run_id", "committed_at (UTC)", "operation", "added", "updated", "removed"):
        out.add_column(column, justify="right" if column in ("version", "added", "updated", "removed") else "left")
    for t in tables:
        for v in table_history(warehouse, t):
            run = v.run_id or ""
            if v.run_id and (t.name, v.version) not in complete:
                run += " (incomplete)"
            out.add_row(
                t.name,
                str(v.version),
                run,
                v.committed_at.strftime("%Y-%m-%d %H:%M:%S"),
                v.operation,
                str(v.rows_added),
                str(v.rows_updated),
                str(v.rows_removed),
            )
    console.print(out)


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
    from schemas import PUBLISHED
    from tasks._export import ExportConfig, export_warehouse
    from tasks._versions import AsOfError, resolve_as_of

    warehouse = resolve_warehouse(warehouse)
    names = tuple(n.strip() for item in tables or [] for n in item.split(",") if n.strip())
    cfg = ExportConfig(tables=names or ExportConfig().tables, format=fmt, redact_pii=redact_pii)
    try:
        run = resolve_as_of(warehouse, as_of)
    except AsOfError as exc:
        _fail(str(exc))
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
    since: Annotated[str | None, typer.Option("--since", help="Compare the run as of DATE with the latest.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the changes to this Parquet file.")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Documents added, updated, removed or newly flagged duplicate between two runs."""
    import pyarrow.parquet as pq

    from tasks._diff import diff_runs
    from tasks._versions import AsOfError, resolve_as_of

    warehouse = resolve_warehouse(warehouse)
    if (run_a is None) == (since is None):
        _fail("give RUN_A [RUN_B] or --since DATE")
    try:
        before = resolve_as_of(warehouse, run_a or since)
        after = resolve_as_of(warehouse, run_b)
    except AsOfError as exc:
        _fail(str(exc))
    changes = diff_runs(warehouse, before, after)
    table = RichTable(title=f"documents: {before.run_id} → {after.run_id} ({changes.num_rows} changes)")
    columns = ("change", "doc_id", "source_uri", "title", "duplicate_of")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in changes.select(list(columns)).to_pylist():
        table.add_row(*(str(row[c])[:60] if row[c] is not None else "" for c in columns))
    console.print(table)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(changes, out, compression="zstd")
        console.print(f"written to {out}")


def report(
    run_id: Annotated[str | None, typer.Argument(help="Run id (default: the latest run in `runs`).")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """(Re)write a run's HTML report under warehouse/_reports/ and print its location."""
    from schemas import RUNS
    from tasks._report import write_run_report
    from tasks._warehouse import read_current

    warehouse = resolve_warehouse(warehouse)
    if run_id is None:
        runs = read_current(warehouse, RUNS, ["run_id", "finished_at"]).sort_by("finished_at").to_pylist()
        if not runs:
            _fail(f"no run in {warehouse}")
        run_id = runs[-1]["run_id"]
    try:
        path = write_run_report(warehouse, run_id)
    except KeyError as exc:
        _fail(str(exc.args[0]))
    console.print(f"report: {path.as_uri()}")


def register(app: typer.Typer) -> None:
    """Add the analyst commands to the `docpipe` app as top-level commands."""
    for command in (versions, export, diff, report):
        app.command()(command)
