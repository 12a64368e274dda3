"""Run bookkeeping: runs each stage (or reuses its checkpoint), collects stats, quarantine rows and outputs,
checks that records reconcile, builds the `runs` row and the run's Prefect artifact."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from prefect import Task
from prefect.artifacts import create_markdown_artifact
from prefect.context import FlowRunContext

from flows.checkpoints import CheckpointStore, base_version, chain, code_fingerprint, prune_checkpoints, raw_fingerprint
from flows.config import RunConfig
from flows.progress import log, stage_line, stage_progress
from flows.runlog import STAGE_COLUMNS, RunAlreadySucceeded, refuse_succeeded, stage_rows
from flows.settings import code_version, new_run_id
from flows.stages import SPECS, with_retries
from handoff.analyst_db import refresh_analyst_db
from schemas import QUARANTINE, RUNS
from schemas.runs import RESTRIP, RUN_COUNTS, RUN_OUTCOMES, run_counts
from tasks._shards import retire_workers, trim_memory
from tasks._spill import Rows, Spill, joined
from tasks._stage import StageResult
from tasks.history import History
from tasks.publish import PLAN, changed_tables, publish_run_row, publish_run_summary, versions

# $DOCPIPE_FAULT_STAGE: `publish:kill` SIGKILLs the run right after publish's first table commit,
# `publish:kill@<table>` right after that table's commit.
KILL_IN_PUBLISH = "publish:kill"

__all__ = ["InjectedFault", "RunAlreadySucceeded", "RunLedger", "RunSummary", "StageFailed", "flow_run_name"]


class StageFailed(RuntimeError):
    """A stage raised: the run stops and is recorded as failed."""

    def __init__(self, stage: str, error: BaseException):
        super().__init__(f"stage {stage!r} failed: {type(error).__name__}: {error}")
        self.stage = stage
        self.error = error


class InjectedFault(RuntimeError):
    """Raised at a stage's start when $DOCPIPE_FAULT_STAGE names it (fault-injection drills)."""


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    status: str
    row: dict
    changed_tables: list[str]
    failed_stage: str | None = None
    error: str | None = None
    report: Path | None = None


def flow_run_name() -> str:
    """Name of a `nightly` flow run = its run id: the `run_id` parameter, else derived from the flow run itself
    (its scheduled start time and its whole UUID), so every scheduled night gets its own id, and a retry of
    the same flow run (Prefect UI) gets the same id and finds its checkpoints."""
    ctx = FlowRunContext.get()
    if ctx is None:
        return new_run_id()
    given = (ctx.parameters or {}).get("run_id")
    run = ctx.flow_run
    return given or new_run_id(run.expected_start_time or run.created or datetime.now(UTC), run.id.bytes)


def current_run_id() -> str:
    ctx = FlowRunContext.get()
    return ctx.flow_run.name if ctx is not None and ctx.flow_run.name else flow_run_name()


def _records_in(args: tuple[Any, ...]) -> int | None:
    """Rows of a stage's input: its first table or spill argument (validate: the documents)."""
    for arg in args:
        if isinstance(arg, dict) and "documents" in arg:
            arg = arg["documents"]
        if isinstance(arg, pa.Table | Spill):
            return arg.num_rows
    return None


