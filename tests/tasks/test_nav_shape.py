"""Navigation-shape evidence (tasks/strip_boilerplate/nav_shape.py) on real corpus text, with nothing learned:
each page is stripped alone, with and without its URL, so only the shape of its lines can remove anything."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from helpers import clean, corpus_labels, corpus_pages, ingest

from schemas import reasons
from tasks.strip_boilerplate.config import BoilerplateConfig
from tasks.strip_boilerplate.model import TemplateModels, clean_page, page_group

CFG = BoilerplateConfig()
NOTHING_LEARNED = TemplateModels({}, frozenset())


def strip_alone(lines: list[str], url: str | None) -> tuple[list[str], Counter[str]]:
    """(kept body lines, removed lines by reason) of one page stripped with nothing learned."""
    body, _contact, _n_removed, _n_head, why = clean_page(lines, page_group(url, lines, CFG), NOTHING_LEARNED, CFG)
    return body, why


def text_lines(lines: list[str]) -> list[str]:
    return [x for x in lines if x.strip()]


def banner_pages() -> list[tuple[dict, dict]]:
    """Corpus pages whose labelled leading boilerplate opens with sentences (a site notice above the menu)."""
    out = []
    for page, label in zip(corpus_pages(), corpus_labels(), strict=True):
        first = next(i for i, x in enumerate(label["lines"]) if x.strip())
        if label["bp_scored"] and first in label["boilerplate"] and label["lines"][first].rstrip().endswith("."):
            out.append((page, label))
    return out


@pytest.mark.parametrize("with_url", [True, False])
def test_a_site_notice_above_a_section_label_goes_with_it_and_the_heading_stays(with_url):
    """'We're building a new …' (two sentences) over 'Press centre' over the page's heading: the banner and the
    section label are navigation, the heading is the first line kept, every removed line counted as nav_shape."""
    pages = banner_pages()
    assert len(pages) >= 2
    for page, label in pages:
        lines = page["text"].split("\n")
        body, why = strip_alone(lines, page["url"] if with_url else None)
        assert text_lines(body)[0] == label["lines"][label["title_line"]]
        removed = {x for x in lines if x.strip()} - set(body)
        labelled = [label["lines"][i] for i in label["boilerplate"] if label["lines"][i].strip()]
        assert removed == set(labelled)
        assert why[reasons.BOILERPLATE_NAV_SHAPE] == len(labelled)  # the blank line between: run_gap


def test_a_lone_section_label_right_above_the_heading_is_removed():
    """The same page without its banner: 'Press centre' alone (one line, below the block minimum) still goes,
    being a section label right above the heading."""
    page, label = banner_pages()[0]
    label_line = next(i for i in label["boilerplate"] if label["lines"][i].strip() == "Press centre")
    lines = label["lines"][label_line:]
    body, why = strip_alone(lines, None)
    assert text_lines(body)[0] == label["lines"][label["title_line"]]
    assert why[reasons.BOILERPLATE_NAV_SHAPE] >= 1 and "Press centre" not in body


@pytest.mark.parametrize("section", ["Salle de presse", "Noticias", "Пресс-центр", "المركز الإعلامي", "Newsroom"])
def test_a_section_label_in_any_language_above_a_real_headline_goes(section):
    page, label = _titled_page_opening_with_its_title()
    lines = [section, "", *page["text"].split("\n")]
    body, _ = strip_alone(lines, None)
    assert text_lines(body)[0] == label["lines"][label["title_line"]]


def _titled_page_opening_with_its_title() -> tuple[dict, dict]:
    """A corpus page without labelled boilerplate whose first line is its labelled title, followed by prose."""
    for page, label in zip(corpus_pages(), corpus_labels(), strict=True):
        lines = label["lines"]
        first = next(i for i, x in enumerate(lines) if x.strip())
        if not label["boilerplate"] and label["title"] and label["title_line"] == first and len(lines) > 5:
            body, _ = strip_alone(page["text"].split("\n"), None)
            if text_lines(body)[0] == lines[first]:
                return page, label
    pytest.fail("no corpus page opens with its title")


@pytest.mark.parametrize("under", [["Read more"], ["| Country | Returns |", "| Haiti | 1200 |"]])
def test_a_sentence_above_a_teaser_link_or_a_table_is_page_text(under):
    """A real opening sentence over 'Read more' and a headline (a listing's first teaser), or over a table whose
    first row looks like a separator bar: no section label below it, so it is no banner; the page keeps it."""
    page, label = _titled_page_opening_with_its_title()
    prose = next(x for x in label["lines"][label["title_line"] + 1 :] if x.rstrip().endswith("."))
    sentence = prose.split(". ")[0].rstrip(".") + "."
    lines = [sentence, *under, *page["text"].split("\n")]
    body, why = strip_alone(lines, None)
    assert body[0] == sentence and not why


@pytest.mark.parametrize("with_url", [True, False])
def test_no_labelled_body_line_of_the_corpus_goes_by_shape(with_url):
    """Every corpus page whose template was hand-checked, alone, nothing learned: whatever nav_shape removes is
    labelled boilerplate (or lines never scored: ignored, contact, fields); and it removes lines on many pages."""
    n_removed = 0
    for page, label in zip(corpus_pages(), corpus_labels(), strict=True):
        if not label["bp_scored"]:
            continue
        lines = page["text"].split("\n")
        body, why = strip_alone(lines, page["url"] if with_url else None)
        kept = set(body)
        body_lines = [
            i
            for i, x in enumerate(label["lines"])
            if x.strip() and i not in set(label["boilerplate"]) | set(label["ignore"]) | set(label["fields"])
        ]
        lost = [label["lines"][i] for i in body_lines if label["lines"][i] not in kept and i not in label["contact"]]
        assert not lost, (page["url"], lost)
        n_removed += why[reasons.BOILERPLATE_NAV_SHAPE]
    assert n_removed > 100


def test_the_stage_counts_the_banner_under_nav_shape(tmp_path: Path):
    """Through ingest and strip_boilerplate: the lone banner page's removed lines are counted in the stats."""
    page, label = banner_pages()[0]
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "page.jsonl").write_text(json.dumps({"url": page["url"], "text": page["text"]}) + "\n")
    result = clean(ingest(raw).kept)
    (row,) = result.kept.to_pylist()
    assert row["text"].startswith(label["lines"][label["title_line"]])
    labelled = [i for i in label["boilerplate"] if label["lines"][i].strip()]
    assert result.stats[reasons.BOILERPLATE_NAV_SHAPE] == len(labelled)
    assert row["n_boilerplate_lines"] == sum(result.stats[code] for code in reasons.REMOVED_LINE_REASONS)
