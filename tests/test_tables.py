"""Every table declaration builds its Arrow schema, its expectations and its data-dictionary section, and every
expectation names a declared column (schemas/ is the single source the writer, validator and docs read)."""

from __future__ import annotations

import great_expectations as gx
import pytest
from typer.testing import CliRunner

from flows.cli import app
from schemas import BY_NAME, PUBLISHED, reasons

DERIVED_SUFFIXES = ("__template_line", "__repeated_in_site")


@pytest.mark.parametrize("table", list(BY_NAME.values()), ids=list(BY_NAME))
def test_table_declaration_is_complete(table):
    schema = table.arrow_schema
    assert schema.names == table.column_names and len(set(table.column_names)) == len(table.column_names)
    assert all(c.doc.strip() for c in table.columns), "every column has a one-line description"
    assert set(table.key) <= set(table.column_names)
    assert table.conform([]).schema == schema
    for expect in table.expectations():
        for arg in ("column", "column_A", "column_B"):
            name = expect.kwargs.get(arg)
            if name:
                base = next((name[: -len(s)] for s in DERIVED_SUFFIXES if name.endswith(s)), name)
                assert base in table.column_names, f"{table.name}: {expect.gx_type} on unknown column {name}"
        assert expect.level in ("row", "table")
        assert hasattr(gx.expectations, expect.gx_type), expect.gx_type
        assert expect.reason(table.name).startswith(f"validate.{table.name}.")


def test_data_dictionary_lists_every_published_column():
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    for table in PUBLISHED:
        assert f"## `{table.name}`" in result.output
        for column in table.columns:
            assert f"`{column.name}`" in result.output


def test_reason_codes_are_stage_dot_cause():
    assert len(set(reasons.ALL)) == len(reasons.ALL)
    assert all(code.count(".") == 1 and code.split(".")[0] in ("ingest", "boilerplate") for code in reasons.ALL)
