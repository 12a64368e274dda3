"""`_warehouse.rows_holding`: the rows of Parquet files holding wanted keys, read by row group."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tasks._warehouse import rows_holding

SCHEMA = pa.schema([("doc_id", pa.string()), ("text", pa.string()), ("line_keys", pa.list_(pa.int64()))])


def _file(path: Path, ids: range, with_keys: bool) -> str:
    columns = {"doc_id": [f"d{i}" for i in ids], "text": [f"text of d{i}" for i in ids]}
    if with_keys:
        columns["line_keys"] = [[i, i + 1] for i in ids]
    pq.write_table(pa.table(columns), path, row_group_size=7)  # several row groups a file
    return str(path)


def test_rows_of_several_files_and_row_groups_come_whole_with_nulls_for_missing_columns(tmp_path: Path) -> None:
    files = [_file(tmp_path / "a.parquet", range(0, 40), True), _file(tmp_path / "b.parquet", range(40, 60), False)]
    wanted = pa.table({"doc_id": ["d3", "d8", "d39", "d41", "d59", "absent"]})
    found = rows_holding(files, "doc_id", wanted, SCHEMA).sort_by("doc_id")
    assert found.schema == SCHEMA
    assert found.column("doc_id").to_pylist() == ["d3", "d39", "d41", "d59", "d8"]
    assert found.column("text").to_pylist() == [f"text of {d}" for d in found.column("doc_id").to_pylist()]
    assert found.column("line_keys").to_pylist() == [[3, 4], [39, 40], None, None, [8, 9]]  # b.parquet has none


def test_no_file_or_no_match_gives_an_empty_table_of_the_schema(tmp_path: Path) -> None:
    files = [_file(tmp_path / "a.parquet", range(5), True)]
    assert rows_holding([], "doc_id", pa.table({"doc_id": ["d1"]}), SCHEMA).num_rows == 0
    none = rows_holding(files, "doc_id", pa.table({"doc_id": ["x"]}), SCHEMA)
    assert none.num_rows == 0 and none.schema == SCHEMA
