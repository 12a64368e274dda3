"""RunConfig: every stage's typed config, grouped; built from CLI flags by `build_config`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flows.settings import DEFAULT_RAW, DEFAULT_WAREHOUSE, code_version, new_run_id, resolve_raw, resolve_warehouse
from tasks.dedupe import DedupeConfig
from tasks.extract import ExtractConfig
from tasks.ingest import IngestConfig
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

    def fingerprint(self) -> str:
        """Hash of every stage config (paths and run id excluded) and the code version."""
        stages = {k: v for k, v in asdict(self).items() if k not in ("raw", "warehouse", "run_id")}
        stages["ingest"].pop("full", None)
        blob = json.dumps({"stages": stages, "code": code_version()}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_config(
    raw: Path | None = None, warehouse: Path | None = None, run_id: str | None = None, full: bool = False
) -> RunConfig:
    """RunConfig from CLI flags (paths: see flows.settings.resolve_raw / resolve_warehouse)."""
    return RunConfig(
        raw=resolve_raw(raw),
        warehouse=resolve_warehouse(warehouse),
        run_id=run_id or new_run_id(),
        ingest=IngestConfig(full=full),
    )
