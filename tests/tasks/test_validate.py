"""validate_tables with real Great Expectations on real seed rows, corrupted one way at a time."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from dateutil.parser import parse
from validate_rows import seed_night, set_value, with_copies, with_urls

from tasks.validate import TableExpectationFailed, ValidateConfig, ValidationHistory, validate_tables
from tasks.validate.reports import gx_run_name

NAV_LINE = "Who we are"  # stripped as boilerplate from the head of the four Mongolia pages
# Run ids of every suffix shape: all digits >= 2400 (GX used to read `-8198` as a -81:98 UTC offset and fail),
# all digits < 2400 (read as a valid but wrong offset), letters, mixed, longer, and a UUID.
RUN_IDS = (
    "20261201T105836Z-8198",
    "20261201T105836Z-9999",
    "20261201T105836Z-2400",
    "20261201T105836Z-0123",
    "20261201T105836Z-abcdef",
    "20261201T105836Z-k3x9q2",
    "20261201T105836Z-0123456789",
    "f47ac10b-58cc-4372-a567-0e02b2c3d479",
)


@pytest.fixture(scope="module")
def seed_result(tmp_path_factory):
    return seed_night(tmp_path_factory.mktemp("validate"))


@pytest.fixture
def seed_tables(seed_result) -> dict[str, pa.Table]:
    return dict(seed_result)


def _with_run_id(tables: dict[str, pa.Table], run_id: str) -> dict[str, pa.Table]:
    docs = tables["documents"]
    column = pa.array([run_id] * docs.num_rows, pa.string())
    return dict(tables, documents=docs.set_column(docs.schema.get_field_index("run_id"), "run_id", column))


def _reasons(result) -> list[str]:
    return [r["reason"] for r in result.quarantined.to_pylist()]


def test_clean_seed_rows_all_pass(seed_tables):
    result = validate_tables(seed_tables, ValidateConfig())
    assert result.kept.num_rows == 5 and result.quarantined.num_rows == 0
    assert result.outputs["projects"].num_rows == 1
    assert result.stats["failed_expectations"] == [] and result.stats["report"] is None


def test_negative_budget_quarantines_the_project_row(seed_tables):
    seed_tables["projects"] = set_value(seed_tables["projects"], "budget_usd", 0, -5.0)
    result = validate_tables(seed_tables, ValidateConfig())
    (row,) = result.quarantined.to_pylist()
    assert row["reason"] == "validate.projects.budget_usd.out_of_range"
    assert "expect_column_values_to_be_between" in row["message"] and "-5.0" in row["message"]
    assert row["source_uri"].startswith("001_")
    assert result.outputs["projects"].num_rows == 0 and result.kept.num_rows == 5
    assert result.stats["failed_expectations"] == ["validate.projects.budget_usd.out_of_range"]


def test_start_after_end_is_quarantined(seed_tables):
    seed_tables["projects"] = set_value(seed_tables["projects"], "start_year", 0, 2020)
    result = validate_tables(seed_tables, ValidateConfig())
    (row,) = result.quarantined.to_pylist()
    assert row["reason"] == "validate.projects.end_year_start_year.misordered"  # was end_date_start_date (#16)
    assert "2016" in row["message"] and "2020" in row["message"]


def test_invalid_emails_quarantine_the_contact_and_the_document(seed_tables):
    seed_tables["contacts"] = set_value(seed_tables["contacts"], "email", 0, "kgormanbest at iom")
    docs = seed_tables["documents"]
    row = docs.column("emails").to_pylist().index(["orentsendorj@iom.int"])
    seed_tables["documents"] = set_value(docs, "emails", row, ["orentsendorj@iom.int", "orentsendorj@iom"])
    result = validate_tables(seed_tables, ValidateConfig())
    by_reason = {r["reason"]: r for r in result.quarantined.to_pylist()}
    assert set(by_reason) == {"validate.contacts.email.bad_format", "validate.documents.emails.bad_format"}
    assert "'orentsendorj@iom'" in by_reason["validate.documents.emails.bad_format"]["message"]
    assert by_reason["validate.documents.emails.bad_format"]["source_uri"] == docs.column("source_uri")[row].as_py()
    assert result.kept.num_rows == 4


def test_nav_line_as_title_is_quarantined(seed_tables):
    docs = seed_tables["documents"]
    assert NAV_LINE in docs.column("raw_text")[0].as_py().splitlines()
    seed_tables["documents"] = set_value(docs, "title", 0, NAV_LINE)
    result = validate_tables(seed_tables, ValidateConfig())
    (row,) = result.quarantined.to_pylist()
    assert row["reason"] == "validate.documents.title.template_line"
    assert repr(NAV_LINE) in row["message"] and row["source_uri"] == docs.column("source_uri")[0].as_py()
    assert result.kept.num_rows == 4 and result.stats["documents_rejected"] == 1


def test_one_title_repeated_in_a_site_passes_but_most_titles_repeated_fail(seed_tables):
    """Listing pages may share a title; a night where most titles repeat ("Menu" everywhere) must not publish."""
    cfg = ValidateConfig(min_rows_for_share=1)
    docs = seed_tables["documents"]
    site = docs["site"][1].as_py()
    published = pa.table({"doc_id": ["old-1", "old-2"], "site": [site] * 2, "title": ["Menu"] * 2})
    one = dict(seed_tables, documents=set_value(docs, "title", 1, "Menu"))
    result = validate_tables(one, cfg, ValidationHistory(published_titles=published))
    assert result.kept.num_rows == 5 and _reasons(result) == []
    everywhere = docs
    for row in range(docs.num_rows):
        everywhere = set_value(everywhere, "title", row, "Menu")
        everywhere = set_value(everywhere, "site", row, site)
    with pytest.raises(TableExpectationFailed, match="repeated_in_site") as failure:
        validate_tables(dict(seed_tables, documents=everywhere), cfg, ValidationHistory(published_titles=published))
    assert "validate.documents.title.repeated_in_site" in failure.value.stats["failed_expectations"]


def test_night_wide_results_count_the_unexpected_rows_and_keep_examples(seed_tables, tmp_path):
    """The night-wide suite's stored result counts the rows a passing `mostly` check flagged and keeps 20 of them as
    examples, not a list of every row (at 1M documents a list of 263k rows made a 27 MB result and 15 s)."""
    docs = with_copies(seed_tables["documents"], 11)  # 60 documents
    site = docs["site"][1].as_py()
    for row in range(26):  # one title on 26 documents of a site: repeated, and 43 % of the night (mostly 0.5)
        docs = set_value(set_value(docs, "title", row, "Press releases"), "site", row, site)
    result = validate_tables(dict(seed_tables, documents=docs), ValidateConfig(), warehouse=tmp_path)
    assert result.kept.num_rows == 60 and "validate.documents.title.repeated_in_site" not in _reasons(result)
    validations = tmp_path / "_gx" / "gx" / "uncommitted" / "validations" / "documents" / "table"
    (stored,) = validations.rglob("*.json")
    results = json.loads(stored.read_text())["results"]
    (repeated,) = [r for r in results if r["expectation_config"]["kwargs"]["column"] == "title__repeated_in_site"]
    assert repeated["success"] and repeated["result"]["unexpected_count"] == 26
    assert repeated["result"]["partial_unexpected_list"] == [True] * 20
    assert repeated["result"]["partial_unexpected_index_list"] == list(range(20))  # rows of the night
    assert not {"unexpected_list", "unexpected_index_list", "unexpected_index_query"} & set(repeated["result"])


def test_titles_published_as_they_are_are_not_judged_again(seed_tables):
    """A night of documents stripped again (a catch-up) brings published documents with their titles as
    published: those were judged on the night they came, so only a title that changed is judged."""
    cfg = ValidateConfig(min_rows_for_share=1)
    docs = seed_tables["documents"]
    site = docs["site"][1].as_py()
    everywhere = docs
    for row in range(docs.num_rows):
        everywhere = set_value(everywhere, "title", row, "Menu")
        everywhere = set_value(everywhere, "site", row, site)
    old = pa.table({"doc_id": ["old-1", "old-2"], "site": [site] * 2, "title": ["Menu"] * 2})
    published = pa.concat_tables([old, everywhere.select(["doc_id", "site", "title"]).cast(old.schema)])
    tables = dict(seed_tables, documents=everywhere)
    result = validate_tables(tables, cfg, ValidationHistory(published_titles=published))
    assert result.kept.num_rows == docs.num_rows and result.stats["failed_expectations"] == []
    retitled = set_value(published, "title", old.num_rows, "Annual report")  # the first document's title moved
    with pytest.raises(TableExpectationFailed, match="repeated_in_site"):
        validate_tables(tables, cfg, ValidationHistory(published_titles=retitled))


def test_bad_document_takes_its_children_along(seed_tables):
    project_doc = seed_tables["projects"].column("doc_id")[0].as_py()
    row = seed_tables["documents"].column("doc_id").to_pylist().index(project_doc)
    seed_tables["documents"] = set_value(seed_tables["documents"], "doc_type", row, "brochure")
    result = validate_tables(seed_tables, ValidateConfig())
    assert _reasons(result) == ["validate.documents.doc_type.not_in_set"]
    assert result.kept.num_rows == 4 and result.outputs["projects"].num_rows == 0


def test_a_95_percent_drop_in_documents_fails_the_stage(seed_tables):
    history = ValidationHistory(recent_counts=(100, 120, 90, 110))  # tonight: 5 documents
    with pytest.raises(TableExpectationFailed, match="validate.documents.table.row_count_drop") as failure:
        validate_tables(seed_tables, ValidateConfig(), history)
    assert failure.value.stats["failed_expectations"] == ["validate.documents.table.row_count_drop"]


def test_row_count_check_waits_for_history_and_skips_empty_nights(seed_tables):
    assert validate_tables(seed_tables, ValidateConfig(), ValidationHistory(recent_counts=(100, 100))).kept
    empty = {name: table.schema.empty_table() for name, table in seed_tables.items()}
    result = validate_tables(empty, ValidateConfig(), ValidationHistory(recent_counts=(100, 100, 100)))
    assert result.kept.num_rows == 0 and result.stats["failed_expectations"] == []


def test_null_share_over_the_threshold_fails_the_stage(seed_tables):
    docs = with_urls(seed_tables["documents"], range(5))
    for row in (0, 1):
        docs = set_value(docs, "site", row, None)
    seed_tables["documents"] = docs  # 3/5 sites set among pages with a URL < mostly 0.8
    validate_tables(seed_tables, ValidateConfig())  # 5 rows: too few for a share
    with pytest.raises(TableExpectationFailed, match="validate.documents.site.null_share"):
        validate_tables(seed_tables, ValidateConfig(min_rows_for_share=5))


def test_site_null_share_counts_only_pages_with_a_url(seed_tables):
    """Saved pages without URL have no site (a folder of .html files): that is the input, not a regression."""
    cfg = ValidateConfig(min_rows_for_share=3)
    no_site = seed_tables["documents"]
    for row in range(5):
        no_site = set_value(no_site, "site", row, None)
    assert no_site.column("url").null_count == 5
    assert validate_tables({**seed_tables, "documents": no_site}, cfg).kept.num_rows == 5
    # three pages with a URL and their site, two URL-less pages without one: 100 % of the measured rows
    mixed = with_urls(seed_tables["documents"], range(3))
    for row in (3, 4):
        mixed = set_value(mixed, "site", row, None)
    assert validate_tables({**seed_tables, "documents": mixed}, cfg).kept.num_rows == 5
    # one of those three loses its site: 2/3 < 0.8 of the pages that have a URL
    broken = set_value(mixed, "site", 0, None)
    with pytest.raises(TableExpectationFailed, match="validate.documents.site.null_share") as failure:
        validate_tables({**seed_tables, "documents": broken}, cfg)
    assert failure.value.stats["failed_expectations"] == ["validate.documents.site.null_share"]


def test_data_docs_accumulate_runs_in_the_warehouse(seed_tables, tmp_path):
    first = validate_tables(seed_tables, ValidateConfig(), warehouse=tmp_path)
    report = tmp_path / "_reports" / "gx" / "index.html"
    assert first.stats["report"] == str(report) and report.exists()
    docs = seed_tables["documents"]
    seed_tables["documents"] = docs.set_column(
        docs.schema.get_field_index("run_id"), "run_id", pa.array(["run-two"] * docs.num_rows)
    )
    validate_tables(seed_tables, ValidateConfig(), warehouse=tmp_path)
    html = report.read_text()
    assert "test-run" in html and "run-two" in html
    for suite in ("documents", "documents.emails", "projects", "contacts"):
        assert suite in html
    # Readable offline: a plain table (no JavaScript) lists both runs' suites, each linking an existing page.
    offline = html[html.index("<!-- docpipe offline index -->") : html.index("<!-- /docpipe offline index -->")]
    assert html.count("<!-- docpipe offline index -->") == 1
    assert "test-run" in offline and "run-two" in offline
    links = re.findall(r'href="([^"]+)"', offline)
    assert len(links) >= 8 and all((report.parent / link).exists() for link in links)


@pytest.mark.parametrize("run_id", RUN_IDS)
def test_no_run_name_reads_as_a_date(run_id):
    """GX parses a run name with dateutil (RunIdentifier without run_time, and the Data Docs page title)."""
    with pytest.raises(ValueError):  # dateutil's ParserError is a ValueError
        parse(gx_run_name(run_id))


def test_run_ids_of_every_shape_validate_and_store_their_results(seed_tables, tmp_path):
    """Real validation into one warehouse's GX file context: each run's results are stored under its own name and
    the given run_time, and its Data Docs pages are built (the page renderer parses run names too)."""
    gx_root = tmp_path / "_gx" / "gx" / "uncommitted" / "validations"
    docs_root = tmp_path / "_reports" / "gx"
    start = datetime(2026, 12, 1, 10, 58, 36, tzinfo=UTC)
    suites = ("documents", "documents/emails", "documents/countries", "projects", "contacts")
    for n, run_id in enumerate(RUN_IDS):
        run_time = start + timedelta(minutes=n)
        result = validate_tables(
            _with_run_id(seed_tables, run_id), ValidateConfig(), warehouse=tmp_path, run_time=run_time
        )
        assert result.kept.num_rows == 5 and result.quarantined.num_rows == 0, run_id
        assert result.stats["failed_expectations"] == [], run_id
        stamp = run_time.strftime("%Y%m%dT%H%M%S.%fZ")
        for suite in suites:
            (stored,) = (gx_root / suite / gx_run_name(run_id) / stamp).glob("*.json")
            meta = json.loads(stored.read_text())["meta"]
            assert meta["run_id"]["run_name"] == gx_run_name(run_id)
            assert datetime.fromisoformat(meta["run_id"]["run_time"]) == run_time
            assert json.loads(stored.read_text())["success"] is True
            assert list((docs_root / "validations" / suite / gx_run_name(run_id) / stamp).glob("*.html")), suite
    html = (docs_root / "index.html").read_text()
    offline = html[html.index("<!-- docpipe offline index -->") : html.index("<!-- /docpipe offline index -->")]
    for run_id in RUN_IDS:
        assert f"<td>{run_id}</td>" in offline


def test_run_time_must_be_timezone_aware(seed_tables, tmp_path):
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_tables(seed_tables, ValidateConfig(), warehouse=tmp_path, run_time=datetime(2026, 12, 1, 10, 58))
