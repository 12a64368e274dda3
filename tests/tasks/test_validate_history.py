"""Validate's history of published titles: narrowed to the rows tonight's documents can meet, the repeated-title
flags are those computed over the whole published table (generated nights: shared titles, updated documents,
null sites on both sides); read from the warehouse's files, it is the current version's."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from schemas import DOCUMENTS
from tasks._spill import Spill
from tasks.history import History
from tasks.validate import ValidateConfig, ValidationHistory, load_history
from tasks.validate.derived import DERIVED_COLUMNS, hashed_titles
from tasks.validate.history import history_for_night

CFG = ValidateConfig()
REPEATED = DERIVED_COLUMNS["repeated_in_site"]


def _documents(rng: np.random.Generator, n: int, prefix: str, null_share: float, n_sites: int) -> pa.Table:
    """doc_id, site, title: titles drawn from a few per site (so some repeat 3+ times), some sites null."""
    sites = [f"site{i}.org" if rng.random() > null_share else None for i in rng.integers(0, n_sites, n)]
    titles = [f"title {i}" for i in rng.zipf(1.4, n) % 2000]
    return pa.table({"doc_id": [f"{prefix}{i}" for i in range(n)], "site": sites, "title": titles})


def _night(seed: int, null_share: float = 0.03) -> tuple[pa.Table, pa.Table]:
    """Tonight's documents (a quarter of them published documents updated) and the published ones."""
    rng = np.random.default_rng(seed)
    published = _documents(rng, 6000, "old-", null_share, n_sites=80)
    tonight = _documents(rng, 1500, "new-", null_share, n_sites=20)  # tonight: a quarter of the sites
    updated = pa.array([f"old-{i}" for i in rng.choice(6000, 400, replace=False)] + [None] * 1100, pa.string())
    doc_ids = pa.array([u or d for u, d in zip(updated.to_pylist(), tonight["doc_id"].to_pylist(), strict=True)])
    return tonight.set_column(0, "doc_id", doc_ids), published


def _flags(tonight: pa.Table, history: ValidationHistory) -> list[bool]:
    return REPEATED(hashed_titles(tonight, "title"), "title", history, CFG).to_pylist()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_narrowed_history_flags_the_same_titles_as_the_whole_table(seed):
    tonight, published = _night(seed)
    whole = ValidationHistory(published_titles=published)
    narrowed = history_for_night(whole, tonight)
    assert narrowed.published_titles.num_rows < published.num_rows / 2
    flags = _flags(tonight, whole)
    assert 0 < sum(bool(flag) for flag in flags) < len(flags)  # None: a pair published with that document
    assert _flags(tonight, narrowed) == flags


def test_a_published_only_pair_with_a_null_site_still_flags_tonights_null_sites():
    """A null part matches any null part: a (null, title) pair repeated only among published documents flags
    each of tonight's rows with a null site, whatever its title."""
    tonight = pa.table({"doc_id": ["a", "b", "c"], "site": ["s.org", None, "s.org"], "title": ["x", "new", "y"]})
    published = pa.table({"doc_id": ["p1", "p2", "p3", "p4"], "site": [None] * 3 + ["s.org"], "title": ["t"] * 4})
    whole = ValidationHistory(published_titles=published)
    narrowed = history_for_night(whole, tonight)
    assert _flags(tonight, whole) == [False, True, False]
    assert _flags(tonight, narrowed) == [False, True, False]
    assert sorted(narrowed.published_titles["doc_id"].to_pylist()) == ["p1", "p2", "p3"]


def test_history_read_from_files_of_the_warehouse_equals_the_table(tmp_path):
    tonight, published = _night(7, null_share=0.2)
    full = DOCUMENTS.empty().select(["doc_id", "site", "title"])
    for start in range(0, published.num_rows, 2000):  # three commits: several data files
        write_deltalake(tmp_path / "documents", published.slice(start, 2000).cast(full.schema), mode="append")
    history = load_history(History.latest(tmp_path), CFG)
    assert len(history.published_titles) == 3 and history.recent_counts == ()
    tonight_spill = tmp_path / "tonight.parquet"
    pq.write_table(tonight, tonight_spill, row_group_size=100)
    from_files = history_for_night(history, Spill(tonight_spill)).published_titles
    from_table = history_for_night(ValidationHistory(published_titles=published), tonight).published_titles
    assert from_files.sort_by("doc_id").equals(from_table.sort_by("doc_id"))
    assert _flags(tonight, ValidationHistory(published_titles=from_files)) == _flags(
        tonight, ValidationHistory(published_titles=published)
    )


def test_no_history_or_an_empty_night_reads_nothing():
    tonight, published = _night(4)
    assert history_for_night(ValidationHistory(), tonight).published_titles is None
    empty = history_for_night(ValidationHistory(published_titles=published), tonight.slice(0, 0))
    assert empty.published_titles is None
