"""Run the pipeline's stages on labelled pages (read in place) for the eval scripts.

The pages are written to a temporary raw folder in one of the delivery shapes (bench/_shapes.py) and go through
the same ingest → strip_boilerplate → dedupe → extract path as a nightly run (no Prefect, no warehouse: an
empty history), and optionally validate (real Great Expectations, in memory). Every shape goes through
`run_pages`; results are keyed by the page's index in the given list.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _shapes import write_delivery  # noqa: E402

from schemas import BOILERPLATE_PAGES, DOCUMENTS, INGESTED_FILES  # noqa: E402
from tasks.dedupe import DedupeConfig, dedupe_pages  # noqa: E402
from tasks.extract import ExtractConfig, extract_fields  # noqa: E402
from tasks.ingest import IngestConfig, ingest_dumps  # noqa: E402
from tasks.strip_boilerplate import BoilerplateConfig, strip_boilerplate  # noqa: E402
from tasks.validate import TableExpectationFailed, ValidateConfig, validate_tables  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"


@dataclass
class CorpusRun:
    labels: list[dict]
    clean: dict[int, dict]  # page index → stg_clean row
    documents: dict[int, dict]  # page index → documents row (pages folded as duplicates are absent)
    projects: dict[str, dict]  # doc_id → projects row
    duplicates: list[dict]
    shape: str = "jsonl"
    ended_in: dict[int, str] = field(default_factory=dict)  # page index → doc_id it was published as or folded into
    quarantined: dict[int, list[str]] = field(default_factory=dict)  # page index → reason codes (any stage)
    failure: str | None = None  # a table-level validation failure (the night would have failed)


def load_corpus(corpus: Path = DEFAULT_CORPUS) -> tuple[list[dict], list[dict]]:
    """(pages, labels) of the labelled corpus, in file order."""
    pages = [json.loads(line) for line in (corpus / "pages.jsonl").open(encoding="utf-8")]
    labels = [json.loads(line) for line in (corpus / "labels.jsonl").open(encoding="utf-8")]
    return pages, labels


def _ended_in(documents: dict[int, dict], duplicates: list[dict], index: dict[str, int]) -> dict[int, str]:
    out = {i: doc["doc_id"] for i, doc in documents.items()}
    for dup in duplicates:
        if dup["source_uri"] in index:
            out[index[dup["source_uri"]]] = dup["duplicate_of"]
    return out


def run_pages(
    pages: list[dict],
    shape: str = "jsonl",
    labels: list[dict] | None = None,
    boilerplate: BoilerplateConfig | None = None,
    extract: ExtractConfig | None = None,
    dedupe: DedupeConfig | None = None,
    validate: bool = False,
) -> CorpusRun:
    """Deliver `pages` ({"url", "text"}) in `shape` and run the stages on them; `labels` are carried along."""
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp)
        index = write_delivery(pages, shape, raw)
        ingested = ingest_dumps(raw, INGESTED_FILES.empty(), IngestConfig(), "eval", now)
    clean = strip_boilerplate(ingested.kept, BOILERPLATE_PAGES.empty(), boilerplate or BoilerplateConfig())
    unique = dedupe_pages(clean.kept, DOCUMENTS.empty().select(["doc_id", "content_hash"]), dedupe or DedupeConfig())
    extracted = extract_fields(unique.kept, extract or ExtractConfig())
    tables = {"documents": extracted.kept, **extracted.outputs, "duplicates": unique.outputs["duplicates"]}
    rejected = [ingested.quarantined, clean.quarantined]
    failure = None
    if validate:
        logging.disable(logging.INFO)  # Great Expectations' INFO lines would drown the eval's table
        try:
            checked = validate_tables(tables, ValidateConfig(), run_time=now)
        except TableExpectationFailed as exc:  # the night fails: nothing would be published
            failure = str(exc)
        else:
            tables = {"documents": checked.kept, **checked.outputs}
            rejected.append(checked.quarantined)
        finally:
            logging.disable(logging.NOTSET)
    documents = {index[r["source_uri"]]: r for r in tables["documents"].to_pylist()}
    duplicates = tables["duplicates"].to_pylist()
    quarantined: dict[int, list[str]] = {}
    for part in rejected:
        for row in part.to_pylist():
            quarantined.setdefault(index[row["source_uri"]], []).append(row["reason"])
    return CorpusRun(
        labels=labels or [],
        clean={index[r["source_uri"]]: r for r in clean.kept.to_pylist()},
        documents=documents,
        projects={r["doc_id"]: r for r in tables["projects"].to_pylist()},
        duplicates=duplicates,
        shape=shape,
        ended_in=_ended_in(documents, duplicates, index),
        quarantined=quarantined,
        failure=failure,
    )


def run_corpus(
    corpus: Path = DEFAULT_CORPUS,
    boilerplate: BoilerplateConfig | None = None,
    extract: ExtractConfig | None = None,
    shape: str = "jsonl",
    dedupe: DedupeConfig | None = None,
) -> CorpusRun:
    """The labelled corpus delivered in `shape`, through the stages."""
    pages, labels = load_corpus(corpus)
    return run_pages(pages, shape, labels, boilerplate=boilerplate, extract=extract, dedupe=dedupe)


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
