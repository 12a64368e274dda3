"""The `nightly` Prefect flow: new dumps in raw/ become one new version of every warehouse table they change."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import flow

from flows.config import RunConfig, build_config
from flows.ledger import RunLedger, StageFailed
from tasks.dedupe import dedupe_pages_task
from tasks.extract import extract_fields_task
from tasks.ingest import ingest_dumps_task
from tasks.publish import changed_tables, publish_run_row, publish_run_summary, publish_tables_task, versions
from tasks.strip_boilerplate import strip_boilerplate_task
from tasks.validate import validate_tables_task


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    status: str
    row: dict
    changed_tables: list[str]
    failed_stage: str | None = None
    error: str | None = None


def run_pipeline(cfg: RunConfig) -> RunSummary:
    """Run every stage in order; a failing stage is recorded in `runs` and re-raised as StageFailed."""
    ledger = RunLedger(cfg)
    before = versions(cfg.warehouse)
    try:
        with ledger.stage("ingest"):
            pages = ledger.add(
                "ingest", ingest_dumps_task(cfg.raw, cfg.warehouse, cfg.ingest, cfg.run_id, ledger.started_at)
            )
        with ledger.stage("strip_boilerplate"):
            pages = ledger.add("strip_boilerplate", strip_boilerplate_task(pages, cfg.warehouse, cfg.boilerplate))
        with ledger.stage("dedupe"):
            unique = ledger.add("dedupe", dedupe_pages_task(pages, cfg.warehouse, cfg.dedupe))
        with ledger.stage("extract"):
            documents = ledger.add("extract", extract_fields_task(unique, cfg.extract))
        with ledger.stage("validate"):
            documents = ledger.add("validate", validate_tables_task(ledger.tables(documents), cfg.validate))
        with ledger.stage("publish"):
            counts = ledger.counts(documents, set(unique.filter(unique["is_update"])["doc_id"].to_pylist()))
            after = publish_tables_task(cfg.warehouse, ledger.tables(documents), cfg.run_id)
            changed = changed_tables(before, after)
            ledger.stats["publish"].update(
                status="succeeded", tables_changed=len(changed), kept=counts["n_new"] + counts["n_updated"]
            )
            row = ledger.run_row("succeeded", counts, after)
            if changed:
                publish_run_row(cfg.warehouse, row)
            publish_run_summary(cfg.warehouse, row)
    except StageFailed as exc:
        row = ledger.run_row("failed")
        publish_run_row(cfg.warehouse, row)
        publish_run_summary(cfg.warehouse, row)
        exc.summary = RunSummary(cfg.run_id, "failed", row, [], exc.stage, ledger.error)
        raise
    return RunSummary(cfg.run_id, "succeeded", row, changed)


@flow(name="nightly", flow_run_name="{run_id}", validate_parameters=False)
def nightly(
    raw: str | None = None, warehouse: str | None = None, run_id: str | None = None, full: bool = False
) -> RunSummary:
    """Ingest → strip boilerplate → dedupe → extract → validate → publish, over the dumps in `raw`."""
    cfg = build_config(Path(raw) if raw else None, Path(warehouse) if warehouse else None, run_id, full)
    return run_pipeline(cfg)
