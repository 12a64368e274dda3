"""validate_tables with real Great Expectations on real seed rows, corrupted one way at a time."""

from __future__ import annotations

import pyarrow as pa
import pytest
from helpers import clean, ingest

from schemas import DOCUMENTS
from tasks.dedupe import DedupeConfig, dedupe_pages
from tasks.extract import ExtractConfig, extract_fields
from tasks.validate import TableExpectationFailed, ValidateConfig, validate_tables


@pytest.fixture
def seed_tables(seeds_raw) -> dict[str, pa.Table]:
    pages = dedupe_pages(
        clean(ingest(seeds_raw).kept).kept, DOCUMENTS.empty().select(["doc_id", "content_hash"]), DedupeConfig()
    )
    result = extract_fields(pages.kept, ExtractConfig())
    return {"documents": result.kept, **result.outputs, "duplicates": pages.outputs["duplicates"]}


def _set(table: pa.Table, column: str, row: int, value) -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] = value
    return table.set_column(
        table.schema.get_field_index(column), column, pa.array(values, table.schema.field(column).type)
    )


def test_clean_seed_rows_all_pass(seed_tables):
    result = validate_tables(seed_tables, ValidateConfig())
    assert result.kept.num_rows == 5 and result.quarantined.num_rows == 0
    assert result.outputs["projects"].num_rows == 1


def test_negative_budget_quarantines_the_project_row(seed_tables):
    seed_tables["projects"] = _set(seed_tables["projects"], "budget_usd", 0, -5.0)
    result = validate_tables(seed_tables, ValidateConfig())
    (row,) = result.quarantined.to_pylist()
    assert row["reason"] == "validate.projects.budget_usd.out_of_range"
    assert "-5.0" in row["message"] and row["source_uri"].startswith("001_")
    assert result.outputs["projects"].num_rows == 0
    assert result.kept.num_rows == 5


def test_start_after_end_is_quarantined(seed_tables):
    seed_tables["projects"] = _set(seed_tables["projects"], "start_date", 0, 2020)
    result = validate_tables(seed_tables, ValidateConfig())
    assert [r["reason"] for r in result.quarantined.to_pylist()] == ["validate.projects.end_date_start_date.misordered"]


def test_invalid_email_quarantines_the_contact(seed_tables):
    seed_tables["contacts"] = _set(seed_tables["contacts"], "email", 0, "kgormanbest at iom")
    result = validate_tables(seed_tables, ValidateConfig())
    assert [r["reason"] for r in result.quarantined.to_pylist()] == ["validate.contacts.email.bad_format"]
    assert result.outputs["contacts"].num_rows == seed_tables["contacts"].num_rows - 1


def test_bad_document_takes_its_children_along(seed_tables):
    project_doc = seed_tables["projects"].column("doc_id")[0].as_py()
    row = seed_tables["documents"].column("doc_id").to_pylist().index(project_doc)
    seed_tables["documents"] = _set(seed_tables["documents"], "doc_type", row, "brochure")
    result = validate_tables(seed_tables, ValidateConfig())
    assert [r["reason"] for r in result.quarantined.to_pylist()] == ["validate.documents.doc_type.not_in_set"]
    assert result.kept.num_rows == 4 and result.outputs["projects"].num_rows == 0
    assert result.stats["documents_rejected"] == 1


def test_table_expectation_failure_stops_the_stage(seed_tables, monkeypatch):
    from schemas import _table, documents

    strict = _table.not_null("dateline", mostly=0.99)
    table = documents.DOCUMENTS
    patched = _table.Table(table.name, table.grain, table.key, table.columns, table.description, expect=(strict,))
    monkeypatch.setattr("tasks.validate.DOCUMENTS", patched)
    monkeypatch.setattr("tasks.validate.VALIDATED", (patched,))
    with pytest.raises(TableExpectationFailed, match="dateline"):
        validate_tables(seed_tables, ValidateConfig())
