"""Table and column declarations: the one place a table's shape, docs and expectations live.

Writer (tasks/publish/), validator (tasks/validate/), data dictionary (`docpipe schema`) and export all
derive from these objects. Expectations are declared as plain data (GX expectation class name + kwargs) so
this package needs only pyarrow and the stdlib; tasks/validate/suites.py turns them into a GX suite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa


@dataclass(frozen=True, slots=True)
class Expect:
    """One Great Expectations expectation, by GX class name, with its kwargs.

    `level="row"` sends the offending rows to quarantine; `level="table"` fails the validate stage.
    """

    gx_type: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    level: str = "row"
    check: str = ""  # short name used in the quarantine reason code, e.g. "not_null"
    # Inputs tasks/validate/ computes at validation time (DERIVED_COLUMNS in derived.py): a derived check column
    # (e.g. "template_line": is the title a stripped boilerplate line?) or kwargs (e.g. "recent_row_counts").
    derive: str = ""
    on: str = ""  # the declared column a derived check is about (names the reason and the offending value)
    description: str = ""  # shown in the Data Docs
    # Only rows where this column is set are checked (GX row_condition): a share is measured over the rows it
    # is about, e.g. documents.site over pages that have a URL (a folder of saved pages without URLs has no site).
    where: str = ""

    @property
    def column(self) -> str:
        """The declared column this expectation is about ("" for table-level row counts)."""
        return (
            self.on
            or self.kwargs.get("column")
            or "_".join(str(self.kwargs[k]) for k in ("column_A", "column_B") if k in self.kwargs)
        )

    def reason(self, table: str) -> str:
        """Reason code of a quarantined row (or failed table check): validate.<table>.<column>.<check>."""
        return f"validate.{table}.{self.column or 'table'}.{self.check}"


def not_null(column: str, mostly: float | None = None, where: str = "") -> Expect:
    """Row-level not-null; with `mostly`, a table-level share of non-null values (over rows with `where` set)."""
    kwargs: dict[str, Any] = {"column": column}
    if mostly is not None:
        kwargs["mostly"] = mostly
    if mostly is None:
        return Expect("ExpectColumnValuesToNotBeNull", kwargs, "row", "not_null", where=where)
    return Expect("ExpectColumnValuesToNotBeNull", kwargs, "table", "null_share", where=where)


def unique(column: str) -> Expect:
    return Expect("ExpectColumnValuesToBeUnique", {"column": column}, "row", "not_unique")


def in_set(column: str, values: tuple[str, ...]) -> Expect:
    return Expect("ExpectColumnValuesToBeInSet", {"column": column, "value_set": list(values)}, "row", "not_in_set")


def not_in_set(column: str, values: tuple[str, ...]) -> Expect:
    return Expect("ExpectColumnValuesToNotBeInSet", {"column": column, "value_set": list(values)}, "row", "forbidden")


def matches(column: str, regex: str) -> Expect:
    return Expect("ExpectColumnValuesToMatchRegex", {"column": column, "regex": regex}, "row", "bad_format")


def between(column: str, min_value: float | None = None, max_value: float | None = None) -> Expect:
    return Expect(
        "ExpectColumnValuesToBeBetween",
        {"column": column, "min_value": min_value, "max_value": max_value},
        "row",
        "out_of_range",
    )


def ordered(column_a: str, column_b: str) -> Expect:
    """column_a >= column_b where both are set (e.g. end_date >= start_date)."""
    return Expect(
        "ExpectColumnPairValuesAToBeGreaterThanB",
        {"column_A": column_a, "column_B": column_b, "or_equal": True, "ignore_row_if": "either_value_is_missing"},
        "row",
        "misordered",
    )


def row_count_vs_recent_runs() -> Expect:
    """The batch is not far smaller than recent runs' published counts (bounds: tasks/validate/derived.py)."""
    return Expect(
        "ExpectTableRowCountToBeBetween",
        {"min_value": None, "max_value": None},
        "table",
        "row_count_drop",
        derive="recent_row_counts",
        description="Row count at least `min_row_share_of_recent` × the median of recent runs' published rows.",
    )


