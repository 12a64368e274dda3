"""Run bookkeeping: collects each stage's stats, quarantine rows and outputs, checks that records reconcile,
and builds the `runs` row."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from flows.config import RunConfig
from flows.settings import code_version
from schemas import QUARANTINE
from tasks._stage import StageResult

STAGES = ("ingest", "strip_boilerplate", "dedupe", "extract", "validate", "publish")


class StageFailed(RuntimeError):
    """A stage raised: the run stops and is recorded as failed."""

    def __init__(self, stage: str, error: BaseException):
        super().__init__(f"stage {stage!r} failed: {type(error).__name__}: {error}")
        self.stage = stage
        self.error = error


@dataclass
class RunLedger:
    cfg: RunConfig
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    quarantine: list[pa.Table] = field(default_factory=list)
    outputs: dict[str, pa.Table] = field(default_factory=dict)
    failed_stage: str | None = None
    error: str | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage; turn any exception into StageFailed naming the stage."""
        start = time.perf_counter()
        self.stats.setdefault(name, {})
        try:
            yield
        except Exception as exc:
            self.failed_stage, self.error = name, "".join(traceback.format_exception_only(exc)).strip()
            self.stats[name]["status"] = "failed"
            raise StageFailed(name, exc) from exc
        finally:
            self.stats[name]["seconds"] = round(time.perf_counter() - start, 3)
        self.stats[name].setdefault("status", "succeeded")

    def add(self, name: str, result: StageResult) -> pa.Table:
        """Record a stage's result; return the rows that go on."""
        self.stats.setdefault(name, {}).update(result.stats)
        if result.quarantined.num_rows:
            self.quarantine.append(result.quarantined)
        self.outputs.update(result.outputs)
        return result.kept

    def tables(self, documents: pa.Table) -> dict[str, pa.Table]:
        """Everything publish writes for this run."""
        quarantined = pa.concat_tables(self.quarantine) if self.quarantine else QUARANTINE.empty()
        return {**self.outputs, "documents": documents, "quarantine": quarantined}

    def counts(self, published: pa.Table, updated_ids: set[str]) -> dict[str, int]:
        """Record counts of the run; raises if read != published + unchanged + duplicates + quarantined."""
        s = self.stats
        n_updated = sum(1 for d in published.column("doc_id").to_pylist() if d in updated_ids)
        counts = {
            "n_read": s["ingest"]["in"],
            "n_new": published.num_rows - n_updated,
            "n_updated": n_updated,
            "n_unchanged": s["dedupe"]["unchanged"],
            "n_duplicates": s["dedupe"]["duplicates"],
            "n_quarantined": s["ingest"]["quarantined"]
            + s["strip_boilerplate"]["quarantined"]
            + s["validate"]["documents_rejected"],
        }
        total = sum(v for k, v in counts.items() if k != "n_read")
        if total != counts["n_read"]:
            raise AssertionError(f"records do not reconcile: read {counts['n_read']} != {total} ({counts})")
        return counts

    def run_row(
        self, status: str, counts: dict[str, int] | None = None, table_versions: dict[str, int] | None = None
    ) -> dict[str, Any]:
        counts = counts or {
            k: 0 for k in ("n_read", "n_new", "n_updated", "n_unchanged", "n_duplicates", "n_quarantined")
        }
        if status == "failed" and "ingest" in self.stats and "in" in self.stats["ingest"]:
            counts["n_read"] = self.stats["ingest"]["in"]
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
        }
