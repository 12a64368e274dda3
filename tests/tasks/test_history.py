"""History: stages read the warehouse pinned at the versions their run started from (real Delta tables)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, write_deltalake

from schemas import DOCUMENTS, INGESTED_FILES
from tasks._warehouse import RUN_ID_KEY, table_path
from tasks.history import History


def _files(run_id: str, paths: list[str]) -> pa.Table:
    rows = [
        {"path": p, "size_bytes": 10, "mtime_ns": i, "sha256": f"{i:064x}", "n_records": 1, "run_id": run_id}
        for i, p in enumerate(paths)
    ]
    return INGESTED_FILES.conform(pa.Table.from_pylist(rows))


def _commit(warehouse: Path, rows: pa.Table, run_id: str) -> None:
    write_deltalake(
        str(table_path(warehouse, INGESTED_FILES)),
        rows,
        mode="append",
        commit_properties=CommitProperties(custom_metadata={RUN_ID_KEY: run_id}),
    )


def test_pinned_history_reads_the_version_the_run_started_from(tmp_path: Path) -> None:
    _commit(tmp_path, _files("night-1", ["a.txt", "b.txt"]), "night-1")
    before = History.latest(tmp_path)
    _commit(tmp_path, _files("night-2", ["c.txt"]), "night-2")  # committed after the run opened

    assert sorted(before.read(INGESTED_FILES).column("path").to_pylist()) == ["a.txt", "b.txt"]
    assert sorted(History.latest(tmp_path).read(INGESTED_FILES).column("path").to_pylist()) == [
        "a.txt",
        "b.txt",
        "c.txt",
    ]
    assert len(before.files(INGESTED_FILES)) == 1
    found = [t.column("path").to_pylist() for t in before.iter_where(INGESTED_FILES, ["path"], "path", ["b.txt"])]
    assert found == [["b.txt"]]
    assert list(before.iter_where(INGESTED_FILES, ["path"], "path", ["c.txt"])) == []


def test_history_of_a_table_that_did_not_exist_is_empty_and_unknown_tables_fail(tmp_path: Path) -> None:
    _commit(tmp_path, _files("night-1", ["a.txt"]), "night-1")
    history = History.latest(tmp_path)
    documents = history.read(DOCUMENTS, ["doc_id", "title"])
    assert documents.num_rows == 0 and documents.column_names == ["doc_id", "title"]
    assert history.files(DOCUMENTS) == []
    partial = History.pinned(tmp_path, {INGESTED_FILES.name: 0})
    with pytest.raises(KeyError, match="documents"):
        partial.read(DOCUMENTS)


def test_history_pickles_small(tmp_path: Path) -> None:
    _commit(tmp_path, _files("night-1", ["a.txt"]), "night-1")
    history = History.latest(tmp_path)
    blob = pickle.dumps(history)
    assert len(blob) < 1_000  # a path and a few integers: cheap to hand to every Dask task
    assert pickle.loads(blob).read(INGESTED_FILES).num_rows == 1