def not_template_line(column: str) -> Expect:
    """`column` is not a line the boilerplate stage stripped from the same page (a navigation/template line)."""
    return Expect(
        "ExpectColumnValuesToBeInSet",
        {"column": f"{column}__template_line", "value_set": [False]},
        "row",
        "template_line",
        derive="template_line",
        on=column,
        description=f"`{column}` must not be a line stripped from its page as site boilerplate.",
    )


def not_repeated_in_site(column: str, mostly: float) -> Expect:
    """Most values of `column` are not shared by many distinct documents of one site (batch plus published ones).

    Table-level: listing pages and newsletters legitimately repeat a title, but a night on which most titles
    repeat ("Who we are" everywhere) is a scraper or template change and must not publish. A document published
    with the same value already is not judged again (a night that strips published documents again)."""
    return Expect(
        "ExpectColumnValuesToBeInSet",
        {"column": f"{column}__repeated_in_site", "value_set": [False], "mostly": mostly},
        "table",
        "repeated_in_site",
        derive="repeated_in_site",
        on=column,
        description=f"`{column}` must not be the `{column}` of `min_docs_repeated_title`+ documents of its site.",
    )


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: pa.DataType
    doc: str
    nullable: bool = True
    pii: bool = False
    expect: tuple[Expect, ...] = ()


DOC_KEY = "doc"  # the field metadata key of a column's description (Parquet footers, the Delta schema)
PAGE_TEXT_COLUMNS = frozenset({"raw_text", "raw_html", "text", "contact_text"})


@dataclass(frozen=True, slots=True)
class Table:
    """A table: name, grain, key, columns and table-level expectations."""

    name: str
    grain: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    description: str = ""
    published: bool = True
    expect: tuple[Expect, ...] = ()
    # deprecated column → the column that replaced it (same values): when the new column is added to an older
    # Delta table, publish fills it from the deprecated one, so history reads the same under the new name
    replaced: tuple[tuple[str, str], ...] = ()

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(c.name, c.type, nullable=c.nullable, metadata={DOC_KEY: c.doc}) for c in self.columns],
            metadata={"table": self.name, "grain": self.grain},
        )

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def pii_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.pii]

    @property
    def text_columns(self) -> list[str]:
        """Columns holding whole page texts (kilobytes a row): read a chunk at a time, small Parquet row groups."""
        return [c for c in self.column_names if c in PAGE_TEXT_COLUMNS]

    def expectations(self) -> list[Expect]:
        """All expectations: not-null for non-nullable columns, column-level, then table-level."""
        out: list[Expect] = [not_null(c.name) for c in self.columns if not c.nullable]
        for c in self.columns:
            out.extend(c.expect)
        out.extend(self.expect)
        return out

    def empty(self) -> pa.Table:
        return self.arrow_schema.empty_table()

    def conform(self, data: pa.Table | list[dict[str, Any]]) -> pa.Table:
        """Return `data` with exactly this table's columns, order and types (missing columns become null)."""
        if isinstance(data, list):
            return pa.Table.from_pylist(data, schema=self.arrow_schema)
        n = data.num_rows
        arrays = []
        for c in self.columns:
            if c.name in data.column_names:
                arrays.append(data.column(c.name).cast(c.type))
            else:
                arrays.append(pa.nulls(n, c.type))
        return pa.Table.from_arrays(arrays, schema=self.arrow_schema)

    def extend(self, name: str, columns: tuple[Column, ...], grain: str | None = None) -> Table:
        """A new in-flight table: these columns plus `columns`."""
        return Table(name, grain or self.grain, self.key, self.columns + columns, published=False)

    def to_markdown(self) -> str:
        """This table's section of the data dictionary."""
        lines = [
            f"## `{self.name}`",
            "",
            self.description or self.grain,
            "",
            f"Grain: {self.grain}. Key: {', '.join(self.key) or '—'}.",
            "",
            "| column | type | nullable | description |",
            "|---|---|---|---|",
        ]
        for c in self.columns:
            doc = c.doc + (" (PII)" if c.pii else "")
            lines.append(f"| `{c.name}` | `{c.type}` | {'yes' if c.nullable else 'no'} | {doc} |")
        return "\n".join(lines) + "\n"
