"""Per-run stage checkpoints under warehouse/_runs/<run_id>/, so `docpipe rerun` resumes where a run stopped.

Layout of a run folder:
    run.json                     parameters of the run (raw, full, restrip, started_at): a rerun reuses them
    <stage>/kept.parquet         the rows the stage passed on (large ones written there by the stage as it went)
    <stage>/quarantine.parquet   the rows it quarantined
    <stage>/outputs/<name>.parquet  its extra outputs (state rows, child tables)
    <stage>/checkpoint.json      stats, fingerprint and the files holding each output, written last: a
                                 checkpoint without it is incomplete
    summary.json                 the run's `runs` row (tasks/publish.py)

A stage's outputs are handed on as spills (tasks/_spill.py): a reused checkpoint is never loaded into memory,
and a stage whose output equals an input (nothing rejected) may point at the earlier stage's file.

A stage's fingerprint chains the previous stage's fingerprint with the stage's config, a hash of its code (the
source files of its module, of the shared plumbing and of schemas/) and its outside inputs: the raw folder
listing (path, size, mtime) for ingest, and for stages that read warehouse state the Delta version they read,
ignoring commits made by this very run (a run killed mid-publish must still find its checkpoints valid).
No DataFrame is ever hashed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from schemas.runs import RESTRIP_AUTO
from tasks._spill import Rows, Spill
from tasks._stage import StageResult
from tasks._warehouse import RUN_ID_KEY, RUNS_DIR, open_delta, run_folder

MANIFEST = "run.json"
COMPLETE = "checkpoint.json"
# What every stage shares: the modules at the top of tasks/ (identity, history, spills, shards, sizes, …; a new
# one is covered without being listed) and every schema.
_SHARED_CODE = ("tasks", "schemas")
_ROOT = Path(__file__).resolve().parent.parent


def runs_root(warehouse: Path) -> Path:
    return Path(warehouse) / RUNS_DIR


def _sha(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def stage_source_files(module_name: str) -> list[Path]:
    """Every source file of the stage that `module_name` belongs to: the whole package `tasks.<stage>` (wherever
    in it the task is defined), or the module itself for a one-file stage."""
    parts = module_name.split(".")
    stage = sys.modules.get(".".join(parts[:2]) if parts[0] == "tasks" else module_name)
    file = Path(getattr(stage, "__file__", "") or "")
    if not file.is_file():
        return []
    return sorted(file.parent.rglob("*.py")) if file.name == "__init__.py" else [file]


def shared_source_files() -> list[Path]:
    """The source files every stage's fingerprint covers besides its own package."""
    return [file for shared in _SHARED_CODE for file in sorted((_ROOT / shared).glob("*.py"))]


def code_fingerprint(module_name: str) -> str:
    """Hash of the source of a stage (a package: all its files) and of the code every stage shares."""
    files = stage_source_files(module_name) + shared_source_files()
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def raw_fingerprint(raw: Path) -> str:
    """Hash of the raw folder's listing: relative path, size and mtime of every file (contents are not read)."""
    raw = Path(raw)
    listing = []
    for folder, _, names in os.walk(raw):  # links are listed as themselves, never followed (as ingest does)
        for name in names:
            path = Path(folder) / name
            try:
                stat = path.lstat()
            except FileNotFoundError:  # gone since the walk listed it
                continue
            listing.append((path.relative_to(raw).as_posix(), stat.st_size, stat.st_mtime_ns))
    return _sha(sorted(listing))


def base_version(warehouse: Path, table, run_id: str) -> int | None:
    """The table's latest version not committed by `run_id` (None: no such version)."""
    dt = open_delta(warehouse, table)
    if dt is None:
        return None
    for commit in dt.history():  # newest first
        if commit.get(RUN_ID_KEY) != run_id:
            return commit["version"]
    return None


def chain(previous: str, *parts: Any) -> str:
    return _sha(previous, *parts)


