"""Spills (tasks/_spill.py): stage outputs on disk, read back in chunks or at chosen rows."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import DUPLICATES
from tasks._spill import Spill, SpillWriter, chunks, column, filter_out, read_columns, write_spill


def _rows(n: int) -> pa.Table:
    return DUPLICATES.conform(
        [
            {
                "source_uri": f"f{i}.txt",
                "doc_id": f"d{i}",
                "duplicate_of": f"d{i % 3}",
                "kind": "exact",
                "similarity": 1.0,
                "content_hash": "h",
                "run_id": "r",
            }
            for i in range(n)
        ]
    )


def test_spill_reads_back_in_chunks_and_at_chosen_rows(tmp_path):
    rows = _rows(25)
    spill = write_spill(tmp_path / "s.parquet", DUPLICATES, [rows.slice(0, 10), rows.slice(10, 10), rows.slice(20)])
    assert pq.ParquetFile(spill.path).num_row_groups == 3 and spill.num_rows == 25
    assert [c.num_rows for c in chunks(spill, 7)] == [7, 7, 7, 4]
    assert pa.concat_tables(chunks(spill, 7)).equals(rows)
    assert column(spill, "doc_id").take(pa.array([24, 0, 13, 13])).to_pylist() == ["d24", "d0", "d13", "d13"]
    assert read_columns(spill, ["doc_id"]).column("doc_id").to_pylist() == [f"d{i}" for i in range(25)]


def test_filter_out_drops_rows_by_any_column_and_keeps_the_rest(tmp_path):
    rows = _rows(12)
    spill = write_spill(tmp_path / "s.parquet", DUPLICATES, [rows])
    kept = filter_out(spill, {"doc_id": {"d1"}, "duplicate_of": {"d2"}}, tmp_path / "out.parquet", DUPLICATES, 3)
    assert isinstance(kept, Spill)
    ids = read_columns(kept, ["doc_id"]).column("doc_id").to_pylist()
    assert ids == [f"d{i}" for i in range(12) if i != 1 and i % 3 != 2]
    assert filter_out(spill, {"doc_id": set()}, tmp_path / "none.parquet", DUPLICATES, 3) is spill
    in_memory = filter_out(rows, {"doc_id": {"d0"}}, None, DUPLICATES, 3)
    assert in_memory.num_rows == 11


def test_an_overlapped_writer_writes_the_same_spill_and_raises_its_errors(tmp_path, monkeypatch):
    """`overlap`: parts written on the writer's thread land in order, as the plain writer writes them; a part the
    thread fails to write raises in the caller (at the next part or at the close), not silently."""
    rows, parts = _rows(25), lambda: (_rows(25).slice(i, 6) for i in range(0, 25, 6))
    plain = write_spill(tmp_path / "plain.parquet", DUPLICATES, parts())
    overlapped = write_spill(tmp_path / "overlapped.parquet", DUPLICATES, parts(), overlap=True)
    assert overlapped.read().equals(plain.read()) and overlapped.read().equals(rows)
    assert pq.ParquetFile(overlapped.path).num_row_groups == 5

    def disk_full(*_: object, **__: object) -> None:
        raise OSError("No space left on device")

    writer = SpillWriter(tmp_path / "full.parquet", DUPLICATES, overlap=True)
    monkeypatch.setattr(pq.ParquetWriter, "write_table", disk_full)  # a fault on the writer's thread
    writer.write(rows)
    with pytest.raises(OSError, match="No space left"):
        writer.close()