@dataclass
class RunLedger:
    cfg: RunConfig
    store: CheckpointStore
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    base_versions: dict[str, int | None] = field(default_factory=dict)  # before this run committed anything
    attempt_versions: dict[str, int | None] = field(default_factory=dict)  # when this attempt started
    fingerprint: str = ""
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    quarantine: list[pa.Table] = field(default_factory=list)
    outputs: dict[str, dict[str, Rows]] = field(default_factory=dict)  # per stage, in stage order
    failed_stage: str | None = None
    error: str | None = None
    executing: bool = False  # once a stage executes, every later stage executes too
    checked_by: str | None = None  # the stage the run's tables were handed to: its outputs are those tables

    @classmethod
    def open(cls, cfg: RunConfig) -> RunLedger:
        """Start (or resume) run `cfg.run_id`: its first start time, and the fingerprint of its inputs: the
        raw listing, the code version, and each table's version before this run committed anything."""
        refuse_succeeded(cfg.warehouse, cfg.run_id)
        store = CheckpointStore(cfg.warehouse, cfg.run_id)
        restrip = cfg.boilerplate.restrip
        manifest = store.record(cfg.raw, cfg.ingest.full, datetime.now(UTC), restrip)  # the CLI recorded it already
        started_at = datetime.fromisoformat(manifest["started_at"])
        attempt = manifest.get("attempts", 0) + 1
        params = {"raw": str(cfg.raw), "full": cfg.ingest.full, "restrip": restrip, "attempts": attempt}
        store.write_manifest({**manifest, **params})
        tables = [*(w.table for w in PLAN), RUNS]
        base = {t.name: base_version(cfg.warehouse, t, cfg.run_id) for t in tables}
        root = chain("", raw_fingerprint(cfg.raw), {k: v for k, v in base.items() if k != RUNS.name}, code_version())
        log.info("run %s: %s → %s (attempt %d)", cfg.run_id, cfg.raw, cfg.warehouse, attempt)
        return cls(cfg, store, started_at, base, versions(cfg.warehouse), root)

    @property
    def history(self) -> History:
        """The warehouse as the stages read it: every table at its version before this run committed anything."""
        return History.pinned(self.cfg.warehouse, self.base_versions)

    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[None]:
        """Time a stage, show its progress and closing line; turn any exception into StageFailed naming it."""
        start = time.perf_counter()
        self.stats.setdefault(name, {})
        try:
            with stage_progress(name, total):
                yield
        except Exception as exc:
            self.failed_stage, self.error = name, "".join(traceback.format_exception_only(exc)).strip()
            self.stats[name].update(getattr(exc, "stats", None) or {})  # e.g. the failed expectations of validate
            self.stats[name]["status"] = "failed"
            raise StageFailed(name, exc) from exc
        except BaseException:  # stopped from outside (SIGTERM, Ctrl-C, Prefect cancelling): never "succeeded"
            self.stats[name]["status"] = "interrupted"
            raise
        finally:
            self.stats[name]["seconds"] = round(time.perf_counter() - start, 3)
            # Arrow's allocator and glibc's keep freed memory for reuse; hand it back so the next stage starts low
            # (after validate of a 2 GB night: 1.29 GB resident → 0.74 GB, Arrow's pool alone).
            trim_memory()
            # the stage's worker processes leave with what they loaded (models, profiles, GX): not idle through
            # publish (bench_pipeline --n 10000: peak tree RSS 2,058 -> 1,706 MB); not waited for
            retire_workers(wait=False)
            self.stats[name].setdefault("status", "succeeded")
            log.info("%s", stage_line(name, self.stats[name]))

    def run(self, name: str, task: Task, *args: Any) -> Rows:
        """Run one stage, or reuse its checkpoint when complete and made from the same inputs, config and code;
        record its result and return the rows that go on. The task gets `out=`, the folder for its spills."""
        spec = SPECS[name]
        with self.stage(name, _records_in(args)):
            self._inject_fault(name)
            module = getattr(task, "fn", task).__module__
            self.fingerprint = chain(
                self.fingerprint, name, self.cfg.stage_fingerprint(spec.config), code_fingerprint(module)
            )
            result = self._reuse(name)
            if result is None:
                result = with_retries(task, spec, self.cfg)(*args, out=self.store.begin(name))
                self.store.save(name, self.fingerprint, result)
            return self.add(name, result)

    def _reuse(self, name: str) -> StageResult | None:
        self.executing = self.executing or name == self.cfg.from_stage
        result = None if self.executing else self.store.load(name, self.fingerprint)
        if result is None:
            self.executing = True
        else:
            self.stats[name]["status"] = "skipped"
            self.stats[name]["checkpoint"] = "reused"
        return result

    def _inject_fault(self, name: str) -> None:
        if self.cfg.fault == f"{name}:kill" and not self.cfg.fault.startswith(KILL_IN_PUBLISH):
            os.kill(os.getpid(), signal.SIGKILL)
        if self.cfg.fault == name:
            raise InjectedFault(f"injected fault at the start of stage {name} ($DOCPIPE_FAULT_STAGE)")

    def _kill_after_commit(self, table: str) -> None:
        """Fault drill: SIGKILL after the first table commit, or after the named table's (`publish:kill@TABLE`)."""
        wanted = self.cfg.fault.partition("@")[2]
        if not wanted or wanted == table:
            os.kill(os.getpid(), signal.SIGKILL)

    def add(self, name: str, result: StageResult) -> Rows:
        """Record a stage's result; return the rows that go on."""
        self.stats.setdefault(name, {}).update(result.stats)
        if result.quarantined.num_rows:
            self.quarantine.append(result.quarantined)
        self.outputs[name] = dict(result.outputs)
        return result.kept

    def tables(self, documents: Rows, checked_by: str | None = None) -> dict[str, Rows]:
        """Everything publish writes for this run: each table's rows from the stages that gave them, joined
        (strip's and dedupe's `duplicates`), but those the stage they were handed to returns (checked) in place
        of the others'. `checked_by`: the stage they are handed to now (validate)."""
        given: dict[str, Rows] = {}
        for stage, outputs in self.outputs.items():
            for table, rows in outputs.items():
                more = table in given and stage != self.checked_by
                given[table] = joined(given[table], rows) if more else rows
        self.checked_by = checked_by or self.checked_by
        quarantined = pa.concat_tables(self.quarantine) if self.quarantine else QUARANTINE.empty()
        return {**given, "documents": documents, "quarantine": quarantined}

    def publish(self, task: Task, documents: Rows) -> RunSummary:
        """Publish the run's tables, then its `runs` row (only when a table changed); summary, artifact, and
        clean-up of old checkpoints."""
        cfg = self.cfg
        publish_started = time.perf_counter()
        with self.stage("publish", _records_in((documents,))):
            counts = self.counts()
            self._inject_fault("publish")
            after_commit = self._kill_after_commit if cfg.fault.startswith(KILL_IN_PUBLISH) else None
            publish = with_retries(task, SPECS["publish"], cfg)
            after = publish(cfg.warehouse, self.tables(documents), cfg.run_id, after_commit, cfg.sizes)
            changed = changed_tables(self.base_versions, after)  # by this run, earlier attempts included
            self.stats["publish"].update(
                status="succeeded",
                tables_changed=len(changed),
                kept=counts["n_new"] + counts["n_updated"],
                seconds=round(time.perf_counter() - publish_started, 3),  # the `runs` row is written inside
            )
            row = self.run_row("succeeded", counts, after)
            if changed:
                publish_run_row(cfg.warehouse, row)
                refresh_analyst_db(cfg.warehouse)
            publish_run_summary(cfg.warehouse, row)
            self.store.save_stats("publish", self.fingerprint, self.stats["publish"])
            prune_checkpoints(cfg.warehouse, cfg.retention_days, datetime.now(UTC), keep=cfg.run_id)
        report = self._report()
        self._artifact(row, report)
        # what this attempt changed: a rerun of a run killed mid-publish lists only what it committed itself
        return RunSummary(cfg.run_id, "succeeded", row, changed_tables(self.attempt_versions, after), report=report)

    def record_failure(self, exc: StageFailed) -> None:
        """Write the failed run's `runs` row (always) and summary; attach the summary to the exception."""
        row = self.run_row("failed")
        publish_run_row(self.cfg.warehouse, row)
        refresh_analyst_db(self.cfg.warehouse)
        publish_run_summary(self.cfg.warehouse, row)
        report = self._report()
        self._artifact(row, report)
        exc.summary = RunSummary(self.cfg.run_id, "failed", row, [], exc.stage, self.error, report)

    def warm_report(self) -> None:
        """Import the run report's libraries and draw a first chart (matplotlib: ~0.8 s) on a thread of its own,
        while this process waits on a stage run by other processes (validate), instead of after publish."""

        def warm() -> None:
            with suppress(Exception):  # the report itself says what goes wrong (`_report`)
                from handoff.report import warm_up

                warm_up()

        threading.Thread(target=warm, name="warm-report", daemon=True).start()

    def _report(self) -> Path | None:
        """The run's HTML report; a failure to draw it is logged and does not undo a committed run."""
        try:
            from handoff.report import write_run_report  # matplotlib: imported when a report is written

            return write_run_report(self.cfg.warehouse, self.cfg.run_id)
        except Exception as exc:  # the run's data is already committed: report problems must not fail it
            logging.getLogger("docpipe").warning("run report not written: %s: %s", type(exc).__name__, exc)
            return None

    def counts(self) -> dict[str, int]:
        """Record counts of the run (schemas/runs.py `run_counts`); raises unless read + restripped = new +
        updated + unchanged + duplicates + quarantined."""
        counts = run_counts(self.stats)
        outcomes = sum(counts[k] for k in RUN_OUTCOMES)
        if outcomes != counts["n_read"] + counts["n_restripped"]:
            raise AssertionError(
                f"records do not reconcile: read {counts['n_read']} + restripped {counts['n_restripped']} "
                f"!= {outcomes} ({counts})"
            )
        return counts

    def partial_counts(self) -> dict[str, int]:
        """The counts of a run that stopped before publish: what the stages that finished had counted."""
        done = {stage: s for stage, s in self.stats.items() if s.get("status") in ("succeeded", "skipped")}
        return run_counts(done)

    def run_row(
        self, status: str, counts: dict[str, int] | None = None, table_versions: dict[str, int] | None = None
    ) -> dict[str, Any]:
        counts = counts or self.partial_counts()
        return {
            "run_id": self.cfg.run_id,
            "started_at": self.started_at,
            "finished_at": datetime.now(UTC),
            "status": status,
            "failed_stage": self.failed_stage,
            "error": self.error,
            **counts,
            "stage_stats": json.dumps(self.stats, default=str),
            "table_versions": list((table_versions or {}).items()) or None,
            "config_fingerprint": self.cfg.fingerprint(),
            "code_version": code_version(),
            "restrip": self.stats.get("strip_boilerplate", {}).get(RESTRIP),
        }

    def _artifact(self, row: dict[str, Any], report: Path | None) -> None:
        """The run's stage counts as a Markdown table artifact on the Prefect flow run."""
        if FlowRunContext.get() is None:
            return
        lines = [
            f"# docpipe run `{row['run_id']}`: {row['status']}",
            "",
            "| " + " | ".join(STAGE_COLUMNS) + " |",
            "|---|---|" + "--:|" * (len(STAGE_COLUMNS) - 2),
        ]
        lines += ["| " + " | ".join(cells) + " |" for cells in stage_rows(self.stats)]
        lines += ["", ", ".join(f"{k[2:]}={row[k]}" for k in RUN_COUNTS)]
        for label, path in (("run report", report), ("data docs", self.stats.get("validate", {}).get("report"))):
            if path:
                lines += ["", f"{label}: {Path(path).as_uri()}"]
        if row["error"]:
            lines += ["", f"**{row['failed_stage']} failed:** `{row['error']}`"]
        create_markdown_artifact(
            "\n".join(lines), key="docpipe-run-summary", description=f"Stage counts of run {row['run_id']}"
        )
