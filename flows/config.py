"""RunConfig: every stage's typed config, grouped; built from CLI flags by `build_config`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flows.runner import RunnerConfig
from flows.settings import (
    DEFAULT_RAW,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_WAREHOUSE,
    checkpoint_retention_days,
    code_version,
    fault_injection,
    new_run_id,
    resolve_raw,
    resolve_warehouse,
)
from schemas.runs import RESTRIP_AUTO
from tasks.dedupe import DedupeConfig
from tasks.extract import ExtractConfig
from tasks.ingest import IngestConfig
from tasks.sizes import Sizes
from tasks.strip_boilerplate import BoilerplateConfig
from tasks.validate import ValidateConfig


@dataclass(frozen=True, slots=True)
class RunConfig:
    raw: Path = DEFAULT_RAW
    warehouse: Path = DEFAULT_WAREHOUSE
    run_id: str = ""
    ingest: IngestConfig = field(default_factory=IngestConfig)
    boilerplate: BoilerplateConfig = field(default_factory=BoilerplateConfig)
    dedupe: DedupeConfig = field(default_factory=DedupeConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    validate: ValidateConfig = field(default_factory=ValidateConfig)
    from_stage: str = ""  # rerun: execute this stage and every later one even if checkpointed
    fault: str = ""  # fault injection (flows.settings.fault_injection); never set in production
    retention_days: int = DEFAULT_RETENTION_DAYS  # stage checkpoints of older runs are deleted
    max_retries: int = 2  # Prefect retries of I/O stages on transient errors (flows/stages.py)
    retry_backoff_seconds: float = 2.0  # first retry delay; doubles each retry
    runner: RunnerConfig = field(default_factory=RunnerConfig)  # where shard tasks run (flows/runner.py)
    sizes: Sizes = field(default_factory=Sizes)  # rows a task takes and a stage holds at once (tasks/sizes.py)

    def fingerprint(self) -> str:
        """Hash of every stage config (paths, run id and run-control fields excluded) and the code version."""
        stages = {k: v for k, v in asdict(self).items() if k not in _NOT_STAGE_CONFIG}
        stages["ingest"].pop("full", None)
        blob = json.dumps({"stages": stages, "code": code_version()}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def stage_fingerprint(self, config_name: str) -> str:
        """Hash of one stage's config (`config_name` is a field of RunConfig, e.g. "boilerplate")."""
        blob = json.dumps(asdict(getattr(self, config_name)), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


_NOT_STAGE_CONFIG = (
    "raw",
    "warehouse",
    "run_id",
    "from_stage",
    "fault",
    "retention_days",
    "max_retries",
    "retry_backoff_seconds",
    "runner",
    "sizes",
)


def build_config(
    raw: Path | None = None,
    warehouse: Path | None = None,
    run_id: str | None = None,
    full: bool = False,
    from_stage: str | None = None,
    runner: RunnerConfig | None = None,
    shard_rows: int | None = None,
    chunk_rows: int | None = None,
    restrip: str | None = None,
    shard_bytes: int | None = None,
) -> RunConfig:
    """RunConfig from CLI flags (paths: see flows.settings.resolve_raw / resolve_warehouse)."""
    return RunConfig(
        raw=resolve_raw(raw),
        warehouse=resolve_warehouse(warehouse),
        run_id=run_id or new_run_id(),
        ingest=IngestConfig(full=full),
        boilerplate=BoilerplateConfig(restrip=restrip or RESTRIP_AUTO),
        from_stage=from_stage or "",
        fault=fault_injection(),
        retention_days=checkpoint_retention_days(),
        runner=runner or RunnerConfig(),
        sizes=_sizes(shard_rows, chunk_rows, shard_bytes),
    )


def _sizes(shard_rows: int | None, chunk_rows: int | None, shard_bytes: int | None = None) -> Sizes:
    """The defaults of `Sizes`, with the sizes given on the command line (or to the flow)."""
    given = {"shard_rows": shard_rows, "chunk_rows": chunk_rows, "shard_bytes": shard_bytes}
    return Sizes(**{name: value for name, value in given.items() if value})
