"""Table declarations: schema, column docs and expectations of every table, declared once."""

from __future__ import annotations

from schemas._table import DOC_KEY, Column, Expect, Table
from schemas.boilerplate_pages import BOILERPLATE_PAGES
from schemas.contacts import CONTACTS
from schemas.dedupe_index import DEDUPE_BANDS, DEDUPE_SIGNATURES
from schemas.document_changes import DOCUMENT_CHANGES
from schemas.documents import DOCUMENTS
from schemas.duplicates import DUPLICATES
from schemas.ingested_files import INGESTED_FILES
from schemas.mentions import MENTIONS
from schemas.projects import PROJECTS
from schemas.quarantine import QUARANTINE
from schemas.runs import RUNS
from schemas.stg_pages import STG_CLEAN, STG_PAGES, STG_UNIQUE

# Tables analysts get, in dictionary/export order.
PUBLISHED: tuple[Table, ...] = (DOCUMENTS, PROJECTS, CONTACTS, MENTIONS, DUPLICATES, QUARANTINE, RUNS)
# Warehouse tables that hold pipeline state.
STATE: tuple[Table, ...] = (INGESTED_FILES, BOILERPLATE_PAGES, DEDUPE_SIGNATURES, DEDUPE_BANDS)
# Every declared table: also the in-flight stg_* tables and the derived `document_changes` (docpipe diff).
BY_NAME: dict[str, Table] = {
    t.name: t for t in (*PUBLISHED, *STATE, STG_PAGES, STG_CLEAN, STG_UNIQUE, DOCUMENT_CHANGES)
}


def data_dictionary() -> str:
    """The data dictionary of the published tables, as Markdown."""
    parts = ["# docpipe data dictionary", ""]
    parts += [t.to_markdown() for t in PUBLISHED]
    return "\n".join(parts)


__all__ = [
    "BOILERPLATE_PAGES",
    "BY_NAME",
    "CONTACTS",
    "DEDUPE_BANDS",
    "DEDUPE_SIGNATURES",
    "DOC_KEY",
    "DOCUMENT_CHANGES",
    "DOCUMENTS",
    "DUPLICATES",
    "INGESTED_FILES",
    "MENTIONS",
    "PROJECTS",
    "PUBLISHED",
    "QUARANTINE",
    "RUNS",
    "STATE",
    "STG_CLEAN",
    "STG_PAGES",
    "STG_UNIQUE",
    "Column",
    "Expect",
    "Table",
    "data_dictionary",
]
