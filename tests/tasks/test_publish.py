"""publish on real corpus-derived rows (../shared/corpus run through the stages) into a temporary warehouse:
one Delta version per changed table per run, idempotent reruns, updates merged in place, and every raw record
accounted for. Real Delta Lake, no mocks; the stages run as plain functions (no Prefect)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from helpers import NOW, corpus_pages

from handoff.versions import table_history
from schemas import CONTACTS, DOCUMENTS, DUPLICATES, MENTIONS, QUARANTINE, RUNS
from schemas.runs import STAGE_COUNTERS, STAGES
from tasks._progress import listening
from tasks._spill import Spill, write_spill
from tasks._warehouse import RUN_ID_KEY, open_delta, read_current
from tasks.dedupe import DedupeConfig, dedupe_pages, load_history, sketch_pages
from tasks.extract import ExtractConfig, extract_fields_task
from tasks.history import History
from tasks.ingest import IngestConfig, ingest_dumps_task
from tasks.publish import PLAN, changed_tables, files, publish_tables, versions
from tasks.publish.merge import ensure_table, merge_rows, stale_rows_predicate
from tasks.sizes import Sizes
from tasks.strip_boilerplate import BoilerplateConfig, strip_boilerplate_task

EDIT = "\n\nThis paragraph was added after the first crawl and must reach the published document."


def _tables(raw: Path, warehouse: Path, run_id: str) -> tuple[dict[str, pa.Table], dict[str, dict]]:
    """Everything publish writes for one night over `raw` (as the flow's ledger gathers it), and each stage's
    stats."""
    stats: dict[str, dict] = {}
    ingested = ingest_dumps_task.fn(raw, History.latest(warehouse), IngestConfig(), run_id, NOW)
    stripped = strip_boilerplate_task.fn(ingested.kept, History.latest(warehouse), BoilerplateConfig())
    history, index = load_history(History.latest(warehouse), sketch_pages(stripped.kept, DedupeConfig()))
    unique = dedupe_pages(stripped.kept, history, DedupeConfig(), index)
    documents = extract_fields_task.fn(unique.kept, ExtractConfig())
    results = dict(zip(STAGES, (ingested, stripped, unique, documents), strict=False))
    tables: dict[str, pa.Table] = {}
    for stage, result in results.items():
        tables.update(result.outputs)
        stats[stage] = result.stats
    tables[DOCUMENTS.name] = documents.kept
    tables[QUARANTINE.name] = pa.concat_tables([r.quarantined for r in results.values()])
    return tables, stats


def _write_pages(raw: Path, name: str, pages: list[dict]) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    (raw / name).write_text("".join(json.dumps(p) + "\n" for p in pages))


def _commits(warehouse: Path, table, run_id: str) -> list[str]:
    """Operations of the table's commits tagged with `run_id`, oldest first."""
    history = sorted(open_delta(warehouse, table).history(), key=lambda c: c["version"])
    return [c["operation"] for c in history if c.get(RUN_ID_KEY) == run_id]


@pytest.fixture(scope="module")
def first_night(tmp_path_factory) -> tuple[Path, Path, dict[str, pa.Table], int]:
    root = tmp_path_factory.mktemp("publish")
    raw, warehouse = root / "raw", root / "warehouse"
    _write_pages(raw, "corpus.jsonl", corpus_pages())
    tables, stats = _tables(raw, warehouse, "night-1")
    publish_tables(warehouse, tables, "night-1")
    return raw, warehouse, tables, stats


def _copy(first_night, tmp_path: Path) -> tuple[Path, Path]:
    raw, warehouse = first_night[0], first_night[1]
    shutil.copytree(raw, tmp_path / "raw")
    shutil.copytree(warehouse, tmp_path / "warehouse")
    return tmp_path / "raw", tmp_path / "warehouse"


def test_first_night_writes_one_data_version_per_table(first_night):
    _, warehouse, tables, _ = first_night
    for write in PLAN:
        operations = _commits(warehouse, write.table, "night-1")
        merges = [op for op in operations if op != "CREATE TABLE"]
        assert operations[0] == "CREATE TABLE", write.table.name
        assert len(merges) == (1 if tables.get(write.table.name, write.table.empty()).num_rows else 0), (
            write.table.name,
            operations,
        )
    assert _commits(warehouse, RUNS, "night-1") == ["CREATE TABLE"]  # the runs row is the flow's last commit
    assert read_current(warehouse, DOCUMENTS, ["doc_id"]).num_rows == tables[DOCUMENTS.name].num_rows > 100
    assert tables[DUPLICATES.name].num_rows > 0  # the corpus holds pages at several addresses (dup_group)


def test_every_raw_record_is_published_a_duplicate_or_quarantined(first_night):
    _, warehouse, _, stats = first_night
    n_read = stats["ingest"]["in"]
    assert n_read == len(corpus_pages())
    published = read_current(warehouse, DOCUMENTS, ["source_uri"]).column("source_uri")
    duplicates = read_current(warehouse, DUPLICATES, ["source_uri"]).column("source_uri")
    quarantined = read_current(warehouse, QUARANTINE, ["source_uri"]).column("source_uri")
    every = pa.chunked_array([*published.chunks, *duplicates.chunks, *quarantined.chunks], pa.string())
    assert len(every) == n_read
    assert pc.count_distinct(every).as_py() == n_read  # each record in exactly one place


def test_publishing_the_same_night_again_adds_no_version(first_night, tmp_path):
    _, warehouse = _copy(first_night, tmp_path)
    before = versions(warehouse)
    after = publish_tables(warehouse, first_night[2], "night-1")
    assert changed_tables(before, after) == []
    assert read_current(warehouse, DOCUMENTS, ["doc_id"]).num_rows == first_night[2][DOCUMENTS.name].num_rows


def _as_spills(tables: dict[str, pa.Table], folder: Path) -> dict[str, Spill | pa.Table]:
    """The night's tables as the flow hands them to publish: spills (each published table's)."""
    declared = {write.table.name: write.table for write in PLAN}
    return {
        name: write_spill(folder / f"{name}.parquet", declared[name], [rows]) if name in declared else rows
        for name, rows in tables.items()
    }


def test_progress_counts_the_documents_published_not_other_tables_rows(first_night, tmp_path):
    """Publish's progress (the run's bar, or a log line) counts the documents it publishes, a chunk at a time:
    not the rows of its other tables (mentions, bands), on a first load and on a night that updates a document
    (its mentions replaced too)."""
    first = _as_spills(first_night[2], tmp_path / "spills-1")
    assert first[MENTIONS.name].num_rows > first[DOCUMENTS.name].num_rows > 0
    seen: list[int] = []
    with listening(seen.append):
        publish_tables(tmp_path / "fresh", first, "night-1", sizes=Sizes(chunk_rows=50))
    assert sum(seen) == first[DOCUMENTS.name].num_rows and len(seen) > 1
    raw, warehouse = _copy(first_night, tmp_path)
    page = next(p for p in corpus_pages() if "weblog.iom.int/prima-idf" in p["url"])
    _write_pages(raw, "recrawl.jsonl", [{**page, "text": page["text"] + EDIT}])
    second = _as_spills(_tables(raw, warehouse, "night-2")[0], tmp_path / "spills-2")
    assert second[MENTIONS.name].num_rows > 0
    seen.clear()
    with listening(seen.append):
        publish_tables(warehouse, second, "night-2")
    assert seen == [second[DOCUMENTS.name].num_rows] == [1]


def test_an_edited_page_updates_its_document_in_place(first_night, tmp_path):
    raw, warehouse = _copy(first_night, tmp_path)
    page = next(p for p in corpus_pages() if "weblog.iom.int/prima-idf" in p["url"])
    _write_pages(raw, "recrawl.jsonl", [{**page, "text": page["text"] + EDIT}])
    before_docs = read_current(warehouse, DOCUMENTS, ["doc_id", "url", "text"])
    tables, stats = _tables(raw, warehouse, "night-2")
    assert stats["ingest"]["in"] == 1 and stats["dedupe"]["updates"] == 1
    before = versions(warehouse)
    after = publish_tables(warehouse, tables, "night-2")
    assert DOCUMENTS.name in changed_tables(before, after)
    assert _commits(warehouse, DOCUMENTS, "night-2") == ["WRITE"]  # the files holding it rewritten (rewrite.py)
    docs = read_current(warehouse, DOCUMENTS, ["doc_id", "url", "text"])
    assert docs.num_rows == before_docs.num_rows  # merged on doc_id, not appended
    edited = docs.filter(pc.equal(docs["url"], page["url"])).to_pylist()
    old = before_docs.filter(pc.equal(before_docs["url"], page["url"])).to_pylist()
    assert len(edited) == 1 and edited[0]["doc_id"] == old[0]["doc_id"]
    assert "added after the first crawl" in edited[0]["text"] and "added after" not in old[0]["text"]


def test_a_duplicate_published_on_a_later_night_leaves_duplicates(tmp_path):
    """A record folded into another document on night 1 (its `duplicates` row), re-delivered in the same file with
    a body of its own: it is published, and its `duplicates` row is deleted in the same run, so each record stays
    in one place."""
    raw, warehouse = tmp_path / "raw", tmp_path / "warehouse"
    pages = corpus_pages()
    copy = {**pages[0], "url": pages[0]["url"].rstrip("/") + "/copy-elsewhere"}
    _write_pages(raw, "corpus.jsonl", [*pages, copy])
    publish_tables(warehouse, _tables(raw, warehouse, "night-1")[0], "night-1")
    source = f"corpus.jsonl#line={len(pages) + 1}"
    dups = read_current(warehouse, DUPLICATES, ["source_uri", "kind"]).to_pylist()
    assert {"source_uri": source, "kind": "exact"} in dups
    _write_pages(raw, "corpus.jsonl", [*pages, _new_page(pages[0]) | {"url": copy["url"]}])  # its line edited
    tables, _ = _tables(raw, warehouse, "night-2")
    assert tables[DOCUMENTS.name].column("source_uri").to_pylist() == [source]
    publish_tables(warehouse, tables, "night-2")
    assert _commits(warehouse, DUPLICATES, "night-2") == ["MERGE"]
    documents = read_current(warehouse, DOCUMENTS, ["source_uri", "run_id"])
    assert documents.filter(pc.equal(documents["source_uri"], source))["run_id"].to_pylist() == ["night-2"]
    duplicates = read_current(warehouse, DUPLICATES, ["source_uri"]).column("source_uri").to_pylist()
    assert source not in duplicates and len(duplicates) == len(dups) - 1
    quarantined = read_current(warehouse, QUARANTINE, ["source_uri"]).column("source_uri").to_pylist()
    every = [*documents["source_uri"].to_pylist(), *duplicates, *quarantined]
    assert len(every) == len(set(every)) == len(pages) + 1
    version = open_delta(warehouse, DUPLICATES).version()
    publish_tables(warehouse, tables, "night-2")  # a rerun after a kill mid-publish: nothing left to delete
    assert open_delta(warehouse, DUPLICATES).version() == version


def test_each_stage_reports_the_counters_declared_for_it(first_night):
    stats = first_night[3]
    for stage, counters in stats.items():
        assert set(STAGE_COUNTERS[stage]) <= set(counters), (stage, sorted(counters))
    assert stats["dedupe"]["duplicates"] == first_night[2][DUPLICATES.name].num_rows > 0


def _merged_everything(warehouse: Path, tables: dict[str, pa.Table], run_id: str) -> None:
    """Publish as every night did before appends: one merge of each table's rows (the reference)."""
    for write in PLAN:
        dt = ensure_table(warehouse, write.table, run_id)
        rows = tables.get(write.table.name, write.table.empty())
        stale = stale_rows_predicate(dt, lambda col: pc.unique(tables[DOCUMENTS.name].column(col)), write)
        if rows.num_rows or stale:
            merge_rows(dt, rows, write, run_id, stale)


def _rows(warehouse: Path, table) -> list[tuple]:
    return sorted(tuple(map(str, row.values())) for row in read_current(warehouse, table).to_pylist())


def _new_page(page: dict) -> dict:
    """A page of `page`'s site at a new address, with a body no published page has."""
    body = "\n".join(f"Paragraph {i}: the mission visited district {i * 7}, met {i * 13} families." for i in range(40))
    return {**page, "url": page["url"].rstrip("/") + "/new-report-2026", "title": "New report", "text": body}


def test_a_night_of_new_and_edited_pages_appends_the_new_rows_and_writes_the_same_rows(first_night, tmp_path):
    """Into tables with data, rows whose keys are new (and rows of insert-only tables) are appended without
    reading the table's rows; a table with a matched update is merged, `documents` rewrites the files holding
    it. Same rows as merging everything."""
    raw, warehouse = _copy(first_night, tmp_path / "appended")
    reference = tmp_path / "reference"
    shutil.copytree(warehouse, reference)
    pages = corpus_pages()
    edited = next(p for p in pages if "weblog.iom.int/prima-idf" in p["url"])
    new = _new_page(pages[0])
    _write_pages(raw, "recrawl.jsonl", [{**edited, "text": edited["text"] + EDIT}, new])
    tables, stats = _tables(raw, warehouse, "night-2")
    assert stats["dedupe"]["updates"] == 1 and tables[DOCUMENTS.name].num_rows == 2
    publish_tables(warehouse, tables, "night-2")
    _merged_everything(reference, tables, "night-2")
    assert _commits(warehouse, DOCUMENTS, "night-2") == ["WRITE"]  # the edited page: an update, by rewrite
    assert "WRITE" in {op for w in PLAN for op in _commits(warehouse, w.table, "night-2")}
    for write in PLAN:
        assert _rows(warehouse, write.table) == _rows(reference, write.table), write.table.name
        assert len(_commits(warehouse, write.table, "night-2")) <= 1, write.table.name


def test_only_new_documents_are_appended_in_one_commit(first_night, tmp_path):
    raw, warehouse = _copy(first_night, tmp_path)
    _write_pages(raw, "recrawl.jsonl", [_new_page(corpus_pages()[0])])
    tables, _ = _tables(raw, warehouse, "night-2")
    before = read_current(warehouse, DOCUMENTS, ["doc_id"]).num_rows
    publish_tables(warehouse, tables, "night-2")
    assert _commits(warehouse, DOCUMENTS, "night-2") == ["WRITE"]
    assert tables[DOCUMENTS.name].num_rows == 1
    assert read_current(warehouse, DOCUMENTS, ["doc_id"]).num_rows == before + 1


def test_an_update_rewrites_only_the_files_holding_a_changed_document(first_night, tmp_path):
    """`documents` updates (tasks/publish/rewrite.py): one commit removes the data files holding a changed row and
    adds their copies without it plus tonight's rows; the other files stay; the same rows as deltalake's merge;
    publishing the night again adds no version; no scratch file is left in the table's folder."""
    raw, warehouse = _copy(first_night, tmp_path / "rewritten")
    new = _new_page(corpus_pages()[0])
    _write_pages(raw, "night2.jsonl", [new])
    publish_tables(warehouse, _tables(raw, warehouse, "night-2")[0], "night-2")  # appended: a second file
    docs_before = read_current(warehouse, DOCUMENTS, ["doc_id"]).num_rows
    before = _data_files(warehouse)
    assert len(before) == 2
    reference = tmp_path / "reference"
    shutil.copytree(warehouse, reference)
    _write_pages(raw, "night3.jsonl", [{**new, "text": new["text"] + EDIT}])
    tables, stats = _tables(raw, warehouse, "night-3")
    assert stats["dedupe"]["updates"] == 1 and tables[DOCUMENTS.name].num_rows == 1
    holding = {f for f in before if new["url"] in pq.read_table(warehouse / DOCUMENTS.name / f)["url"].to_pylist()}
    assert len(holding) == 1
    publish_tables(warehouse, tables, "night-3")
    after = _data_files(warehouse)
    assert before - after == holding and len(after) == 2  # the corpus's file untouched
    assert _commits(warehouse, DOCUMENTS, "night-3") == ["WRITE"]
    counted = table_history(warehouse, DOCUMENTS)[-1]  # what `docpipe versions` shows analysts
    assert (counted.rows_added, counted.rows_updated, counted.rows_removed) == (0, 1, 0)
    _merged_everything(reference, tables, "night-3")
    assert _rows(warehouse, DOCUMENTS) == _rows(reference, DOCUMENTS)
    docs = read_current(warehouse, DOCUMENTS, ["url", "text", "run_id"])
    edited = docs.filter(pc.equal(docs["url"], new["url"])).to_pylist()
    assert len(edited) == 1 and edited[0]["text"].endswith(EDIT.strip()) and edited[0]["run_id"] == "night-3"
    version = open_delta(warehouse, DOCUMENTS).version()
    publish_tables(warehouse, tables, "night-3")  # a rerun after a kill mid-publish: nothing changes
    assert open_delta(warehouse, DOCUMENTS).version() == version
    # the same run publishing a different text for a row it wrote (its code changed between attempts): replaced
    docs = tables[DOCUMENTS.name]
    again = {**tables, DOCUMENTS.name: docs.set_column(docs.schema.get_field_index("text"), "text", pa.array(["v2"]))}
    publish_tables(warehouse, again, "night-3")
    assert open_delta(warehouse, DOCUMENTS).version() == version + 1
    texts = read_current(warehouse, DOCUMENTS, ["url", "text"])
    assert texts.filter(pc.equal(texts["url"], new["url"]))["text"].to_pylist() == ["v2"]
    assert read_current(warehouse, DOCUMENTS, ["doc_id"]).num_rows == docs_before
    assert not list((warehouse / DOCUMENTS.name).glob("_docpipe_rewrite-*"))


def _data_files(warehouse: Path, table=DOCUMENTS) -> set[str]:
    return {Path(uri).name for uri in open_delta(warehouse, table).file_uris()}


def _mention_ids(warehouse: Path, doc_id: str) -> list[str]:
    rows = read_current(warehouse, MENTIONS, ["doc_id", "mention_id"])
    return sorted(rows.filter(pc.equal(rows["doc_id"], doc_id))["mention_id"].to_pylist())


def test_a_republished_documents_mentions_replace_its_old_ones_by_rewriting_only_the_files_holding_them(
    first_night, tmp_path
):
    """contacts and mentions (merge.replace_by_rewrite): tonight's rows of a re-published document replace all the
    rows the table held of it, in one commit that removes only the files holding one of them (deltalake's merge
    read the whole table); the same rows as the merge; a rerun after a kill past the commit merges, so it adds no
    version, and the same run publishing other rows for it replaces them."""
    raw, warehouse = _copy(first_night, tmp_path / "rewritten")
    new = _new_page(corpus_pages()[0])
    _write_pages(raw, "night2.jsonl", [new])
    publish_tables(warehouse, _tables(raw, warehouse, "night-2")[0], "night-2")
    assert _commits(warehouse, MENTIONS, "night-2") == ["WRITE"]  # the new page's mentions: a second file
    before = _data_files(warehouse, MENTIONS)
    assert len(before) == 2
    reference = tmp_path / "reference"
    shutil.copytree(warehouse, reference)
    edited = {**new, "text": new["text"].replace("met 13 families", "met 1,300 families").replace("met 26 ", "met ")}
    _write_pages(raw, "night3.jsonl", [edited])
    tables, stats = _tables(raw, warehouse, "night-3")
    assert stats["dedupe"]["updates"] == 1
    (doc_id,) = tables[DOCUMENTS.name]["doc_id"].to_pylist()
    old, tonight = _mention_ids(warehouse, doc_id), tables[MENTIONS.name]
    assert old and tonight.num_rows and old != sorted(tonight["mention_id"].to_pylist())
    publish_tables(warehouse, tables, "night-3")
    after = _data_files(warehouse, MENTIONS)
    holding = {f for f in before if doc_id in pq.read_table(warehouse / MENTIONS.name / f)["doc_id"].to_pylist()}
    assert before - after == holding and len(holding) == 1 and len(after) == 2  # the corpus's file untouched
    assert _commits(warehouse, MENTIONS, "night-3") == ["WRITE"]
    counted = table_history(warehouse, MENTIONS)[-1]
    assert (counted.rows_added, counted.rows_removed) == (tonight.num_rows, len(old))
    _merged_everything(reference, tables, "night-3")
    for table in (MENTIONS, CONTACTS):
        assert _rows(warehouse, table) == _rows(reference, table), table.name
    assert _mention_ids(warehouse, doc_id) == sorted(tonight["mention_id"].to_pylist())
    version = open_delta(warehouse, MENTIONS).version()
    publish_tables(warehouse, tables, "night-3")  # a rerun after a kill mid-publish: nothing changes
    assert open_delta(warehouse, MENTIONS).version() == version
    fewer = {**tables, MENTIONS.name: tonight.slice(1)}  # the same run, its code changed between attempts
    publish_tables(warehouse, fewer, "night-3")
    assert open_delta(warehouse, MENTIONS).version() == version + 1
    assert _mention_ids(warehouse, doc_id) == sorted(tonight.slice(1)["mention_id"].to_pylist())
    assert not list((warehouse / MENTIONS.name).glob("_docpipe_rewrite-*"))


def test_writers_side_by_side_publish_the_same_rows_as_one(first_night, tmp_path, monkeypatch):
    """A large load is dealt to several writers a row group at a time: forced here on the corpus night (16-row
    groups, a writer per 50 rows), each page-text table holds exactly the rows one writer published, in more
    files, and the run is still one commit a table."""
    monkeypatch.setattr(files, "TEXT_ROW_GROUP_ROWS", 16)
    monkeypatch.setattr(files, "ROWS_PER_WRITER", 50)
    monkeypatch.setattr(files, "MAX_WRITERS", 3)
    warehouse = tmp_path / "warehouse"
    publish_tables(warehouse, first_night[2], "night-1")
    for table in (DOCUMENTS, MENTIONS):
        side_by_side = read_current(warehouse, table)
        one = read_current(first_night[1], table)
        key = [(c, "ascending") for c in table.key]
        assert side_by_side.num_rows == one.num_rows > 100, table.name
        assert side_by_side.sort_by(key).equals(one.sort_by(key).cast(side_by_side.schema)), table.name
        written = open_delta(warehouse, table).file_uris()
        assert len(written) == files.writers_for(one.num_rows) >= 2 > len(open_delta(first_night[1], table).file_uris())
        footers = [pq.ParquetFile(f).metadata for f in written]
        groups = [meta.row_group(g).num_rows for meta in footers for g in range(meta.num_row_groups)]
        assert max(groups) == 16, table.name  # a long batch is cut into row groups of the set size
        assert [op for op in _commits(warehouse, table, "night-1") if op != "CREATE TABLE"] == ["WRITE"]


def test_a_failing_writer_fails_the_load_without_hanging(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "TEXT_ROW_GROUP_ROWS", 1)
    dt = ensure_table(tmp_path / "warehouse", DOCUMENTS, "night-1")
    wrong = pa.record_batch({"doc_id": pa.array([str(i) for i in range(40)])})  # each writer's file refuses it
    with pytest.raises(ValueError, match="schema"), files.scratch_folder(dt) as scratch:
        files.written_files(dt, scratch / "rows", [wrong], DOCUMENTS, writers=2)
    assert not list(files.table_root(dt).glob("*.parquet"))
