"""Recognising re-delivered records before stripping (tasks/strip_boilerplate/unchanged.py): a doc_id known
before stripping, delivered once, published (in any of the table's files) with the same raw_text, compared by the
stored raw_key where a file holds every key and by DuckDB's hash of raw_text where it does not."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from helpers import seed_files

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


def test_a_recorded_duplicate_is_its_row_re_delivered_while_its_document_stays(tmp_path):
    """recorded_duplicates (nights that defer their re-strip): same source_uri and raw text as a `duplicates` row
    that is not `superseded`, whose document no other record of the night brings, the record's own doc_id
    delivered once and not published; rows written before the raw_key column match nothing."""
    uris = [f"dump.jsonl#line={i}" for i in range(7)]
    texts = ["copy", "copy of b", "copy of c", "older copy", "mine", "copy of b", "changed c"]
    night = _night(["n0", "n1", "n2", "n3", "n4", "n1", "c"], texts).append_column("source_uri", pa.array(uris))
    dups = str(tmp_path / "dups.parquet")
    rows = {
        "source_uri": uris[:5] + [uris[5]],
        "raw_key": raw_keys(pa.array([*texts[:3], texts[3], texts[4], texts[5]])),
        "kind": ["exact", "near", "near", "superseded", "exact", "near"],
        "duplicate_of": ["a", "b", "c", "n3", "a", "b"],
    }
    pq.write_table(pa.table(rows), dups)
    docs = str(tmp_path / "docs.parquet")
    pq.write_table(pa.table({"doc_id": ["a", "b", "c", "n3", "n4"]}), docs)
    # row 0 kept as recorded; 1 and 5: doc_id n1 twice tonight; 2: its document c comes changed (row 6);
    # 3: superseded; 4: its own doc_id is published (an update of it, not a duplicate)
    assert recorded_duplicates([dups], [docs], night, set()) == {0}
    assert recorded_duplicates([dups], [docs], night, {6}) == {0, 2}  # c re-delivered unchanged
    old = str(tmp_path / "old.parquet")
    pq.write_table(pa.table({k: v for k, v in rows.items() if k != "raw_key"}), old)
    assert recorded_duplicates([old], [docs], night, set()) == set()
    assert recorded_duplicates([old, dups], [docs], night, set()) == {0}
