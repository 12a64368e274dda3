"""The `docpipe` command line: turns flags into a run configuration and calls a flow."""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from flows.runner import RunnerConfig
from flows.settings import (
    DEFAULT_CRON,
    DEFAULT_TIMEZONE,
    code_version,
    export_runner,
    new_run_id,
    prefect_api_url,
    prepare_prefect_env,
    resolve_raw,
    resolve_warehouse,
)
from schemas.runs import RESTRIP_AUTO, RESTRIP_MODES, RUN_COUNTS

if TYPE_CHECKING:
    from flows.prefect_server import ServerProcess

app = typer.Typer(add_completion=False, no_args_is_help=True, help="docpipe: raw page dumps → versioned Parquet.")
console = Console()

RawOpt = Annotated[Path | None, typer.Option("--raw", help="Landing folder of raw dumps (default: raw/).")]
WarehouseOpt = Annotated[Path | None, typer.Option("--warehouse", help="Warehouse folder (default: warehouse/).")]
RunnerOpt = Annotated[
    str, typer.Option("--runner", help="Where shard tasks run: local (one process per core) or dask.")
]
DaskAddressOpt = Annotated[
    str | None,
    typer.Option("--dask-address", help="tcp://HOST:PORT of a running Dask scheduler (default: a local cluster)."),
]

WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers", min=1, help="Worker processes (local) or LocalCluster workers (dask) (default: one per core)."
    ),
]
ShardRowsOpt = Annotated[
    int | None, typer.Option("--shard-rows", min=1, help="Pages a shard task processes (default 4,000).")
]
ChunkRowsOpt = Annotated[
    int | None, typer.Option("--chunk-rows", min=1, help="Rows a stage holds at once (default 2,000).")
]

RestripOpt = Annotated[
    str,
    typer.Option(
        "--restrip",
        help="When published documents are stripped again under a changed template model: auto (tonight, those "
        "the change may move, since the samples they were stripped under after deferred runs), defer (none "
        "tonight: the next auto run catches up), all (every one tonight).",
    ),
]


def _restrip(value: str) -> str:
    """--restrip checked; exit 2 naming the modes."""
    if value not in RESTRIP_MODES:
        console.print(f"[red]unknown --restrip {value!r}[/red]; one of: {', '.join(RESTRIP_MODES)}")
        raise typer.Exit(2)
    return value


