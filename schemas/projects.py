"""`projects`: one row per IOM Development Fund project page."""

from __future__ import annotations

import pyarrow as pa

from schemas._table import Column, Table, between, matches, ordered, unique

PROJECTS = Table(
    name="projects",
    grain="one row per project page (joins documents on doc_id)",
    key=("doc_id",),
    description="Key/value fields of project pages, typed.",
    columns=(
        Column(
            "doc_id",
            pa.string(),
            "Document the fields come from (documents.doc_id).",
            nullable=False,
            expect=(unique("doc_id"),),
        ),
        Column(
            "prima_id",
            pa.string(),
            "PRIMA project id, e.g. MN10P0001.",
            expect=(matches("prima_id", r"^[A-Z0-9]{2,}[A-Z0-9.\-/]*$"),),
        ),
        Column("projects_id", pa.string(), "IOM projects id, e.g. TC.0789."),
        Column(
            "start_year", pa.int32(), "Start year as stated on the page.", expect=(between("start_year", 1950, 2100),)
        ),
        Column("end_year", pa.int32(), "End year as stated on the page.", expect=(between("end_year", 1950, 2100),)),
        Column("start_date", pa.int32(), "Deprecated: use start_year (the same year, kept for existing queries)."),
        Column("end_date", pa.int32(), "Deprecated: use end_year (the same year, kept for existing queries)."),
        Column("status", pa.string(), "Project status (e.g. Completed, Active)."),
        Column("project_type", pa.string(), "Project type code (e.g. TCMMCB)."),
        Column("budget_usd", pa.float64(), "Budget in US dollars.", expect=(between("budget_usd", 0),)),
        Column("coverage", pa.string(), "Geographic coverage (National, Regional, Global)."),
        Column("year", pa.int32(), "Funding year.", expect=(between("year", 1950, 2100),)),
        Column("idf_region", pa.string(), "IOM Development Fund region."),
        Column("benefiting_member_states", pa.list_(pa.string()), "Names of the benefiting member states."),
        Column(
            "benefiting_member_state_codes",
            pa.list_(pa.string()),
            "ISO 3166 alpha-3 codes of the benefiting member states.",
            expect=(matches("benefiting_member_state_codes", r"^[A-Z]{3}$"),),
        ),
        Column("extra", pa.map_(pa.string(), pa.string()), "Key/value fields with no column of their own."),
        Column("run_id", pa.string(), "Run that published this version of the row.", nullable=False),
    ),
    expect=(ordered("end_year", "start_year"),),
    replaced=(("start_date", "start_year"), ("end_date", "end_year")),
)
# Deprecated column → the column that replaced it and whose value it repeats (issue #16: years under a `_date`
# name). Its checks moved with it: validate.projects.end_date_start_date.misordered is now
# validate.projects.end_year_start_year.misordered, <start|end>_date.out_of_range now <start|end>_year.out_of_range.
DEPRECATED_COLUMNS = dict(PROJECTS.replaced)
