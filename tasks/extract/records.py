"""One page → its documents row, its projects row (if any), its contacts and mentions rows."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from schemas import CONTACTS, MENTIONS, PROJECTS, STG_UNIQUE
from schemas.stg_pages import STG_DOCUMENTS
from tasks._stage import raw_keys
from tasks.extract.config import ExtractConfig
from tasks.extract.contact_fields import parse_contacts
from tasks.extract.countries import country_codes
from tasks.extract.language import detect_languages, prose_first_of_lines
from tasks.extract.mentions import find_mentions
from tasks.extract.page_fields import (
    classify,
    find_dateline,
    find_emails,
    find_published_date,
    pick_title,
    text_lines,
)
from tasks.extract.project_fields import count_fields, project_row

OUTPUTS = (STG_DOCUMENTS, PROJECTS, CONTACTS, MENTIONS)  # what extract writes, documents (+ is_update) first
# documents columns no field rule reads, carried as Arrow columns (~27 fingerprints a page: as Python ints they
# cost more than the rules reading the row)
CARRIED_AS_ARROW = ("line_keys",)
RAW_KEY = "raw_key"  # hashed from the batch's raw_text buffers (tasks/_stage.raw_keys)
# documents columns that come as they are from the page (stg_unique, is_update included): the rest is extracted here.
CARRIED = tuple(c for c in STG_DOCUMENTS.column_names if c in STG_UNIQUE.column_names and c not in CARRIED_AS_ARROW)


def page_rows(row: dict[str, Any], cfg: ExtractConfig) -> tuple[dict[str, Any], dict | None, list, list, str]:
    """The page's documents row (language not yet filled), projects row (or None), contacts and mentions rows,
    and the text its language is detected on."""
    text = row["text"]
    header = (row["raw_text"] or "").splitlines()[: row["n_header_lines"] or 0]
    title, title_line, title_source = pick_title(text, row["title_hint"], header, row["url"])
    lines = text_lines(text)
    body = lines[title_line + 1 :] if title_line >= 0 else lines
    if not body or body == [""]:  # an empty body: the whole text
        body = lines
    dateline = find_dateline(text, title_line)
    # Fields are parsed from the page as delivered: the block is page data whatever the template learner decided.
    page = row["raw_text"] or text
    project = project_row(row["doc_id"], page, row["run_id"])
    doc = {
        **{k: row[k] for k in CARRIED},
        "title": title,
        "title_source": title_source,
        "doc_type": classify(
            row["url"], count_fields(page) if project else 0, bool(row["contact_text"]), dateline, header
        ),
        "language": None,
        "language_confidence": None,
        "word_count": len(text.split()),
        "emails": find_emails(text, row["contact_text"]) or None,
        "dateline": dateline,
        "published_date": find_published_date(text, title_line),
        "countries": country_codes(f"{title}\n{text}") or None,
    }
    people = parse_contacts(row["doc_id"], row["contact_text"], row["run_id"])
    sample = prose_first_of_lines(body, cfg.min_prose_words, cfg.max_language_chars)
    return doc, project, people, find_mentions(row["doc_id"], text, row["run_id"]), sample


def _languages(samples: list[str], cfg: ExtractConfig) -> list[tuple[str, float | None]]:
    return detect_languages(
        samples, cfg.language_seed, cfg.max_language_chars, cfg.min_language_letters, cfg.language_trials
    )


def extract_batch(batch: pa.RecordBatch | pa.Table, cfg: ExtractConfig) -> tuple[pa.Table, ...]:
    """documents, projects, contacts and mentions of a batch of pages, as Arrow tables (in OUTPUTS order); the
    languages of the batch are detected at once (language.detect_languages)."""
    docs, projects, contacts, mentions, samples = [], [], [], [], []
    for row in batch.drop_columns(list(CARRIED_AS_ARROW)).to_pylist():
        doc, project, people, numbers, sample = page_rows(row, cfg)
        docs.append(doc)
        samples.append(sample)
        if project:
            projects.append(project)
        contacts.extend(people)
        mentions.extend(numbers)
    for doc, (language, confidence) in zip(docs, _languages(samples, cfg), strict=True):
        doc["language"], doc["language_confidence"] = language, confidence
    tables = [t.conform(rows) for t, rows in zip(OUTPUTS, (docs, projects, contacts, mentions), strict=True)]
    columns = {**{name: batch.column(name) for name in CARRIED_AS_ARROW}, RAW_KEY: raw_keys(batch.column("raw_text"))}
    for name, column in columns.items():  # one documents row a page, in the batch's order
        at = tables[0].schema.get_field_index(name)
        tables[0] = tables[0].set_column(at, tables[0].schema.field(at), column)
    return tuple(tables)
