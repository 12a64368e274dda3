"""Extract typed fields from clean pages.

In: stg_unique (schemas/stg_pages.py). Out: `documents` rows (kept), `projects`, `contacts` and `mentions`
rows in `outputs`. Quarantines: none (a field that cannot be parsed is null; validation decides what is fatal).
State: none.

Rules live in one module per family: page_fields (title, doc_type, dateline, dates, e-mails), language (langdetect),
project_fields (IDF key/value pages), contact_fields (contact blocks), countries (names → ISO codes),
mentions (money, people counts, years with sentence offsets).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas import CONTACTS, DOCUMENTS, MENTIONS, PROJECTS, STG_UNIQUE
from tasks._spill import Rows, SpillWriter, chunks
from tasks._stage import StageResult, quarantine_table
from tasks.extract.contact_fields import parse_contacts
from tasks.extract.countries import country_codes
from tasks.extract.language import detect_language, prose_first
from tasks.extract.mentions import find_mentions
from tasks.extract.page_fields import (
    classify,
    find_dateline,
    find_emails,
    find_published_date,
    pick_title,
)
from tasks.extract.project_fields import count_fields, project_row

STAGE = "extract"
# documents columns that come as they are from the page (stg_unique): the rest is extracted here.
_CARRIED = tuple(c for c in DOCUMENTS.column_names if c in STG_UNIQUE.column_names)


@dataclass(frozen=True, slots=True)
class ExtractConfig:
    language_seed: int = 0  # langdetect is random without a seed
    max_language_chars: int = 300  # clean-body prefix; 300 and 500 score alike on the corpus (eval_extract.py)
    min_language_letters: int = 20  # shorter bodies get `und`
    language_trials: int = 3  # langdetect's random restarts (default 7): 3 loses nothing on the corpus
    min_prose_words: int = 8  # body lines this long that end like a sentence are read first for the language
    workers: int = 0  # processes for large batches; 0 = one per CPU
    min_parallel_rows: int = 5_000  # below this, worker start-up (~1 s) costs more than it saves
    batch_rows: int = 2_000


def _document(row: dict[str, Any], cfg: ExtractConfig) -> tuple[dict[str, Any], dict | None, list[dict], list[dict]]:
    text = row["text"]
    header = (row["raw_text"] or "").splitlines()[: row["n_header_lines"] or 0]
    title, title_line, title_source = pick_title(text, row["title_hint"], header, row["url"])
    body = "\n".join(text.splitlines()[title_line + 1 :]) if title_line >= 0 else text
    language, confidence = detect_language(
        prose_first(body or text, cfg.min_prose_words),
        cfg.language_seed,
        cfg.max_language_chars,
        cfg.min_language_letters,
        cfg.language_trials,
    )
    dateline = find_dateline(text, title_line)
    countries = country_codes(f"{title}\n{text}")
    # Fields are parsed from the page as delivered: the block is page data whatever the template learner decided.
    page = row["raw_text"] or text
    project = project_row(row["doc_id"], page, row["run_id"])
    doc = {
        **{k: row[k] for k in _CARRIED},
        "title": title,
        "title_source": title_source,
        "doc_type": classify(
            row["url"], count_fields(page) if project else 0, bool(row["contact_text"]), dateline, header
        ),
        "language": language,
        "language_confidence": confidence,
        "word_count": len(text.split()),
        "emails": find_emails(text, row["contact_text"]) or None,
        "dateline": dateline,
        "published_date": find_published_date(text, title_line),
        "countries": countries or None,
    }
    people = parse_contacts(row["doc_id"], row["contact_text"], row["run_id"])
    return doc, project, people, find_mentions(row["doc_id"], text, row["run_id"])


def _extract_rows(rows: list[dict[str, Any]], cfg: ExtractConfig) -> tuple[list, list, list, list]:
    """documents, projects, contacts and mentions rows of a list of pages (runs in a worker process too)."""
    docs, projects, contacts, mentions = [], [], [], []
    for row in rows:
        doc, project, people, numbers = _document(row, cfg)
        docs.append(doc)
        if project:
            projects.append(project)
        contacts.extend(people)
        mentions.extend(numbers)
    return docs, projects, contacts, mentions


def _extract_batch(batch: pa.RecordBatch, cfg: ExtractConfig) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """documents, projects, contacts and mentions of one batch, as Arrow tables (cheap to send between
    processes, unlike lists of dicts)."""
    docs, projects, contacts, mentions = _extract_rows(batch.to_pylist(), cfg)
    return DOCUMENTS.conform(docs), PROJECTS.conform(projects), CONTACTS.conform(contacts), MENTIONS.conform(mentions)


def _to_ipc(batch: pa.RecordBatch) -> pa.Buffer:
    """The batch alone, in Arrow IPC: pickling a slice would carry the whole table's buffers to the worker."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue()


def _extract_ipc(data: pa.Buffer, cfg: ExtractConfig) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    return _extract_batch(pa.ipc.open_stream(data).read_next_batch(), cfg)


def _results(pages: Rows, cfg: ExtractConfig) -> Iterator[tuple[pa.Table, pa.Table, pa.Table, pa.Table]]:
    """Per-batch results in input order; batches go to `workers` processes when there are enough rows, with at
    most two batches per worker in flight (memory stays bounded however many rows come)."""
    workers = cfg.workers or os.cpu_count() or 1
    batches = (b for part in chunks(pages) for b in part.to_batches(max_chunksize=cfg.batch_rows))
    if workers <= 1 or pages.num_rows < cfg.min_parallel_rows:
        yield from (_extract_batch(b, cfg) for b in batches)
        return
    # spawn, not fork: the flow process runs threads (Prefect), which fork would copy mid-lock.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque = deque()
        for batch in batches:
            pending.append(pool.submit(_extract_ipc, _to_ipc(batch), cfg))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


_OUTPUTS = (DOCUMENTS, PROJECTS, CONTACTS, MENTIONS)


def extract_fields(pages: Rows, cfg: ExtractConfig, out: Path | None = None) -> StageResult:
    """documents, projects, contacts and mentions rows for each page (order kept). With `out`, the four tables
    are written as spills (documents: out/kept.parquet; the others: out/outputs/<name>.parquet) as they come."""
    if out is None:
        parts = list(_results(pages, cfg))
        tables: list[Rows] = [
            pa.concat_tables([p[i] for p in parts]) if parts else table.empty() for i, table in enumerate(_OUTPUTS)
        ]
    else:
        paths = [Path(out) / "kept.parquet", *(Path(out) / "outputs" / f"{t.name}.parquet" for t in _OUTPUTS[1:])]
        writers = [SpillWriter(path, table) for path, table in zip(paths, _OUTPUTS, strict=True)]
        for result in _results(pages, cfg):
            for writer, part in zip(writers, result, strict=True):
                writer.write(part)
        tables = [w.close() for w in writers]
    documents, projects, contacts, mentions = tables
    stats = {"projects": projects.num_rows, "contacts": contacts.num_rows, "mentions": mentions.num_rows}
    return StageResult(
        documents,
        quarantine_table([]),
        stats,
        outputs={"projects": projects, "contacts": contacts, "mentions": mentions},
        n_in=pages.num_rows,
    )


@task(name="extract", cache_policy=NO_CACHE)
def extract_fields_task(pages: Rows, cfg: ExtractConfig, out: Path | None = None) -> StageResult:
    return extract_fields(pages, cfg, out)