def _runner(runner: str, dask_address: str | None, workers: int | None = None) -> RunnerConfig:
    """The run's RunnerConfig from the flags; exit 2 on a wrong combination."""
    try:
        return RunnerConfig(runner, dask_address or "", workers or 0)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _print_summary(summary) -> None:
    from flows.runlog import stage_table

    row = summary.row
    stats = json.loads(row["stage_stats"])
    console.print(stage_table({**row, "stage_stats": stats}))
    counts = ", ".join(f"{k[2:]}={row[k]}" for k in RUN_COUNTS if row.get(k) is not None)
    console.print(f"records: {counts}")
    if summary.status == "succeeded":
        changed = ", ".join(summary.changed_tables) or "none (nothing new: no table version added)"
        console.print(f"tables changed: {changed}")
    failed = stats.get("validate", {}).get("failed_expectations")
    if failed:
        console.print(f"failed expectations: {', '.join(failed)}")
    for label, path in (("report", summary.report), ("data docs", stats.get("validate", {}).get("report"))):
        if path:
            console.print(f"{label}: {Path(path).as_uri()}")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"docpipe {code_version()}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """docpipe: raw page dumps → versioned Parquet."""


def _existing_warehouse(warehouse: Path | None) -> Path:
    """The warehouse a read command reads: it must exist (a typo must not read as `no runs yet`)."""
    path = resolve_warehouse(warehouse)
    if not path.is_dir():
        console.print(f"[red]no warehouse:[/red] {path} does not exist (or is not a folder)")
        raise typer.Exit(2)
    return path


@app.command()
def run(
    raw: RawOpt = None,
    warehouse: WarehouseOpt = None,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Run id (default: UTC time + random suffix); must be new.")
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Re-read files already ingested.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Prefect's logs and tracebacks.")] = False,
    runner: RunnerOpt = "local",
    dask_address: DaskAddressOpt = None,
    shard_rows: ShardRowsOpt = None,
    chunk_rows: ChunkRowsOpt = None,
    workers: WorkersOpt = None,
    restrip: RestripOpt = RESTRIP_AUTO,
) -> None:
    """Run the whole pipeline once over the raw dumps; exit 1 naming the stage that failed, 2 if another run
    holds the warehouse or the run id already names a succeeded run."""
    warehouse, raw = resolve_warehouse(warehouse), resolve_raw(raw)
    if not raw.is_dir():
        console.print(f"[red]no raw folder:[/red] {raw} does not exist (or is not a folder); nothing was run")
        raise typer.Exit(2)
    where, restrip = _runner(runner, dask_address, workers), _restrip(restrip)
    prepare_prefect_env(warehouse, verbose)  # before anything imports Prefect
    sizes = {"shard_rows": shard_rows, "chunk_rows": chunk_rows}  # None: RunConfig's default (flows/config.py)
    params = {"raw": str(raw), "run_id": run_id or new_run_id(), "full": full, "restrip": restrip}
    _call_nightly(warehouse, verbose, where, **params, **sizes)


def _refused(message: str) -> typer.Exit:
    console.print(f"[red]refused:[/red] {message}")
    return typer.Exit(2)


def _call_nightly(warehouse: Path, verbose: bool, where: RunnerConfig, **params) -> None:
    """Run the flow in this process: refusals are decided before Prefect starts (it takes seconds), run lines
    go to the terminal, and an error is one clear message (its traceback with --verbose, and in the run log)."""
    from flows.checkpoints import CheckpointStore
    from flows.lock import RunLock, RunLocked
    from flows.runlog import RunAlreadySucceeded, refuse_succeeded

    run_id = params["run_id"]
    try:
        refuse_succeeded(warehouse, run_id)
        lock = RunLock(warehouse, run_id)
        lock.acquire()
    except (RunAlreadySucceeded, RunLocked) as exc:
        raise _refused(str(exc)) from None
    try:
        # recorded before Prefect starts: a run killed at any moment from here on can be resumed by its id
        store = CheckpointStore(warehouse, run_id)
        manifest = store.record(Path(params["raw"]), params["full"], datetime.now(UTC), params["restrip"])
        if manifest["attempts"] == 0:
            _cut_ahead(warehouse, params, where.local_processes)
        _run_flow(warehouse, verbose, where, params)
    finally:
        lock.release()


def _cut_ahead(warehouse: Path, params: dict, workers: int) -> None:
    """A new run's large JSON Lines dumps are hashed and cut while Prefect starts (tasks/ingest/ahead.py)."""
    from tasks.ingest.ahead import cut_ahead
    from tasks.ingest.config import IngestConfig
    from tasks.sizes import DEFAULT_SIZES

    cfg = IngestConfig(full=params["full"])
    cut_ahead(Path(params["raw"]), warehouse, params["run_id"], cfg, DEFAULT_SIZES.shard_bytes, workers)


def _run_flow(warehouse: Path, verbose: bool, where: RunnerConfig, params: dict) -> None:
    from flows.prefect_server import launch_temporary_server

    # Prefect's temporary server starts while the flow's modules import (flows/prefect_server.py)
    server = launch_temporary_server() if not prefect_api_url() else None
    try:
        _run_flow_on(server, warehouse, verbose, where, params)
    finally:
        if server is not None:
            server.stop(grace_seconds=5)


