"""Recognising re-delivered records before stripping (tasks/strip_boilerplate/unchanged.py): a doc_id known
before stripping, delivered once, published (in any of the table's files) with the same raw_text, compared by the
stored raw_key where a file holds every key and by DuckDB's hash of raw_text where it does not."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from helpers import seed_files

from schemas import DUPLICATES
from tasks._stage import raw_keys
from tasks.strip_boilerplate.unchanged import candidates, keyed, published_matches, recorded_duplicates


def _night(ids: list[str | None], texts: list[str | None]) -> pa.Table:
    return pa.table(
        {
            "row": pa.array(range(len(ids)), pa.int64()),
            "doc_id": pa.array(ids, pa.string()),
            "raw_key": raw_keys(pa.array(texts, pa.string())),
        }
    )


def test_raw_keys_are_duckdbs_sha256_prefix_of_the_utf8_bytes():
    texts = [p.read_text(encoding="utf-8") for p in seed_files()] + ["", None, "Côte d’Ivoire – 移民", "x" * 5000]
    expected = duckdb.sql(
        "SELECT left(sha256(t), 16) AS k FROM (SELECT unnest($texts) AS t, generate_subscripts($texts, 1) AS i) "
        "ORDER BY i",
        params={"texts": texts},
    ).fetchall()
    assert [k for (k,) in expected][-2] is not None
    for kind in (pa.string(), pa.large_string(), pa.string_view()):
        array = pa.array(texts, pa.string()).cast(kind)
        assert raw_keys(array).to_pylist() == [k for (k,) in expected]
        assert raw_keys(array.slice(3, 4)).to_pylist() == [k for (k,) in expected][3:7]  # offsets of a slice
    chunked = pa.chunked_array([texts[:2], texts[2:]], pa.string())
    assert raw_keys(chunked).to_pylist() == [k for (k,) in expected]


def test_candidates_are_known_ids_delivered_once_with_a_raw_text():
    night = _night(["a", "b", "b", None, "c", "d"], ["x", "y", "y", "z", None, "w"])
    assert candidates(night).column("row").to_pylist() == [0, 5]


def test_published_matches_read_every_file_and_compare_raw_text(tmp_path):
    files = []
    for i, rows in enumerate([{"doc_id": ["a", "b"], "raw_text": ["x", "old"]}, {"doc_id": ["d"], "raw_text": ["w"]}]):
        files.append(str(tmp_path / f"part-{i}.parquet"))
        pq.write_table(pa.table(rows), files[-1])
    night = _night(["a", "b", "d", "e"], ["x", "new", "w", "v"])
    assert published_matches(files, candidates(night)) == {0, 2}
    assert published_matches([], candidates(night)) == set()


def test_files_that_hold_every_key_are_matched_by_key_the_others_by_raw_text(tmp_path):
    def write(name: str, ids: list[str], texts: list[str | None], keys: list[str | None] | None) -> str:
        columns = {"doc_id": pa.array(ids, pa.string()), "raw_text": pa.array(texts, pa.string())}
        if keys is not None:
            columns["raw_key"] = pa.array(keys, pa.string())
        pq.write_table(pa.table(columns), tmp_path / name)
        return str(tmp_path / name)

    night = _night(["a", "b", "c", "d", "e"], ["x", "y", "z", "w", "v"])
    x, _, z = raw_keys(pa.array(["x", "y", "z"])).to_pylist()
    full = write("full.parquet", ["a", "q"], ["x", None], [x, None])  # a row without raw_text needs no key
    no_column = write("old.parquet", ["b"], ["y"], None)  # written before raw_key was stored
    partial = write("partial.parquet", ["c", "d"], ["z", "old"], [None, raw_keys(pa.array(["old"]))[0].as_py()])
    assert [keyed(f) for f in (full, no_column, partial)] == [True, False, False]
    assert published_matches([full, no_column, partial], candidates(night)) == {0, 1, 2}
    # a keyed file is compared by its keys alone: a stored key that is not raw_text's hash decides
    stale = write("stale.parquet", ["e"], ["v"], [z])
    assert keyed(stale) and published_matches([stale], candidates(night)) == set()


def _recorded(path, rows: dict[str, list]) -> str:
    """A `duplicates` data file of these columns (the others: placeholders, url null), as publish writes it."""
    n = len(rows["source_uri"])
    defaults = {"similarity": [1.0] * n, "content_hash": ["h"] * n, "run_id": ["r1"] * n}
    pq.write_table(DUPLICATES.conform(pa.table({**defaults, **rows})), path)
    return str(path)


def test_a_recorded_duplicate_is_its_row_re_delivered_while_its_document_stays(tmp_path):
    """recorded_duplicates (nights that defer their re-strip): same source_uri and raw text as a `duplicates` row
    that is not `superseded`, whose document no other record of the night brings, the record's own doc_id
    delivered once and not published; rows written before the raw_key column match nothing."""
    uris = [f"dump.jsonl#line={i}" for i in range(7)]
    texts = ["copy", "copy of b", "copy of c", "older copy", "mine", "copy of b", "changed c"]
    night = _night(["n0", "n1", "n2", "n3", "n4", "n1", "c"], texts).append_column("source_uri", pa.array(uris))
    rows = {
        "source_uri": uris[:5] + [uris[5]],
        "doc_id": ["n0", "n1", "n2", "n3", "n4", "n1"],
        "raw_key": raw_keys(pa.array([*texts[:3], texts[3], texts[4], texts[5]])),
        "kind": ["exact", "near", "near", "superseded", "exact", "near"],
        "duplicate_of": ["a", "b", "c", "n3", "a", "b"],
    }
    dups = _recorded(tmp_path / "dups.parquet", rows)
    docs = str(tmp_path / "docs.parquet")
    published = {"doc_id": ["a", "b", "c", "n3", "n4"], "source_uri": ["x0", "x1", "x2", "x3", "x4"]}
    pq.write_table(pa.table(published), docs)
    # row 0 kept as recorded; 1 and 5: doc_id n1 twice tonight; 2: its document c comes changed (row 6);
    # 3: superseded; 4: its own doc_id is published (an update of it, not a duplicate)
    assert recorded_duplicates([dups], [docs], night, set())[0] == {0}
    left, moved = recorded_duplicates([dups], [docs], night, {6})
    assert left == {0, 2} and moved.num_rows == 0  # c re-delivered unchanged; both at their recorded source_uri
    old = _recorded(tmp_path / "old.parquet", {k: v for k, v in rows.items() if k != "raw_key"})
    pq.write_table(pq.read_table(old).drop(["raw_key"]), old)  # written before the column
    assert recorded_duplicates([old], [docs], night, set())[0] == set()
    assert recorded_duplicates([old, dups], [docs], night, set())[0] == {0}


def test_a_recorded_duplicate_re_delivered_at_another_source_uri_carries_its_row(tmp_path):
    """A dump delivered again as a new file (or with its lines moved): a record whose doc_id (or, known only by
    its body, whose raw text alone tonight) is a recorded duplicate's with the same raw text leaves with that
    decision, to be written under its new source_uri, also one that names another record's row (a dump rewritten
    in another order); not a body repeated tonight, nor another raw text."""
    recorded = {
        "source_uri": ["old.jsonl#line=1", "old.jsonl#line=2", "old.jsonl#line=3", "old.jsonl#line=4"],
        "doc_id": ["u1", "body-x", "u3", "u4"],
        "url": ["https://a.org/1", None, "https://a.org/3", "https://a.org/4"],
        "raw_key": raw_keys(pa.array(["page 1", "page x", "page 3", "page 4"])),
        "kind": ["near", "exact", "exact", "exact"],
        "duplicate_of": ["d1", "dx", "d3", "d4"],
        "similarity": [0.8, 1.0, 1.0, 1.0],
        "content_hash": ["h1", "hx", "h3", "h4"],
    }
    dups = _recorded(tmp_path / "dups.parquet", recorded)
    docs = str(tmp_path / "docs.parquet")
    published = {"doc_id": ["d1", "dx", "d3", "d4"], "source_uri": ["a#1", "a#2", "taken", "a#4"]}
    pq.write_table(pa.table(published), docs)
    uris = ["new.jsonl#line=1", "new.jsonl#line=2", "taken", "old.jsonl#line=1", "new.jsonl#line=5"]
    texts = ["page 1", "page x", "page 3", "page 4", "page 1 edited"]
    night = _night(["u1", None, "u3", "u4", "u1b"], texts).append_column("source_uri", pa.array(uris))
    left, moved = recorded_duplicates([dups], [docs], night, set())
    # 0 by its doc_id, 1 by its lone body; 2 and 3 too, at a source_uri a published document or a recorded row
    # had (publish puts tonight's decision in its place); 4 is no recorded raw text
    assert left == {0, 1, 2, 3}
    assert moved.sort_by("row").to_pydict() == {
        "row": [0, 1, 2, 3],
        "source_uri": uris[:4],
        "doc_id": ["u1", "body-x", "u3", "u4"],
        "duplicate_of": ["d1", "dx", "d3", "d4"],
        "kind": ["near", "exact", "exact", "exact"],
        "similarity": [0.8, 1.0, 1.0, 1.0],
        "content_hash": ["h1", "hx", "h3", "h4"],
        "raw_key": recorded["raw_key"].to_pylist(),
    }
    again = _night([None], ["page x"]).append_column("source_uri", pa.array(["new.jsonl#line=9"]))
    twice = pa.concat_tables([night, again])
    twice = twice.set_column(0, "row", pa.array(range(twice.num_rows), pa.int64()))
    assert recorded_duplicates([dups], [docs], twice, set())[0] == {0, 2, 3}  # the body x comes twice tonight


def test_the_row_that_decides_is_the_records_own_else_the_latest_runs(tmp_path):
    """Of a record's recorded rows (its raw_key and identity), its own source_uri's decides, else the latest
    run's (by `runs.started_at`); when that row may not be carried (superseded, its document changed tonight,
    the record's own id published) the record goes on, whatever older rows say. A row at the record's
    source_uri but of another identity (a rewritten dump's line that held another record) is not its row."""
    key = raw_keys(pa.array(["story"])).to_pylist()[0]
    recorded = {
        "source_uri": ["a.jsonl#line=1", "b.jsonl#line=1", "c.jsonl#line=1", "c.jsonl#line=2", "d.jsonl#line=7"],
        "doc_id": ["x", "x", "y", "y", "body-z"],
        "url": ["https://a.org/x", "https://a.org/x", "https://a.org/y", "https://a.org/y", None],
        "raw_key": [key] * 5,
        "kind": ["near", "exact", "near", "superseded", "exact"],
        "duplicate_of": ["q-old", "q-new", "q", "q", "dz"],
        "run_id": ["r1", "r2", "r1", "r2", "r1"],
    }
    dups = _recorded(tmp_path / "dups.parquet", recorded)
    runs = str(tmp_path / "runs.parquet")
    started = [datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)]
    pq.write_table(pa.table({"run_id": ["r2", "r1"], "started_at": started[::-1]}), runs)  # r2 is the later
    docs = str(tmp_path / "docs.parquet")
    pq.write_table(pa.table({"doc_id": ["q-old", "q-new", "q", "dz"], "source_uri": ["p1", "p2", "p3", "p4"]}), docs)

    def leaving(ids: list, uris: list, changed_tonight: list = (), published: str = docs) -> tuple[set, pa.Table]:
        night = _night([*ids, *changed_tonight], ["story"] * len(ids) + ["edited"] * len(changed_tonight))
        night = night.append_column("source_uri", pa.array([*uris, *(f"e#{i}" for i in changed_tonight)]))
        return recorded_duplicates([dups], [published], night, set(), [runs])

    left, moved = leaving(["x"], ["new.jsonl#line=1"])  # moved: the latest run's row (r2's), not a.jsonl's
    assert left == {0} and moved["duplicate_of"].to_pylist() == ["q-new"]
    assert leaving(["x"], ["new.jsonl#line=1"], ["q-new"])[0] == set()  # its latest document changed: goes on
    assert leaving(["y"], ["new.jsonl#line=1"])[0] == set()  # the latest row is superseded: goes on
    assert leaving(["y"], ["c.jsonl#line=1"])[1].num_rows == 0  # its own row (r1's) decides, kept as it is
    assert leaving(["other"], ["a.jsonl#line=1"])[0] == set()  # another record at a.jsonl's line 1
    left, moved = leaving([None], ["new.jsonl#line=9"])  # a lone body, by its raw_key among body rows
    assert left == {0} and moved["doc_id"].to_pylist() == ["body-z"]
    owned = str(tmp_path / "owned.parquet")  # the body's own doc_id is published now: not a duplicate
    pq.write_table(pa.table({"doc_id": ["dz", "body-z"], "source_uri": ["p4", "p5"]}), owned)
    assert leaving([None], ["new.jsonl#line=9"], published=owned)[0] == set()
