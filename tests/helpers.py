"""Test helpers: paths to the real data in ../shared, and small builders of stage inputs."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from schemas import BOILERPLATE_PAGES, INGESTED_FILES
from tasks.ingest import IngestConfig, ingest_dumps
from tasks.strip_boilerplate import BoilerplateConfig, strip_boilerplate

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("DOCPIPE_SHARED", ROOT.parent / "shared"))
SEEDS = SHARED / "seeds"
CORPUS = SHARED / "corpus"
if not (SEEDS.is_dir() and CORPUS.is_dir()):
    raise RuntimeError(f"test data not found: expected ../shared beside the repo at {SHARED} (or set DOCPIPE_SHARED)")
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


def seed_files() -> list[Path]:
    return sorted(SEEDS.glob("*.txt"))


def seed_dir(tmp_path: Path) -> Path:
    """A raw folder holding a copy of the five seed pages."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for f in seed_files():
        shutil.copy(f, raw / f.name)
    return raw


def corpus_pages() -> list[dict]:
    with (CORPUS / "pages.jsonl").open() as fh:
        return [json.loads(line) for line in fh]


def corpus_labels() -> list[dict]:
    with (CORPUS / "labels.jsonl").open() as fh:
        return [json.loads(line) for line in fh]


def ingest(raw: Path, run_id: str = "test-run", registry: pa.Table | None = None, **cfg):
    return ingest_dumps(
        raw, registry if registry is not None else INGESTED_FILES.empty(), IngestConfig(**cfg), run_id, NOW
    )


def clean(pages: pa.Table, samples: pa.Table | None = None, **cfg):
    return strip_boilerplate(
        pages, samples if samples is not None else BOILERPLATE_PAGES.empty(), BoilerplateConfig(**cfg)
    )