def _run_flow_on(
    server: ServerProcess | None, warehouse: Path, verbose: bool, where: RunnerConfig, params: dict
) -> None:
    from flows.ledger import StageFailed  # Prefect loads here, after its environment is set
    from flows.nightly import nightly
    from flows.progress import LOG_FILE, show_on
    from flows.runlog import RunAlreadySucceeded
    from flows.runner import prefect_api, task_runner
    from tasks._warehouse import run_folder

    log_file = run_folder(warehouse, params["run_id"]) / LOG_FILE
    show_on(console)
    if not prefect_api_url():
        console.print("starting Prefect's temporary local server…", style="dim")
    try:
        flow = nightly.with_options(task_runner=task_runner(where))
        with prefect_api(where, server):
            where_params = {"runner": where.kind, "dask_address": where.dask_address, "workers": where.workers}
            summary = flow(warehouse=str(warehouse), **where_params, **params)
    except StageFailed as exc:
        _print_summary(exc.summary)
        console.print(f"[red]stage {exc.stage} failed:[/red] {exc.summary.error}")
        if verbose:
            console.print_exception()
        console.print(f"log: {log_file}")
        console.print(f"resume with: docpipe rerun {exc.summary.run_id} --warehouse {warehouse}")
        raise typer.Exit(1) from None
    except RunAlreadySucceeded as exc:
        raise _refused(str(exc)) from None
    except Exception as exc:  # anything else: one line, the traceback on demand
        console.print(f"[red]run {params['run_id']} failed:[/red] {type(exc).__name__}: {exc}")
        if verbose:
            console.print_exception()
        else:
            console.print("(--verbose shows the traceback)")
        raise typer.Exit(1) from None
    finally:
        show_on(None)
    _print_summary(summary)
    console.print(f"log: {log_file}")


