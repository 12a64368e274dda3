"""A warehouse written before a table gained a nullable column (here `boilerplate_pages.body_sketch`) keeps
working: the next run adds the column to the Delta table, old rows read it as null, new rows carry it."""

from __future__ import annotations

import json
import shutil

import pyarrow.compute as pc
from deltalake import write_deltalake
from helpers import seed_dir, seed_files

from flows.nightly import nightly
from schemas import BOILERPLATE_PAGES, DEDUPE_SIGNATURES, DOC_KEY, DOCUMENTS, PROJECTS
from tasks._stage import raw_keys
from tasks._warehouse import open_delta, read_current, table_path
from tasks.strip_boilerplate.unchanged import keyed

NEW_COLUMN = "body_sketch"


def test_a_table_gains_a_declared_nullable_column_on_the_next_run(tmp_path):
    raw, warehouse = seed_dir(tmp_path), tmp_path / "warehouse"
    last = raw / seed_files()[-1].name
    last.unlink()  # delivered on the second night
    assert nightly(str(raw), str(warehouse), "before-upgrade").status == "succeeded"
    old = read_current(warehouse, BOILERPLATE_PAGES).drop_columns([NEW_COLUMN])
    path = table_path(warehouse, BOILERPLATE_PAGES)
    shutil.rmtree(path)
    write_deltalake(str(path), old)  # the table as an older docpipe wrote it: no body_sketch column
    assert NEW_COLUMN not in {f.name for f in open_delta(warehouse, BOILERPLATE_PAGES).schema().to_arrow()}

    shutil.copy(seed_files()[-1], last)
    assert nightly(str(raw), str(warehouse), "after-upgrade").status == "succeeded"
    rows = read_current(warehouse, BOILERPLATE_PAGES)
    assert NEW_COLUMN in rows.column_names and rows.num_rows > old.num_rows
    by_run = rows.group_by("run_id").aggregate([(NEW_COLUMN, "count")]).to_pylist()
    counts = {r["run_id"]: r[f"{NEW_COLUMN}_count"] for r in by_run}
    assert counts.get("after-upgrade", 0) > 0  # tonight's sample rows carry the new column
    kept_old = rows.filter(pc.is_in(rows["page_key"], old["page_key"]))
    assert kept_old.num_rows and kept_old[NEW_COLUMN].null_count == kept_old.num_rows  # earlier rows read it as null


def test_projects_gain_start_year_and_end_year_beside_the_deprecated_date_names(tmp_path):
    """Issue #16: a `projects` table written before start_year/end_year were declared takes a new night: the
    columns are added and filled from the deprecated start_date/end_date (so history reads the same under the new
    names), and tonight's row fills both names with the same years."""
    from project_section import project_page

    raw, warehouse = seed_dir(tmp_path), tmp_path / "warehouse"
    assert nightly(str(raw), str(warehouse), "before-years").status == "succeeded"
    added = ["start_year", "end_year"]
    old = read_current(warehouse, PROJECTS).drop_columns(added)
    assert old.num_rows == 1 and old.to_pylist()[0]["start_date"] == 2014
    path = table_path(warehouse, PROJECTS)
    shutil.rmtree(path)
    write_deltalake(str(path), old)  # the table as docpipe wrote it before issue #16
    assert not set(added) & {f.name for f in open_delta(warehouse, PROJECTS).schema().to_arrow()}

    (raw / "project_00.txt").write_text(project_page(0))  # Start Date 2010, End Date 2012
    assert nightly(str(raw), str(warehouse), "after-years").status == "succeeded"
    assert set(added) <= {f.name for f in open_delta(warehouse, PROJECTS).schema().to_arrow()}
    rows = {r["run_id"]: r for r in read_current(warehouse, PROJECTS).to_pylist()}
    assert set(rows) == {"before-years", "after-years"}
    before, after = rows["before-years"], rows["after-years"]
    years = ("start_year", "end_year", "start_date", "end_date")
    assert [before[c] for c in years] == [2014, 2016, 2014, 2016]
    assert (after["start_year"], after["end_year"]) == (after["start_date"], after["end_date"]) == (2010, 2012)


