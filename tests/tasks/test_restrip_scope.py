"""Which published documents are stripped again (tasks/strip_boilerplate/changed.py): a full sample that takes a
page with the same template and evicts one touches none of the template's lines (counted "many"), so no page of
the template with a body of its own is stripped again; a page that changes a repeated line's count reaches the
pages carrying that line; a sample that grows makes every page of the group a candidate."""

from __future__ import annotations

import pyarrow as pa

from schemas import BOILERPLATE_PAGES
from tasks._stage import content_hash
from tasks.strip_boilerplate import BoilerplateConfig, PageSample
from tasks.strip_boilerplate.changed import restrip_scope
from tasks.strip_boilerplate.lines import keys_of

CFG = BoilerplateConfig(max_sample_pages=4)
MENU = ["Home", "News", "Where we work", "Contact us"]
FOOTER = ["Copyright the organisation", "Privacy policy"]


def _page(i: int, extra: list[str] = ()) -> str:
    body = [f"Body paragraph {i} tells the story number {i} of the site in words of its own, line {i}."]
    return "\n".join([*MENU, f"Title of story {i}", *body, *extra, *FOOTER])


def _pages(texts: list[str]) -> pa.Table:
    n = len(texts)
    return pa.table(
        {
            "url": [f"https://example.org/news/{content_hash(t)[:8]}" for t in texts],
            "raw_text": texts,
            "raw_html": pa.nulls(n, pa.string()),
            "run_id": ["r"] * n,
        }
    )


def _stored(texts: list[str]) -> pa.Table:
    sample = PageSample(BOILERPLATE_PAGES.empty(), CFG)
    sample.add(_pages(texts))
    return sample.all_rows()


def _smaller_key(stored_keys: list[str], make) -> str:
    """A page (made by `make(i)`) whose page_key sorts before the largest stored one: it enters a full sample."""
    return next(t for t in map(make, range(100, 1000)) if content_hash(t) < max(stored_keys))


def _template_keys(cfg: BoilerplateConfig) -> set[int]:
    return set().union(*(keys_of(line, cfg.prefix_words) for line in [*MENU, *FOOTER]))


def test_a_full_sample_taking_a_page_of_the_same_template_reaches_no_other_page():
    # 8 documents: the template's count (8) is "many" (≥ 6 for the site, 7 for its domain: _GroupModel.many)
    cfg = BoilerplateConfig(max_sample_pages=8)
    sample = PageSample(BOILERPLATE_PAGES.empty(), cfg)
    sample.add(_pages([_page(i) for i in range(16)]))
    stored = sample.all_rows()
    keys = stored.column("page_key").to_pylist()
    assert len(keys) == 2 * cfg.max_sample_pages  # the site's and its domain's samples, full
    sample = PageSample(stored, cfg)
    entering = _smaller_key(keys, _page)
    sample.add(_pages([entering]))
    assert sample.changed_groups() == {"example.org", "domain:example.org"}
    scope = restrip_scope(stored, sample, sample.models, cfg)
    assert scope.whole == frozenset() and scope.known == frozenset()
    own = set().union(*(keys_of(line, cfg.prefix_words) for line in entering.splitlines()))
    # the entering page's own lines (and the evicted one's) are counted once on either side: read only by the copy
    # check, so they reach only the documents checked for copies (RestripScope.rare); the template's, in neither
    rare, touched = scope.rare["example.org"], scope.touched["example.org"]
    assert rare & own and touched.isdisjoint(own) and (rare | touched).isdisjoint(_template_keys(cfg))
    assert scope.may_change("example.org", entering.splitlines(), cfg)  # a copy of it published before
    assert not scope.may_change("example.org", _page(500).splitlines(), cfg)


def test_a_changed_repeated_line_or_a_growing_sample_reaches_the_pages_carrying_it():
    stored = _stored([_page(i, ["Share this story"]) for i in range(8)])
    keys = stored.column("page_key").to_pylist()
    sample = PageSample(stored, CFG)
    sample.add(_pages([_smaller_key(keys, _page)]))  # no "Share this story": that line's count drops
    scope = restrip_scope(stored, sample, sample.models, CFG)
    assert scope.groups == {"example.org", "domain:example.org"} and scope.whole == frozenset()
    assert scope.may_change("example.org", _page(500, ["Share this story"]).splitlines(), CFG)

    small = _stored([_page(i) for i in range(2)])
    sample = PageSample(small, CFG)
    sample.add(_pages([_page(50)]))
    assert restrip_scope(small, sample, sample.models, CFG).groups == {"example.org", "domain:example.org"}


def test_only_pages_carrying_a_touched_line_may_strip_differently():
    # 8 documents: the menu's count (8) is "many" (≥ 6 for the site, 7 for its domain: _GroupModel.many)
    cfg = BoilerplateConfig(max_sample_pages=8)
    texts = [_page(i) for i in range(16)]
    sample = PageSample(BOILERPLATE_PAGES.empty(), cfg)
    sample.add(_pages(texts))
    stored = sample.all_rows()
    keys = stored.column("page_key").to_pylist()
    appeal = _smaller_key(keys, lambda i: _page(i, ["Donate now to the appeal for the flood"]))
    sample = PageSample(stored, cfg)
    sample.add(_pages([appeal]))
    scope = restrip_scope(stored, sample, sample.models, cfg)
    assert scope.whole == frozenset() and set(scope.touched) == {"example.org", "domain:example.org"}
    menu = set().union(*(keys_of(line, cfg.prefix_words) for line in MENU))
    assert scope.touched["example.org"].isdisjoint(menu)

    def may_change(text: str) -> bool:
        return scope.may_change("example.org", text.splitlines(), cfg)

    assert may_change(appeal) and may_change(_page(500, ["Donate now to the appeal for the flood"]))
    assert not may_change(_page(500))  # menu, footer and a body of its own: strips as before


def test_a_growing_sample_makes_every_page_of_the_group_a_candidate():
    small = _stored([_page(i) for i in range(2)])
    sample = PageSample(small, CFG)
    sample.add(_pages([_page(50)]))
    scope = restrip_scope(small, sample, sample.models, CFG)
    assert scope.whole == {"example.org", "domain:example.org"}
    assert scope.may_change("example.org", [], CFG)