@app.command()
def rerun(
    run_id: Annotated[str, typer.Argument(help="Id of the failed or killed run to resume.")],
    raw: RawOpt = None,
    warehouse: WarehouseOpt = None,
    from_stage: Annotated[
        str | None, typer.Option("--from", help="Run this stage and every later one again, checkpoint or not.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Prefect's logs and tracebacks.")] = False,
    runner: RunnerOpt = "local",
    dask_address: DaskAddressOpt = None,
    shard_rows: ShardRowsOpt = None,
    chunk_rows: ChunkRowsOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Resume a run: stages with a valid checkpoint are skipped, the failed stage and the later ones run again.
    A run that already succeeded has nothing to resume (exit 0, nothing done); a run id never recorded (killed
    before anything of it was written) is started with --raw."""
    warehouse, where = resolve_warehouse(warehouse), _runner(runner, dask_address, workers)
    prepare_prefect_env(warehouse, verbose)  # before anything imports Prefect: as quiet as `run`
    from flows.checkpoints import CheckpointStore
    from flows.runlog import find_run, status_label
    from schemas.runs import STAGES

    if from_stage and from_stage not in STAGES:
        console.print(f"[red]unknown stage {from_stage!r}[/red]; stages: {', '.join(STAGES)}")
        raise typer.Exit(2)
    manifest = CheckpointStore(warehouse, run_id).manifest() if warehouse.is_dir() else None
    if manifest is None:
        raw_dir, full, restrip = _never_recorded(warehouse, run_id, raw), False, RESTRIP_AUTO
    else:
        done = find_run(warehouse, run_id)
        if done is not None and done["status"] == "succeeded":
            console.print(f"run {run_id} already succeeded ({status_label(done)}): nothing to resume, nothing changed")
            return
        raw_dir, full = (str(resolve_raw(raw)) if raw else manifest["raw"]), manifest["full"]
        restrip = manifest.get("restrip", RESTRIP_AUTO)  # runs recorded before --restrip re-stripped (auto)
    sizes = {"shard_rows": shard_rows, "chunk_rows": chunk_rows}
    params = {"raw": raw_dir, "run_id": run_id, "full": full, "restrip": restrip, "from_stage": from_stage}
    _call_nightly(warehouse, verbose, where, **params, **sizes)


def _never_recorded(warehouse: Path, run_id: str, raw: Path | None) -> str:
    """The raw folder a run id never recorded (killed before anything of it was written) starts over: --raw, or
    exit 2 naming what is missing."""
    if raw is None:
        _existing_warehouse(warehouse)
        console.print(f"[red]no run {run_id!r} in {warehouse}[/red] (see `docpipe runs`; --raw starts it)")
        raise typer.Exit(2)
    console.print(f"run {run_id} was never recorded in {warehouse}: starting it over {resolve_raw(raw)}")
    return str(resolve_raw(raw))


@app.command()
def serve(
    cron: Annotated[str, typer.Option("--cron", help="Cron schedule of the nightly run.")] = DEFAULT_CRON,
    timezone: Annotated[str, typer.Option("--timezone", help="Time zone of the cron schedule.")] = DEFAULT_TIMEZONE,
    raw: RawOpt = None,
    warehouse: WarehouseOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Kept for scripts: serve always logs runs.")] = False,
    runner: RunnerOpt = "local",
    dask_address: DaskAddressOpt = None,
    workers: WorkersOpt = None,
    restrip: RestripOpt = RESTRIP_AUTO,
    restrip_cron: Annotated[
        str | None,
        typer.Option(
            "--restrip-cron",
            help="A second schedule whose runs take --restrip auto: with --restrip defer, when the deferred "
            "re-strip is caught up (e.g. '0 3 * * 0', Sundays at 3).",
        ),
    ] = None,
) -> None:
    """Serve the nightly flow on a schedule (starts a local Prefect server unless PREFECT_API_URL is set)."""
    from flows.serve import serve_nightly

    where, restrip = _runner(runner, dask_address, workers), _restrip(restrip)
    # the served nights load the flow afresh and read their runner there
    export_runner(where.kind, where.dask_address, where.workers)
    serve_nightly(resolve_raw(raw), resolve_warehouse(warehouse), cron, timezone, restrip, restrip_cron or "")


@app.command()
def schema() -> None:
    """Print the data dictionary (Markdown) of the published tables."""
    from schemas import data_dictionary

    typer.echo(data_dictionary())


@app.command()
def runs(
    warehouse: WarehouseOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run log as JSON.")] = False,
) -> None:
    """List runs: per-stage status, rows and seconds, counts and failure messages (killed runs included)."""
    from flows.runlog import list_runs, runs_json, runs_table

    rows = list_runs(_existing_warehouse(warehouse))
    if as_json:
        typer.echo(runs_json(rows))
        return
    console.print(runs_table(rows, console.width))


@app.command()
def status(warehouse: WarehouseOpt = None) -> None:
    """Show the last run, stage by stage."""
    from flows.runlog import list_runs, stage_table

    rows = list_runs(_existing_warehouse(warehouse))
    if not rows:
        console.print("no runs yet")
        return
    last = rows[-1]
    console.print(stage_table(last))
    if last.get("nothing_new"):
        console.print("nothing new: every raw file was already ingested; no table version added")
    if last.get("error"):
        console.print(f"[red]{last['failed_stage']} failed:[/red] {last['error']}")
    if last["status"] in ("failed", "incomplete"):
        console.print(f"resume with: docpipe rerun {last['run_id']}")


from flows.cli_analyst import register as register_analyst_commands  # noqa: E402 - needs `app`

register_analyst_commands(app)


def main() -> None:
    """The `docpipe` command (and `python -m flows`): the app, then `exit_without_teardown` with its exit code."""
    try:
        app()
    except SystemExit as done:
        exit_without_teardown(done.code)
    exit_without_teardown(0)


def exit_without_teardown(code: int | str | None) -> NoReturn:
    """End this process as Python would (its other threads joined, its exit handlers run: logging's flush, temporary
    folders, multiprocessing's), but without tearing down every module it loaded: a run's process has Prefect's,
    and the teardown took ~0.8 s after the run was done."""
    if isinstance(code, str):
        print(code, file=sys.stderr)
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # what shutdown runs before the teardown skipped here
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)