def test_documents_without_stored_line_keys_are_restripped_by_their_lines(tmp_path):
    """Issue #14: `documents` written before it stored `line_keys` takes a night whose template change re-strips
    its documents: the column is added, the old rows are tested by their lines (the same re-strip as with stored
    keys) and every row published tonight, the re-stripped one included, carries its keys."""
    banner = (  # sentences, not navigation: template only by its repetition over the site's pages
        "This website is maintained by the country office team and is updated every week with news from our "
        "programmes. Opinions expressed in the stories published here are those of their authors and do not "
        "necessarily reflect the views of the organisation, its member states or its donors."
    )
    raw, warehouse = tmp_path / "raw", tmp_path / "warehouse"
    raw.mkdir()
    first, *rest = seed_files()
    (raw / first.name).write_text(banner + "\n" + first.read_text(encoding="utf-8"), encoding="utf-8")
    assert nightly(str(raw), str(warehouse), "before-keys").status == "succeeded"
    old = read_current(warehouse, DOCUMENTS)
    assert old.column("line_keys").null_count == 0  # stored by tonight's strip
    path = table_path(warehouse, DOCUMENTS)
    shutil.rmtree(path)
    write_deltalake(str(path), old.drop_columns(["line_keys"]))  # as an older docpipe wrote it
    assert rows_of(warehouse)[first.name]["text"].startswith(banner)  # one page: not template yet
    assert "line_keys" not in {f.name for f in open_delta(warehouse, DOCUMENTS).schema().to_arrow()}

    for path in rest:
        (raw / path.name).write_text(banner + "\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    summary = nightly(str(raw), str(warehouse), "after-keys")
    assert summary.status == "succeeded" and summary.row["n_restripped"] == 1
    rows = rows_of(warehouse)
    assert not rows[first.name]["text"].startswith(banner)  # re-stripped by its lines
    assert all(r["line_keys"] for r in rows.values()) and len(rows) == len(seed_files())


def rows_of(warehouse) -> dict[str, dict]:
    return {r["source_uri"]: r for r in read_current(warehouse, DOCUMENTS).to_pylist()}


def test_a_column_whose_description_changed_takes_the_declared_one_and_the_night_publishes(tmp_path):
    """A column's description is field metadata of the Delta schema, and deltalake refuses rows whose metadata
    differs ("Cannot merge metadata with different values for key doc"): a warehouse written before a description
    was edited takes the next night, and its columns then carry the declared descriptions."""
    raw, warehouse = seed_dir(tmp_path), tmp_path / "warehouse"
    last = raw / seed_files()[-1].name
    last.unlink()  # delivered on the second night: rows for every table tonight
    assert nightly(str(raw), str(warehouse), "before-edit").status == "succeeded"
    older = [(DEDUPE_SIGNATURES, "n_shingles"), (DOCUMENTS, "text")]
    for table, column in older:  # as an older docpipe described them
        open_delta(warehouse, table).alter.set_column_metadata(column, {DOC_KEY: "An older description."})

    shutil.copy(seed_files()[-1], last)
    summary = nightly(str(raw), str(warehouse), "after-edit")
    assert summary.status == "succeeded" and summary.row["n_new"] == 1
    for table, column in older:
        stored = {f.name: f.metadata.get(DOC_KEY) for f in open_delta(warehouse, table).schema().fields}
        assert stored[column] == table.column(column).doc
    assert len(rows_of(warehouse)) == len(seed_files())


def test_documents_without_stored_raw_keys_are_still_recognised_unchanged_and_gain_keys_when_rewritten(tmp_path):
    """Issue #14: `documents` written before it stored `raw_key` takes a night re-delivering its pages (JSON lines
    with URLs, in another file) with one edited: the untouched pages are recognised unchanged by hashing their
    raw_text (no keys to read), and the file rewritten for the edited page carries every row's key from then on."""
    raw, warehouse = tmp_path / "raw", tmp_path / "warehouse"
    raw.mkdir()
    pages = [
        {"url": f"https://example.org/news/seed-{i}", "text": p.read_text(encoding="utf-8")}
        for i, p in enumerate(seed_files())
    ]
    (raw / "night1.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pages), encoding="utf-8")
    assert nightly(str(raw), str(warehouse), "before-raw-keys").status == "succeeded"
    old = read_current(warehouse, DOCUMENTS)
    path = table_path(warehouse, DOCUMENTS)
    shutil.rmtree(path)
    write_deltalake(str(path), old.drop_columns(["raw_key"]))  # as an older docpipe wrote it
    assert not any(keyed(f) for f in open_delta(warehouse, DOCUMENTS).file_uris())

    pages[0]["text"] = pages[0]["text"].replace(" the ", " a ", 1)
    (raw / "night1.jsonl").unlink()  # raw/ is the test's own folder
    (raw / "night2.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pages), encoding="utf-8")
    summary = nightly(str(raw), str(warehouse), "after-raw-keys")
    assert summary.status == "succeeded" and summary.row["n_updated"] == 1
    assert json.loads(summary.row["stage_stats"])["strip_boilerplate"]["unchanged"] == len(pages) - 1
    rows = read_current(warehouse, DOCUMENTS, ["raw_text", "raw_key", "run_id"])
    assert rows.column("run_id").to_pylist().count("after-raw-keys") == 1 and rows.num_rows == len(pages)
    assert rows.column("raw_key").to_pylist() == raw_keys(rows.column("raw_text")).to_pylist()
    assert all(keyed(f) for f in open_delta(warehouse, DOCUMENTS).file_uris())
