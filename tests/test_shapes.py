"""The eval generators in bench/ are sound: deliveries carry the corpus texts as given, the syndicated set's truth
lies in the ranges it claims, the project section is one site's pages in both layouts with two rule-breaking pages.
(The pipeline's quality on them is scored by bench/eval_*.py, not here.)"""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import urlsplit

import pytest
from _project_section import LABELS, build_project_section, render_block
from _shapes import write_delivery
from _syndicated import CORPUS_KIND, NEGATIVE_KINDS, build_syndicated, lead_run
from helpers import corpus_labels, corpus_pages, ingest

from schemas import PROJECTS


@pytest.fixture(scope="module")
def corpus() -> tuple[list[dict], list[dict]]:
    return corpus_pages(), corpus_labels()


@pytest.fixture(scope="module")
def syndicated(corpus):
    return build_syndicated(*corpus)


@pytest.fixture(scope="module")
def section(corpus):
    return build_project_section(corpus[1])


@pytest.mark.parametrize("shape", ["jsonl", "txt"])
def test_delivery_carries_every_corpus_text_as_given(tmp_path, corpus, shape):
    pages = corpus[0]
    index = write_delivery(pages, shape, tmp_path)
    rows = ingest(tmp_path).kept.to_pylist()
    assert len(rows) == len(pages) == len(index)
    for row in rows:
        page = pages[index[row["source_uri"]]]
        assert row["raw_text"] == page["text"]
        assert row["url"] == (page["url"] if shape == "jsonl" else None)
    if shape == "txt":
        assert sorted(index) == [f"p{i:04d}.txt" for i in range(len(pages))]


def test_syndicated_copies_have_the_truth_they_claim(syndicated):
    pages, jaccard = syndicated.pages, syndicated.jaccard
    kinds = Counter(p.kind for p in pages)
    for kind in ("foreign_menu", "rewrapped", "edit_k1", "edit_k5", "edit_k20", "mirror"):
        assert kinds[kind] == 30
    edits: dict[int, dict[str, float]] = {}
    for i, page in enumerate(pages):
        if page.kind in (CORPUS_KIND, *NEGATIVE_KINDS):
            continue
        original = page.source
        assert pages[original].kind == CORPUS_KIND
        if page.kind in ("foreign_menu", "rewrapped", "mirror"):
            assert jaccard[i, original] == 1.0, page.kind
        else:
            edits.setdefault(original, {})[page.kind] = jaccard[i, original]
    for by_k in edits.values():
        assert 1.0 > by_k["edit_k1"] >= 0.85 and by_k["edit_k1"] > by_k["edit_k5"] > by_k["edit_k20"]
    assert sum(by_k["edit_k20"] < 0.7 for by_k in edits.values()) >= 20  # edits that make another document


def test_syndicated_variants_change_what_they_say(syndicated):
    pages = syndicated.pages
    for page in pages:
        original = pages[page.source]
        if page.kind == "mirror":
            assert page.text == original.text and urlsplit(page.url).netloc != urlsplit(original.url).netloc
        elif page.kind == "rewrapped":
            assert page.text != original.text and page.text.split() == original.text.split()
        elif page.kind == "foreign_menu":
            assert page.body in page.text and not page.text.startswith(original.text.splitlines()[0] + "\n")
    hosts = Counter(urlsplit(p.url).netloc for p in pages if p.kind == "foreign_menu")
    assert set(hosts.values()) == {1}  # each on a host seen once


def test_syndicated_negatives_share_a_menu_not_a_body(syndicated):
    pages, jaccard = syndicated.pages, syndicated.jaccard
    pairs = [
        (i, j)
        for i in range(len(pages))
        for j in range(i + 1, len(pages))
        if syndicated.pair_kind(i, j) in {f"{k} pair" for k in NEGATIVE_KINDS}
    ]
    assert len(pairs) == 20
    for i, j in pairs:
        assert jaccard[i, j] < 0.1
        a, b = pages[i].text.splitlines(), pages[j].text.splitlines()
        assert len(a) > 10 and a[:10] == b[:10]  # the same menu


def test_syndicated_truth_agrees_with_the_corpus_duplicate_labels(corpus, syndicated):
    labels = corpus[1]

    def same_group(i: int, j: int) -> bool:
        return labels[i]["dup_group"] is not None and labels[i]["dup_group"] == labels[j]["dup_group"]

    pairs = [(i, j) for i in range(len(labels)) for j in range(i + 1, len(labels))]
    labelled = [(i, j) for i, j in pairs if same_group(i, j)]
    assert labelled and all(syndicated.jaccard[i, j] >= 0.85 for i, j in labelled)
    assert all(same_group(i, j) for i, j in pairs if syndicated.jaccard[i, j] >= 0.85)


def test_syndicated_set_is_deterministic(corpus, syndicated):
    assert build_syndicated(*corpus).pages == syndicated.pages
    assert build_syndicated(*corpus, seed=14).pages != syndicated.pages


def test_project_section_is_one_site_in_both_layouts(section, corpus):
    assert len(section) >= 22
    assert len({urlsplit(p.url).netloc for p in section}) == 1
    assert len({p.title for p in section}) == len(section) and len({p.url for p in section}) == len(section)
    assert {p.layout for p in section} == {"dash", "bullet"}
    lengths = [len(p.title.split()) for p in section]
    assert sum(3 <= n <= 4 for n in lengths) >= 5 and sum(n >= 8 for n in lengths) >= 5
    assert sum(any(v is None for v in p.fields.values()) for p in section if not p.breaks) >= 5
    menus = {p.text.split(p.title + "\n", 1)[0] for p in section}
    labels = corpus[1]
    assert len(menus) == 1 and menus.pop().count("\n") == max(lead_run(x) for x in labels if x["project"])
    for page in section:
        assert set(page.fields) == set(LABELS) and page.doc_type == "project"
        assert "\n".join(render_block(page.fields, page.layout)) in page.text


def test_project_section_bad_pages_break_declared_rules(section):
    bad = [p for p in section if p.breaks]
    assert [p.breaks for p in bad] == [("budget_usd",), ("start_year", "end_year")]
    assert bad[0].fields["budget_usd"] < 0
    assert bad[1].fields["start_year"] > bad[1].fields["end_year"]
    for page in section:
        if not page.breaks:
            f = page.fields
            assert f["budget_usd"] is None or f["budget_usd"] >= 0
            assert None in (f["start_year"], f["end_year"]) or f["start_year"] <= f["end_year"]
    declared = [e for c in PROJECTS.columns for e in c.expect] + list(PROJECTS.expect)
    columns = [{v for k, v in e.kwargs.items() if k in ("column", "column_A", "column_B")} for e in declared]
    assert all(set(p.breaks) in columns for p in bad)


def test_project_section_values_are_written_on_the_page(section):
    for page in section:
        for column, value in page.fields.items():
            if value is not None and column != "benefiting_member_states":
                shown = f"{value:.2f}" if column == "budget_usd" else str(value)
                assert re.search(rf"^\s*{re.escape(shown)}$", page.text, re.M), (page.title, column)
