"""Test helpers: paths to the real data in ../shared, and small builders of stage inputs.

Without ../shared (a clone outside the team), whatever needs the data skips with one reason: importing SHARED,
SEEDS or CORPUS from here skips the importing module at collection, and the helpers that read the data skip the
test that calls them. With DOCPIPE_REQUIRE_SHARED=1 (set by .ci/run) the missing data is an error instead, so CI
never passes by skipping.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from schemas import BOILERPLATE_PAGES, INGESTED_FILES
from tasks.ingest import IngestConfig, ingest_dumps
from tasks.strip_boilerplate import BoilerplateConfig, strip_boilerplate

ROOT = Path(__file__).resolve().parent.parent
_SHARED = Path(os.environ.get("DOCPIPE_SHARED", ROOT.parent / "shared"))
_DATA_PATHS = {"SHARED": _SHARED, "SEEDS": _SHARED / "seeds", "CORPUS": _SHARED / "corpus"}
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


def need_shared() -> Path:
    """The ../shared folder; skips the calling test (or module, at collection) when it is absent."""
    if not (_DATA_PATHS["SEEDS"].is_dir() and _DATA_PATHS["CORPUS"].is_dir()):
        message = f"needs the test data in ../shared (not found at {_SHARED}; set DOCPIPE_SHARED)"
        if os.environ.get("DOCPIPE_REQUIRE_SHARED") == "1":
            pytest.fail(f"{message}, and DOCPIPE_REQUIRE_SHARED=1 forbids skipping", pytrace=False)
        pytest.skip(message, allow_module_level=True)
    return _SHARED


def __getattr__(name: str) -> Path:
    """SHARED, SEEDS and CORPUS: a module that imports one needs the data (PEP 562 module attribute)."""
    if name in _DATA_PATHS:
        need_shared()
        return _DATA_PATHS[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def seed_files() -> list[Path]:
    return sorted((need_shared() / "seeds").glob("*.txt"))


def seed_dir(tmp_path: Path) -> Path:
    """A raw folder holding a copy of the five seed pages."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for f in seed_files():
        shutil.copy(f, raw / f.name)
    return raw


def corpus_pages() -> list[dict]:
    with (need_shared() / "corpus" / "pages.jsonl").open() as fh:
        return [json.loads(line) for line in fh]


def corpus_labels() -> list[dict]:
    with (need_shared() / "corpus" / "labels.jsonl").open() as fh:
        return [json.loads(line) for line in fh]


def ingest(raw: Path, run_id: str = "test-run", registry: pa.Table | None = None, **cfg):
    return ingest_dumps(
        raw, registry if registry is not None else INGESTED_FILES.empty(), IngestConfig(**cfg), run_id, NOW
    )


def clean(pages: pa.Table, samples: pa.Table | None = None, **cfg):
    return strip_boilerplate(
        pages, samples if samples is not None else BOILERPLATE_PAGES.empty(), BoilerplateConfig(**cfg)
    )
