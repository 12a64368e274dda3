"""Pages spread over several runs end as they would in one run: the first page of a new site is stripped again
once its template is learned (strip_boilerplate's re-strip of published documents)."""

from __future__ import annotations

import shutil

from helpers import seed_dir, seed_files

from flows.nightly import nightly
from schemas import DOCUMENTS, PROJECTS, RUNS
from tasks._warehouse import read_current


def _texts(warehouse) -> dict[str, tuple[str, str]]:
    docs = read_current(warehouse, DOCUMENTS).to_pylist()
    return {d["source_uri"]: (d["title"], d["text"]) for d in docs}


def test_pages_spread_over_runs_equal_one_run(tmp_path):
    one = tmp_path / "one"
    one.mkdir()
    nightly(str(seed_dir(one)), str(one / "warehouse"), "all-at-once")

    split = tmp_path / "split"
    raw = split / "raw"
    raw.mkdir(parents=True)
    first, *rest = seed_files()
    shutil.copy(first, raw / first.name)
    nightly(str(raw), str(split / "warehouse"), "first-page")
    alone = _texts(split / "warehouse")[first.name][1]
    assert alone.startswith("-\nWho we are")  # one page of a new template: nothing learned yet
    for path in rest:
        shutil.copy(path, raw / path.name)
    summary = nightly(str(raw), str(split / "warehouse"), "the-others")

    assert _texts(split / "warehouse") == _texts(one / "warehouse")
    assert summary.row["n_read"] == 4 and summary.row["n_restripped"] == 1
    assert summary.row["n_new"] == 4 and summary.row["n_updated"] == 1
    runs = {r["run_id"]: r for r in read_current(split / "warehouse", RUNS).to_pylist()}
    assert runs["the-others"]["n_restripped"] == 1
    assert read_current(split / "warehouse", PROJECTS).num_rows == read_current(one / "warehouse", PROJECTS).num_rows