@dataclass(frozen=True, slots=True)
class CheckpointStore:
    """The checkpoints of one run."""

    warehouse: Path
    run_id: str

    @property
    def root(self) -> Path:
        return run_folder(self.warehouse, self.run_id)

    def manifest(self) -> dict[str, Any] | None:
        path = self.root / MANIFEST
        return json.loads(path.read_text()) if path.is_file() else None

    def write_manifest(self, params: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _write_json(self.root / MANIFEST, params)

    def record(self, raw: Path, full: bool, now: datetime, restrip: str = RESTRIP_AUTO) -> dict[str, Any]:
        """Record the run (id, raw folder and its listing's hash, --full, --restrip, first start time) unless it
        already is: from then on `docpipe rerun <id>` can resume it, whenever it is killed. Returns the manifest."""
        manifest = self.manifest()
        if manifest is None:
            manifest = {
                "run_id": self.run_id,
                "raw": str(raw),
                "raw_listing": raw_fingerprint(raw),
                "full": full,
                "restrip": restrip,
                "started_at": now.isoformat(),
                "attempts": 0,
            }
            self.write_manifest(manifest)
        return manifest

    def begin(self, stage: str) -> Path:
        """An empty folder for the stage's files (its spills); any earlier, incomplete attempt is removed."""
        folder = self.root / stage
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "outputs").mkdir(parents=True)
        return folder

    def load(self, stage: str, fingerprint: str) -> StageResult | None:
        """The stage's checkpointed result, if complete and made with this fingerprint (outputs as spills)."""
        meta_path = self.root / stage / COMPLETE
        if not meta_path.is_file():
            return None
        meta = json.loads(meta_path.read_text())
        files = {"kept": meta.get("kept"), **meta.get("outputs", {})} if isinstance(meta.get("outputs"), dict) else {}
        if meta.get("fingerprint") != fingerprint or not files.get("kept"):
            return None
        if not all((self.root / f).exists() for f in files.values()):
            return None
        spills = {name: Spill(self.root / f) for name, f in files.items()}
        kept = spills.pop("kept")
        quarantined = pq.read_table(self.root / stage / "quarantine.parquet")
        return StageResult(kept, quarantined, meta["stats"], spills)

    def save(self, stage: str, fingerprint: str, result: StageResult) -> None:
        """Persist the stage's result (tables not yet on disk are written now); the marker is written last."""
        folder = self.root / stage
        (folder / "outputs").mkdir(parents=True, exist_ok=True)
        files = {"kept": self._file(result.kept, folder / "kept.parquet")}
        for name, rows in result.outputs.items():
            files[name] = self._file(rows, folder / "outputs" / f"{name}.parquet")
        pq.write_table(result.quarantined, folder / "quarantine.parquet")
        meta = {"fingerprint": fingerprint, "stats": result.stats, "kept": files.pop("kept"), "outputs": files}
        _write_json(folder / COMPLETE, meta)

    def _file(self, rows: Rows, path: Path) -> str:
        """Path (relative to the run folder) of the file holding `rows`: a spill's own, or `path` written now."""
        if isinstance(rows, Spill):
            return Path(rows.path).resolve().relative_to(self.root.resolve()).as_posix()
        pq.write_table(rows, path)
        return path.relative_to(self.root).as_posix()

    def save_stats(self, stage: str, fingerprint: str, stats: dict[str, Any]) -> None:
        """A stage that keeps no data (publish) records only its stats."""
        folder = self.root / stage
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / COMPLETE, {"fingerprint": fingerprint, "stats": stats, "outputs": {}})


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    tmp.replace(path)


def prune_checkpoints(warehouse: Path, keep_days: int, now: datetime, keep: str) -> list[str]:
    """Delete the stage checkpoints of runs started more than `keep_days` ago (their run.json and summary.json
    stay, so `docpipe runs` still lists them); never those of run `keep`. Returns the pruned run ids."""
    pruned = []
    cutoff = now - timedelta(days=keep_days)
    root = runs_root(warehouse)
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        manifest = folder / MANIFEST
        if folder.name == keep or not manifest.is_file():
            continue
        started = datetime.fromisoformat(json.loads(manifest.read_text())["started_at"])
        stages = [p for p in folder.iterdir() if p.is_dir()]
        if started.astimezone(UTC) < cutoff and stages:
            for stage in stages:
                shutil.rmtree(stage)
            pruned.append(folder.name)
    return pruned
