"""Pages spread over several runs end as they would in one run: the first page of a new site is stripped again
once its template is learned (strip_boilerplate's re-strip of published documents)."""

from __future__ import annotations

from pathlib import Path

from helpers import seed_files

from flows.nightly import nightly
from schemas import DOCUMENTS, PROJECTS, RUNS
from tasks._warehouse import read_current


def _texts(warehouse) -> dict[str, tuple[str, str]]:
    docs = read_current(warehouse, DOCUMENTS).to_pylist()
    return {d["source_uri"]: (d["title"], d["text"]) for d in docs}


# A site banner of sentences, not navigation, and longer than a site notice nav_shape takes on a lone page
# (BoilerplateConfig.max_banner_words): only its repetition over the site's pages marks it template.
BANNER = (
    "This website is maintained by the country office team and is updated every week with news from our "
    "programmes. Opinions expressed in the stories published here are those of their authors and do not "
    "necessarily reflect the views of the organisation, its member states or its donors."
)


def _bannered(path: Path, folder: Path) -> None:
    (folder / path.name).write_text(BANNER + "\n" + path.read_text(encoding="utf-8"), encoding="utf-8")


def test_pages_spread_over_runs_equal_one_run(tmp_path):
    one = tmp_path / "one" / "raw"
    one.mkdir(parents=True)
    for path in seed_files():
        _bannered(path, one)
    nightly(str(one), str(tmp_path / "one" / "warehouse"), "all-at-once")

    split = tmp_path / "split"
    raw = split / "raw"
    raw.mkdir(parents=True)
    first, *rest = seed_files()
    _bannered(first, raw)
    nightly(str(raw), str(split / "warehouse"), "first-page")
    alone = _texts(split / "warehouse")[first.name][1]
    assert alone.startswith(BANNER)  # one page of a new site: its banner cannot be known as template yet
    for path in rest:
        _bannered(path, raw)
    summary = nightly(str(raw), str(split / "warehouse"), "the-others")

    assert _texts(split / "warehouse") == _texts(tmp_path / "one" / "warehouse")
    assert not any(text.startswith(BANNER) for _, text in _texts(split / "warehouse").values())
    assert summary.row["n_read"] == 4 and summary.row["n_restripped"] == 1
    assert summary.row["n_new"] == 4 and summary.row["n_updated"] == 1
    runs = {r["run_id"]: r for r in read_current(split / "warehouse", RUNS).to_pylist()}
    assert runs["the-others"]["n_restripped"] == 1
    log = (split / "warehouse" / "_runs" / "the-others" / "run.log").read_text()
    assert "re-strip: published documents read 1, stripped again 1, changed 1 (" in log
    assert (
        read_current(split / "warehouse", PROJECTS).num_rows
        == read_current(tmp_path / "one" / "warehouse", PROJECTS).num_rows
    )
