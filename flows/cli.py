"""The `docpipe` command line: turns flags into a run configuration and calls a flow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table as RichTable

from flows.settings import new_run_id, prepare_prefect_env, resolve_raw, resolve_warehouse

app = typer.Typer(add_completion=False, no_args_is_help=True, help="docpipe: raw page dumps → versioned Parquet.")
console = Console()

RawOpt = Annotated[Path | None, typer.Option("--raw", help="Landing folder of raw dumps (default: raw/).")]
WarehouseOpt = Annotated[Path | None, typer.Option("--warehouse", help="Warehouse folder (default: warehouse/).")]


def _print_summary(summary) -> None:
    row = summary.row
    stats = json.loads(row["stage_stats"])
    table = RichTable(title=f"run {summary.run_id}: {summary.status}")
    for column in ("stage", "status", "in", "kept", "quarantined", "seconds"):
        table.add_column(column, justify="left" if column in ("stage", "status") else "right")
    for stage, s in stats.items():
        table.add_row(
            stage, str(s.get("status", "")), *(str(s.get(k, "")) for k in ("in", "kept", "quarantined", "seconds"))
        )
    console.print(table)
    counts = ", ".join(
        f"{k[2:]}={row[k]}" for k in ("n_read", "n_new", "n_updated", "n_unchanged", "n_duplicates", "n_quarantined")
    )
    console.print(f"records: {counts}")
    if summary.status == "succeeded":
        changed = ", ".join(summary.changed_tables) or "none (nothing new: no table version added)"
        console.print(f"tables changed: {changed}")


@app.command()
def run(
    raw: RawOpt = None,
    warehouse: WarehouseOpt = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Run id (default: UTC time + random).")] = None,
    full: Annotated[bool, typer.Option("--full", help="Re-read files already ingested.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Prefect's logs.")] = False,
) -> None:
    """Run the whole pipeline once over the raw dumps; exit 1 naming the stage that failed."""
    warehouse = resolve_warehouse(warehouse)
    prepare_prefect_env(warehouse, verbose)
    from flows.ledger import StageFailed  # Prefect loads here, after its environment is set
    from flows.nightly import nightly

    try:
        summary = nightly(str(resolve_raw(raw)), str(warehouse), run_id or new_run_id(), full)
    except StageFailed as exc:
        _print_summary(exc.summary)
        console.print(f"[red]stage {exc.stage} failed:[/red] {exc.summary.error}")
        raise typer.Exit(1) from None
    _print_summary(summary)


@app.command()
def schema() -> None:
    """Print the data dictionary (Markdown) of the published tables."""
    from schemas import data_dictionary

    typer.echo(data_dictionary())


@app.command()
def runs(warehouse: WarehouseOpt = None) -> None:
    """List runs recorded in the `runs` table."""
    from schemas import RUNS
    from tasks._warehouse import read_current

    data = read_current(resolve_warehouse(warehouse), RUNS).sort_by("started_at")
    table = RichTable(title="runs")
    columns = ("run_id", "status", "failed_stage", "n_read", "n_new", "n_updated", "n_duplicates", "n_quarantined")
    for column in columns:
        table.add_column(column)
    for row in data.select(list(columns)).to_pylist():
        table.add_row(*(str(row[c]) if row[c] is not None else "" for c in columns))
    console.print(table)


from flows.cli_analyst import register as register_analyst_commands  # noqa: E402 - needs `app`

register_analyst_commands(app)


def main() -> None:
    app()
