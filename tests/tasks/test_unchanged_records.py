"""Recognising re-delivered records before stripping (tasks/strip_boilerplate/unchanged.py): a doc_id known
before stripping, delivered once, published (in any of the table's files) with the same raw_text."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.strip_boilerplate.unchanged import candidates, published_matches, raw_key


def _night(ids: list[str | None], texts: list[str | None]) -> pa.Table:
    keys = [None if t is None else raw_key(t) for t in texts]
    return pa.table(
        {
            "row": pa.array(range(len(ids)), pa.int64()),
            "doc_id": pa.array(ids, pa.string()),
            "raw_key": pa.array(keys, pa.string()),
        }
    )


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
