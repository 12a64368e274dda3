"""Run the pipeline's stages on the labelled corpus (read in place) for the eval scripts.

The corpus is a JSONL dump with URLs, so it goes through the same ingest → strip_boilerplate → dedupe → extract
path as a nightly run (no Prefect, no warehouse: an empty history).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from schemas import BOILERPLATE_PAGES, DOCUMENTS, INGESTED_FILES  # noqa: E402
from tasks.dedupe import DedupeConfig, dedupe_pages  # noqa: E402
from tasks.extract import ExtractConfig, extract_fields  # noqa: E402
from tasks.ingest import IngestConfig, ingest_dumps  # noqa: E402
from tasks.strip_boilerplate import BoilerplateConfig, strip_boilerplate  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"


@dataclass
class CorpusRun:
    labels: list[dict]
    clean: dict[int, dict]  # page index → stg_clean row
    documents: dict[int, dict]  # page index → documents row (pages folded as duplicates are absent)
    projects: dict[str, dict]  # doc_id → projects row
    duplicates: list[dict]


def _index(source_uri: str) -> int:
    return int(source_uri.rsplit("#line=", 1)[1]) - 1


def run_corpus(
    corpus: Path = DEFAULT_CORPUS, boilerplate: BoilerplateConfig | None = None, extract: ExtractConfig | None = None
) -> CorpusRun:
    labels = [json.loads(line) for line in (corpus / "labels.jsonl").open()]
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp)
        (raw / "pages.jsonl").symlink_to((corpus / "pages.jsonl").resolve())
        now = datetime.now(UTC)
        pages = ingest_dumps(raw, INGESTED_FILES.empty(), IngestConfig(), "eval", now).kept
    clean = strip_boilerplate(pages, BOILERPLATE_PAGES.empty(), boilerplate or BoilerplateConfig())
    unique = dedupe_pages(clean.kept, DOCUMENTS.empty().select(["doc_id", "content_hash"]), DedupeConfig())
    extracted = extract_fields(unique.kept, extract or ExtractConfig())
    return CorpusRun(
        labels=labels,
        clean={_index(r["source_uri"]): r for r in clean.kept.to_pylist()},
        documents={_index(r["source_uri"]): r for r in extracted.kept.to_pylist()},
        projects={r["doc_id"]: r for r in extracted.outputs["projects"].to_pylist()},
        duplicates=unique.outputs["duplicates"].to_pylist(),
    )


def config_with(cls, overrides: list[str]):
    """A config dataclass with FIELD=VALUE overrides (values parsed as the field's default type)."""
    base = cls()
    values = {}
    for item in overrides:
        name, _, value = item.partition("=")
        values[name] = type(getattr(base, name))(value)
    return dataclasses.replace(base, **values)


def norm(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()
