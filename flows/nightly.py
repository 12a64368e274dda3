"""The `nightly` Prefect flow: new dumps in raw/ become one new version of every warehouse table they change.

Each stage goes through the ledger, which reuses the stage's checkpoint when a rerun of the same run id finds
one that is still valid (flows/checkpoints.py); one run at a time per warehouse (flows/lock.py).
"""

from __future__ import annotations

import functools
from pathlib import Path

from prefect import flow

from flows.config import RunConfig, build_config
from flows.ledger import RunLedger, RunSummary, StageFailed, current_run_id, flow_run_name
from flows.lock import RunLock
from flows.progress import run_log
from flows.runner import runner_config, task_runner
from tasks._shards import worker_processes
from tasks._warehouse import run_folder
from tasks.dedupe import dedupe_stage
from tasks.extract import extract_stage
from tasks.ingest import ingest_stage, restore_texts
from tasks.publish import publish_tables_task
from tasks.strip_boilerplate import strip_stage
from tasks.validate import validate_stage

__all__ = ["RunSummary", "nightly", "run_pipeline"]


def run_pipeline(cfg: RunConfig) -> RunSummary:
    """Run every stage in order; a failing stage is recorded in `runs` and re-raised as StageFailed."""
    with run_log(run_folder(cfg.warehouse, cfg.run_id)), worker_processes(cfg.runner.local_processes):
        ledger = RunLedger.open(cfg)
        return _run_stages(ledger, cfg)


def _run_stages(ledger: RunLedger, cfg: RunConfig) -> RunSummary:
    try:
        ingest_args = (cfg.raw, ledger.history, cfg.ingest, cfg.run_id, ledger.started_at, cfg.sizes)
        pages = ledger.run("ingest", ingest_stage, *ingest_args)
        # the raw texts ingest left out are read again by ingest's own reader (only ingest reads raw/)
        restore = functools.partial(restore_texts, raw=cfg.raw, chunk_rows=cfg.sizes.chunk_rows, run_id=cfg.run_id)
        strip_args = (pages, ledger.history, cfg.boilerplate, cfg.sizes, cfg.run_id, restore)
        pages = ledger.run("strip_boilerplate", strip_stage, *strip_args)
        unique = ledger.run("dedupe", dedupe_stage, pages, ledger.history, cfg.dedupe, cfg.sizes)
        documents = ledger.run("extract", extract_stage, unique, cfg.extract, cfg.sizes)
        tables = ledger.tables(documents, checked_by="validate")
        ledger.warm_report()
        documents = ledger.run("validate", validate_stage, tables, cfg.validate, ledger.history, cfg.sizes)
        return ledger.publish(publish_tables_task, documents)
    except StageFailed as exc:
        ledger.record_failure(exc)
        raise


@flow(
    name="nightly",
    flow_run_name=flow_run_name,
    validate_parameters=False,
    task_runner=task_runner(runner_config()),  # the CLI sets its own with `nightly.with_options`
)
def nightly(
    raw: str | None = None,
    warehouse: str | None = None,
    run_id: str | None = None,
    full: bool = False,
    from_stage: str | None = None,
    runner: str | None = None,
    dask_address: str | None = None,
    shard_rows: int | None = None,
    workers: int | None = None,
    chunk_rows: int | None = None,
    restrip: str | None = None,
    shard_bytes: int | None = None,
) -> RunSummary:
    """Ingest → strip boilerplate → dedupe → extract → validate → publish, over the dumps in `raw`.

    A flow run with an existing `run_id` (or a retry of the same flow run) resumes it; `from_stage` forces that
    stage and the later ones to run again. `runner`/`dask_address` say where shard tasks (of `shard_rows` pages)
    run, `shard_bytes` how many raw bytes an ingest shard reads, `chunk_rows` how many rows a stage holds at once
    (tasks/sizes.py); the flow's task runner must match
    (`flows.runner.task_runner`, set by the CLI with `nightly.with_options`, and for served nights from
    $DOCPIPE_RUNNER); `restrip` when published documents are stripped again under a changed template model
    (tasks/strip_boilerplate/config.py RESTRIP_MODES; default auto)."""
    cfg = build_config(
        Path(raw) if raw else None,
        Path(warehouse) if warehouse else None,
        run_id or current_run_id(),
        full,
        from_stage,
        runner_config(runner, dask_address, workers),
        shard_rows,
        chunk_rows,
        restrip,
        shard_bytes,
    )
    with RunLock(cfg.warehouse, cfg.run_id):
        return run_pipeline(cfg)
