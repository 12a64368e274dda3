"""The publish stage's configuration, its plan: what it writes and how, one merge rule per warehouse table, in
commit order (how many rows it reads at once comes with the run's `Sizes`)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import (
    BOILERPLATE_PAGES,
    CONTACTS,
    DEDUPE_BANDS,
    DEDUPE_SIGNATURES,
    DOCUMENTS,
    DUPLICATES,
    INGESTED_FILES,
    MENTIONS,
    PROJECTS,
    QUARANTINE,
    Table,
)
from schemas.documents import VERSION_COLUMNS
from schemas.duplicates import DECISION_COLUMNS


@dataclass(frozen=True, slots=True)
class TableWrite:
    """How one table is merged on its declared key."""

    table: Table
    update: str | None  # None = insert new keys only; "true" = update every matched row; else a predicate
    # A column of `documents`: target rows whose value in it is one of tonight's documents' and that tonight's rows
    # lack are deleted (the children of a re-published document; the `duplicates` row of a record published now).
    replaced_by_documents: str | None = None
    # updates rewrite the files holding changed rows instead of merging (rewrite.py); with `replaced_by_documents`,
    # the files holding a row of one of tonight's documents (merge.replace_by_rewrite)
    rewrites: bool = False


def any_column_differs(table: Table, columns: tuple[str, ...] | None = None) -> str:
    """Merge predicate: the matched row differs in one of `columns` (default: every non-key column), so merging
    rows a table already holds (a rerun after a kill mid-publish) commits no new version."""
    names = columns or tuple(c for c in table.column_names if c not in table.key)
    return " OR ".join(f"(t.{c} IS DISTINCT FROM s.{c})" for c in names)


# Fixed order; `runs` is written separately and last. A document is rewritten only when what it publishes from its
# page changed (dedupe passes updates with an unchanged body too: an edit after the contact block).
PLAN: tuple[TableWrite, ...] = (
    TableWrite(BOILERPLATE_PAGES, None),
    TableWrite(QUARANTINE, None),
    # a record is a duplicate or published; tonight's decision for a source_uri replaces a different one (a dump
    # rewritten in another order: the row of the record a line held before), an equal one stays with its run_id
    TableWrite(DUPLICATES, any_column_differs(DUPLICATES, DECISION_COLUMNS), replaced_by_documents="source_uri"),
    TableWrite(DEDUPE_SIGNATURES, None),
    TableWrite(DEDUPE_BANDS, None),
    TableWrite(PROJECTS, any_column_differs(PROJECTS)),
    TableWrite(CONTACTS, any_column_differs(CONTACTS), replaced_by_documents="doc_id", rewrites=True),
    TableWrite(MENTIONS, any_column_differs(MENTIONS), replaced_by_documents="doc_id", rewrites=True),
    TableWrite(DOCUMENTS, any_column_differs(DOCUMENTS, ("content_hash", *VERSION_COLUMNS)), rewrites=True),
    TableWrite(INGESTED_FILES, None),  # last data commit: files count as read only once the data is in
)
