"""The re-strip's candidate filter (changed.RestripScope, issue #14): over nights of generated pages and of the
corpus, stripping again only the candidates among the published documents the scope reads gives exactly the rows
of stripping every published document again (pages.restrip without a scope): the published texts stay those of
pages stripped under tonight's models, however the pages were spread over nights. Meanwhile
most documents are left unread past their line fingerprints — those stored with the document (`line_keys`, one
Arrow test, `RestripScope.candidates`) and, for documents published without them, their lines'."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from itertools import pairwise
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from _pipeline_corpus import PageStream, load_parts, write_raw
from helpers import corpus_pages, ingest

from schemas import BOILERPLATE_PAGES, STG_CLEAN
from tasks.strip_boilerplate import BoilerplateConfig, PageSample
from tasks.strip_boilerplate.changed import (
    RestripScope,
    groups_changed_since,
    of_groups,
    page_keys,
    restrip_scope,
    scope_since,
)
from tasks.strip_boilerplate.model import (
    MARKS,
    NO_COPIES,
    NO_COPY_CHECK,
    NO_DOMAIN_MERGE,
    NO_DOMAIN_WALK,
    NO_SITE_MERGE,
    NO_SITE_WALK,
    TWICE_KEYED,
    clean_page,
    doubt_key,
    page_group,
    twice_key,
)
from tasks.strip_boilerplate.pages import restrip, strip_rows


def _pages(pages: list[dict], raw: Path, run_id: str) -> pa.Table:
    """The night's pages as ingested, their source_uri under the night's folder: as in a warehouse, a source_uri
    names one document (each night's dump is a `pages.jsonl`)."""
    write_raw(pages, "jsonl", raw)
    kept = ingest(raw, run_id).kept
    at = kept.schema.get_field_index("source_uri")
    return kept.set_column(at, kept.schema.field(at), pc.binary_join_element_wise(raw.name, kept["source_uri"], "/"))


def _candidates(docs: pa.Table, scope: RestripScope, cfg: BoilerplateConfig) -> tuple[int, int, int, int, int]:
    """The candidates by the stored `line_keys` (the fingerprints cleaning read: one Arrow test), by those keys
    with the walked lines read by every page (as if each had looked for its variants in every model) and the
    lines crossing "seen twice" by every page that looked them up (as if each had asked), with every
    touched line read (rare ones too, as if each page had been checked for copies), by all their lines
    (`may_change`, for documents stored without keys), each among the next, and the documents of whole groups
    (every one a candidate)."""
    by_lines, whole = [], 0
    for doc in docs.to_pylist():
        lines = doc["raw_text"].splitlines()
        by_lines.append(scope.may_change(page_group(doc["url"], lines, cfg), lines, cfg))
        if of_groups(doc["site"], scope.whole):
            whole += 1
            assert by_lines[-1], doc["source_uri"]
    stored = scope.candidates(docs).to_pylist()
    walking = {g: scope.touched.get(g, frozenset()) | scope.twice.get(g, frozenset()) for g in scope.twice}
    walking |= {g: walking.get(g, scope.touched.get(g, frozenset())) | lines for g, lines in scope.walked.items()}
    walked = RestripScope(scope.whole, {**scope.touched, **walking}, scope.known, rare=scope.rare)
    every = {g: scope.lines_of(g) for g in scope.groups - scope.whole}
    checked = RestripScope(scope.whole, every, scope.known).candidates(docs).to_pylist()
    walked = walked.candidates(docs).to_pylist()
    assert all(wide for keys, wide in zip(stored, walked, strict=True) if keys)
    assert all(wide for keys, wide in zip(walked, checked, strict=True) if keys)
    assert all(lines for keys, lines in zip(checked, by_lines, strict=True) if keys)
    return sum(stored), sum(walked), sum(checked), sum(by_lines), whole


def _without_stored_keys(docs: pa.Table) -> pa.Table:
    """The documents as published before docpipe stored their line fingerprints."""
    at = docs.schema.get_field_index("line_keys")
    return docs.set_column(at, "line_keys", pa.nulls(docs.num_rows, docs.schema.field(at).type))


def _run_nights(nights: list[pa.Table], cfg: BoilerplateConfig, deferred: Collection[int] = ()) -> Counter[str]:
    """Strip the nights one after the other (each night's pages published as stripped, re-stripped documents
    replacing their text); on every night after the first but the `deferred` ones (which strip only their own
    pages), check that the re-strip of the candidates equals the re-strip of every published document. Returns the
    documents read, candidates, documents of whole groups and re-stripped documents (also by site: "restripped
    <site>")."""
    stored, published = BOILERPLATE_PAGES.empty(), STG_CLEAN.empty()
    under = [stored]  # the samples the published documents were stripped under (the stage's `stripped_under`)
    totals: Counter[str] = Counter()
    for night, pages in enumerate(nights):
        sample = PageSample(stored, cfg)
        sample.add(pages)
        models = sample.models()
        tonight = strip_rows(pages, models, cfg, Counter(), [])
        stored = pa.concat_tables([stored, BOILERPLATE_PAGES.conform(sample.new_rows())])
        if night in deferred:
            published = pa.concat_tables([published, tonight])
            under.append(stored)
            continue
        if len(under) > 1:
            since = [(before, groups_changed_since(before, sample.keys, cfg)) for before in under]
            scope = scope_since(since, lambda m=models: m, cfg)
        else:
            scope = restrip_scope(under[0], sample, lambda m=models: m, cfg)
        under = [stored]
        docs = published.filter(scope.read(published["site"]))
        run_id = f"night-{night}"
        every = restrip(published, run_id, models, cfg, set())  # every published document, no scope
        assert restrip(docs, run_id, models, cfg, set(), scope).equals(every), night
        # without stored keys, a document whose text stays is not published again (its lines stand for its keys)
        was = dict(zip(published["source_uri"].to_pylist(), published["text"].to_pylist(), strict=True))
        changed = [was[row["source_uri"]] != row["text"] for row in every.to_pylist()]
        new_text = every.filter(pa.array(changed, pa.bool_()))
        assert restrip(_without_stored_keys(docs), run_id, models, cfg, set(), scope).equals(new_text), night
        candidates, walked, checked, by_lines, whole = _candidates(docs, scope, cfg)
        rekeyed = every.num_rows - new_text.num_rows
        totals.update(read=docs.num_rows, candidates=candidates, walked=walked, checked=checked)
        totals.update(by_lines=by_lines, whole=whole)
        totals.update(rekeyed=rekeyed, published=published.num_rows)
        totals.update(restripped=every.num_rows)
        totals.update(f"restripped {site}" for site in every["site"].to_pylist())
        again = {row["source_uri"]: row for row in every.to_pylist()}
        kept = [again.get(row["source_uri"], row) for row in published.to_pylist()]
        published = pa.concat_tables([STG_CLEAN.conform(kept), tonight])
    return totals


def test_candidates_restrip_as_every_document_on_generated_nights(tmp_path):
    stream = PageStream(load_parts(seed=7), seed=7)
    sizes = (1500, 40, 40, 40)  # small samples fill up: pages enter, others leave, counts move
    nights = [_pages(stream.take(n), tmp_path / f"raw{i}", f"night-{i}") for i, n in enumerate(sizes)]
    totals = _run_nights(nights, BoilerplateConfig(max_sample_pages=30))
    assert totals["restripped"] >= 3, totals
    assert totals["candidates"] < totals["read"] // 2, totals
    # the fingerprints cleaning read rule out documents that every line's would not; one document cleaned to
    # the same text through a fingerprint it did not store is published again with it (the next night tests it)
    assert totals["checked"] < totals["by_lines"] and totals["rekeyed"] >= 1, totals
    # lines counted below "seen twice" on both sides reach only the documents checked for copies; lines whose
    # count class stays, only those that looked for their variants in the line's model (or were checked)
    print(totals)
    assert totals["candidates"] < totals["walked"] < totals["checked"], totals


def test_after_deferred_nights_candidates_restrip_as_every_document(tmp_path):
    """Nights that defer their re-strip leave documents stripped under several samples (the last run's that
    re-stripped, and each deferred night's, for its own pages); the catch-up's scope, the union of the scopes
    from each of them to tonight's models (changed.scope_since), strips again only its candidates and gives the
    rows of stripping every published document again."""
    stream = PageStream(load_parts(seed=7), seed=7)
    sizes = (1500, 40, 40, 40, 40, 40)
    nights = [_pages(stream.take(n), tmp_path / f"raw{i}", f"night-{i}") for i, n in enumerate(sizes)]
    totals = _run_nights(nights, BoilerplateConfig(max_sample_pages=30), deferred={1, 2, 4})
    assert totals["restripped"] >= 3, totals
    assert totals["candidates"] < totals["published"] // 2, totals  # not every document, as before scope_since


def test_candidates_restrip_as_every_document_on_short_pages_under_long_menus(tmp_path):
    """Half-KB pages: the pages of a site share most of their lines, lone sites' pages lose their footers as
    known template, groups' document counts move while their thresholds stay (the nights where the scope by group
    signatures left 24 published documents unlike a full re-strip, NOTES.md)."""
    stream = PageStream(load_parts(seed=7), seed=7, page_kb=0.5)
    sizes = (800, 40, 40, 40, 40)
    nights = [_pages(stream.take(n), tmp_path / f"raw{i}", f"night-{i}") for i, n in enumerate(sizes)]
    totals = _run_nights(nights, BoilerplateConfig(max_sample_pages=60))
    assert totals["restripped"] >= 24, totals


def test_candidates_restrip_as_every_document_on_the_corpus(tmp_path):
    pages = corpus_pages()
    cuts = (0, 120, 170, 200, len(pages))
    nights = [_pages(pages[a:b], tmp_path / f"raw{i}", f"night-{i}") for i, (a, b) in enumerate(pairwise(cuts))]
    growing = _run_nights(nights, BoilerplateConfig())  # samples grow: every document of their groups is a candidate
    assert growing["restripped"] >= 1 and growing["whole"] >= growing["read"] // 2, growing
    full = _run_nights(nights, BoilerplateConfig(max_sample_pages=12))
    assert full["restripped"] >= 1 and full["candidates"] < full["read"], full
    # the middle nights deferred: the last night's catch-up, scoped from the three samples the documents were
    # stripped under, re-strips as every document
    caught_up = _run_nights(nights, BoilerplateConfig(max_sample_pages=12), deferred={1, 2})
    assert caught_up["restripped"] >= 1 and caught_up["candidates"] < caught_up["published"], caught_up


def _news(site: str, i: int, footer: list[str]) -> dict:
    """A page of `site`: a menu, a title, a body of its own, and `footer`."""
    menu = [f"{site} home", "Our work", "Where we work", "Media centre"]
    words = ["families", "village", "season", "harvest", "water", "school", "road", "market", "clinic", "river"]
    body = [" ".join(f"{word}{i}" for word in words * 3)]  # every 3-gram its own: no two pages are copies
    return {"url": f"https://{site}/news/{i}", "text": "\n".join([*menu, f"Title of story {i}", *body, *footer])}


def test_a_line_no_longer_known_is_stripped_again_in_every_group(tmp_path):
    """A network footer frequent on the pages of example.org is known template, so it is stripped from a lone
    page of other.org (a group of its own, whose sample never changes); when example.org's sample takes pages
    without it, the footer is no longer known and the lone page keeps it. Its group did not change: only the
    known line reaches it."""
    cfg = BoilerplateConfig(max_sample_pages=4)
    footer = ["Privacy policy of the network", "Terms of use of the network", "Member sites of the network"]
    first = [_news("example.org", i, footer) for i in range(4)] + [_news("other.org", 0, footer)]
    second = [_news("example.org", i, []) for i in range(100, 108)]
    nights = [_pages(pages, tmp_path / f"raw{i}", f"night-{i}") for i, pages in enumerate((first, second))]
    known = []
    for night in range(1, 3):
        sample = PageSample(BOILERPLATE_PAGES.empty(), cfg)
        for pages in nights[:night]:
            sample.add(pages)
        known.append(all(k in sample.models().known for k in page_keys(footer, cfg)))
    assert known == [True, False]  # the premise: the footer is known after night 1, not after night 2
    totals = _run_nights(nights, cfg)
    assert totals["restripped other.org"] == 1, totals


def test_a_line_still_known_elsewhere_reaches_only_the_groups_it_is_known_in(tmp_path):
    """The network footer is known in example.org and in other.org; other.org's sample takes pages without it, so
    it stays known (in example.org) but no longer in other.org. A lone page of lone.org reads only that the line
    is known, which has not changed: its document is not even read; the groups the line was known in are."""
    cfg = BoilerplateConfig(max_sample_pages=4)
    footer = ["Privacy policy of the network", "Terms of use of the network", "Member sites of the network"]
    first = [_news(site, i, footer) for site in ("example.org", "other.org") for i in range(4)]
    first.append(_news("lone.org", 0, footer))
    second = [_news("other.org", i, []) for i in range(100, 108)]
    nights = [_pages(pages, tmp_path / f"raw{i}", f"night-{i}") for i, pages in enumerate((first, second))]
    known_in = []
    sample = PageSample(BOILERPLATE_PAGES.empty(), cfg)
    for pages in nights:
        sample.add(pages)
        known_in.append({frozenset(sample.models().known_in.get(k, ())) for k in page_keys(footer, cfg)})
    assert known_in == [  # the premise: known in both sites (and domains), then in example.org's only
        {frozenset({"example.org", "domain:example.org", "other.org", "domain:other.org"})},
        {frozenset({"example.org", "domain:example.org"})},
    ]
    totals = _run_nights(nights, cfg)
    assert totals["read"] == len(first) - 1, totals  # lone.org's document is not read


def test_lines_counted_once_reach_only_the_documents_checked_for_copies(tmp_path):
    """A line counted below "seen twice" on both sides of a model change is read only by the copy check: a news
    page is not checked (its cleaning stores `NO_COPY_CHECK`) and is no candidate for such lines; a page left
    gutted by its template (an index page) is checked for copies and is one. The same lines as touched lines
    reach both."""
    cfg = BoilerplateConfig()
    menu = ["example.org home", "Our work", "Where we work", "Media centre"]
    footer = [f"Footer link number {i} of the network" for i in range(10)]
    words = ["families", "village", "season", "harvest", "water", "school", "road", "market", "clinic", "river"]
    body = [[" ".join(f"{word}{i}x{n}" for word in words * 3) for n in range(5)] for i in range(6)]  # no copies
    pages = [{"url": f"https://example.org/news/{i}", "text": "\n".join([*menu, *body[i], *footer])} for i in range(6)]
    index = [*menu, "A list of every story this site published over the years", *footer]
    pages.append({"url": "https://example.org/index", "text": "\n".join(index)})
    table = _pages(pages, tmp_path / "raw", "night-0")
    sample = PageSample(BOILERPLATE_PAGES.empty(), cfg)
    sample.add(table)
    models = sample.models()
    reads = []
    for row in table.to_pylist():
        lines, read = row["raw_text"].splitlines(), set()
        clean_page(lines, page_group(row["url"], lines, cfg), models, cfg, read)
        reads.append(read)
    marked = [NO_COPY_CHECK in read for read in reads]
    assert marked == [True] * 6 + [False]  # the index page keeps 1 line of 15: checked for copies
    docs = pa.table(
        {"site": ["example.org"] * len(reads), "line_keys": [sorted(read) for read in reads]},
        schema=pa.schema([("site", pa.string()), ("line_keys", pa.list_(pa.int64()))]),
    )
    lines = frozenset().union(*reads) - {NO_COPY_CHECK}
    rare = RestripScope(frozenset(), {}, frozenset(), rare={"example.org": lines})
    assert rare.candidates(docs).to_pylist() == [False] * 6 + [True]
    touched = RestripScope(frozenset(), {"example.org": lines}, frozenset())
    assert touched.candidates(docs).to_pylist() == [True] * 7
    # stored without the mark (an earlier docpipe's keys), a document is read as checked for copies
    unmarked = docs.set_column(1, "line_keys", pa.array([sorted(read - {NO_COPY_CHECK}) for read in reads]))
    assert rare.candidates(unmarked).to_pylist() == [True] * 7
    # the index page's check found no copies: of the lines whose count class stays, it reads only those counted 2
    # or less on a side (which pages carry them), unless stored without NO_COPIES
    assert NO_COPIES in reads[6] and not any(NO_COPIES in read for read in reads[:6])
    walked = RestripScope(frozenset(), {}, frozenset(), walked={"example.org": lines})
    assert walked.candidates(docs).to_pylist() == [False] * 7
    low = RestripScope(frozenset(), {}, frozenset(), walked={"example.org": lines}, low={"example.org": lines})
    assert low.candidates(docs).to_pylist() == [False] * 6 + [True]
    found = docs.set_column(1, "line_keys", pa.array([sorted(read - {NO_COPIES}) for read in reads]))
    assert walked.candidates(found).to_pylist() == [False] * 6 + [True]


def test_lines_whose_count_class_stays_reach_only_the_documents_walking_their_model(tmp_path):
    """A subsite's menu is on each of its 6 pages and on 6 of the 40 pages of its registered domain: counted
    `many` in the subsite's model, in doubt in the domain's. Stripping reads a line as frequent when either model
    has it so, so the subsite's pages look for no variants in the domain's model (`lines_in_doubt`) and store
    `NO_DOMAIN_WALK`: a change of the menu lines' counts in the domain's model that keeps their count class
    (`RestripScope.walked`) makes no candidate of them. Pages of the other subsite that carry a line in doubt in
    both models walk both and are candidates; the same lines as touched lines reach every page carrying them."""
    cfg = BoilerplateConfig()
    words = ["families", "village", "season", "harvest", "water", "school", "road", "market", "clinic", "river"]

    def page(site: str, i: int, menu: list[str]) -> dict:
        body = [" ".join(f"{word}{site[:4]}{i}x{n}" for word in words * 3) for n in range(4)]  # no copies
        return {"url": f"https://{site}/news/{i}", "text": "\n".join([*menu, f"Story {i} of {site}", *body])}

    small = ["Small office home", "Small office projects", "Small office contacts", "Small office careers"]
    large = ["Large office home", "Large office projects", "Large office contacts", "Large office careers"]
    series = "Large office special series on the harvest"  # on 3 of the large subsite's 34 pages: in doubt
    pages = [page("small.example.org", i, small) for i in range(6)]
    pages += [page("large.example.org", i, [*large, *([series] if i < 3 else [])]) for i in range(34)]
    table = _pages(pages, tmp_path / "raw", "night-0")
    sample = PageSample(BOILERPLATE_PAGES.empty(), cfg)
    sample.add(table)
    models = sample.models()
    site, domain = models.of("small.example.org")
    menu = frozenset(page_keys(small, cfg))
    # the premise: the menu is certain in the subsite's model, in doubt in the domain's
    assert all(site.counts[h] >= site.many(cfg, False) for h in menu)
    assert all(domain.strip_need(cfg, True) <= domain.counts[h] < domain.many(cfg, True) for h in menu)
    reads, sites = [], []
    for row in table.to_pylist():
        lines, read = row["raw_text"].splitlines(), set()
        sites.append(page_group(row["url"], lines, cfg))
        clean_page(lines, sites[-1], models, cfg, read)
        reads.append(read)
    walking = [NO_DOMAIN_WALK not in read for read in reads]
    assert walking == [False] * 6 + [True] * 3 + [False] * 31
    assert all(NO_COPY_CHECK in read for read in reads)
    docs = pa.table(
        {"site": sites, "line_keys": [sorted(read) for read in reads]},
        schema=pa.schema([("site", pa.string()), ("line_keys", pa.list_(pa.int64()))]),
    )
    lines = menu | frozenset(page_keys([series], cfg))
    # the walking pages found no variants (their bodies are their own): they read the series line's first carriers
    assert all(
        {NO_DOMAIN_MERGE, *(doubt_key(h, True) for h in page_keys([series], cfg))} <= read for read in reads[6:9]
    )
    shifted = RestripScope(
        frozenset(), {}, frozenset(), walked={"domain:example.org": lines}, shifted={"domain:example.org": lines}
    )
    assert shifted.candidates(docs).to_pylist() == [False] * 6 + [True] * 3 + [False] * 31
    # lines whose first carriers stayed reach no walk that merged nothing
    walked = RestripScope(frozenset(), {}, frozenset(), walked={"domain:example.org": lines})
    assert walked.candidates(docs).to_pylist() == [False] * 40
    merged = docs.set_column(1, "line_keys", pa.array([sorted(read - {NO_DOMAIN_MERGE}) for read in reads]))
    assert walked.candidates(merged).to_pylist() == [False] * 6 + [True] * 3 + [False] * 31
    touched = RestripScope(frozenset(), {"domain:example.org": lines}, frozenset())
    assert touched.candidates(docs).to_pylist() == [True] * 9 + [False] * 31
    # stored without the marks (an earlier docpipe's keys), a document is read as walking every model
    unmarked = docs.set_column(1, "line_keys", pa.array([sorted(read - MARKS) for read in reads]))
    assert walked.candidates(unmarked).to_pylist() == [True] * 9 + [False] * 31
    assert shifted.candidates(unmarked).to_pylist() == [True] * 9 + [False] * 31


def test_lines_crossing_seen_twice_only_reach_the_pages_that_asked(tmp_path):
    """Whether a line is on two sampled documents is asked only of a navigation-shaped line the strip walks past
    (`nav_shape.line_evidence`): of a news page, its title under the menu, not the first line of its body, whose
    count is looked up all the same. A line whose count only crosses 2 (`RestripScope.twice`) reaches the pages
    that asked (stored as `model.twice_key`), those checked for copies, and those stored before the question was
    kept apart (without `TWICE_KEYED`); the same lines as touched lines reach every page that looked them up."""
    cfg = BoilerplateConfig()
    table = _pages([_news("example.org", i, []) for i in range(6)], tmp_path / "raw", "night-0")
    sample = PageSample(BOILERPLATE_PAGES.empty(), cfg)
    sample.add(table)
    models = sample.models()
    reads, titles, bodies = [], [], []
    for row in table.to_pylist():
        lines, read = row["raw_text"].splitlines(), set()
        clean_page(lines, page_group(row["url"], lines, cfg), models, cfg, read)
        reads.append(read)
        titles.append(page_keys([lines[4]], cfg))
        bodies.append(page_keys([lines[5]], cfg))
    # the premise: each page looked up its title and its body's first line, and asked "seen twice" of its title only
    assert all(
        title | body <= read and TWICE_KEYED in read for title, body, read in zip(titles, bodies, reads, strict=True)
    )
    assert all({twice_key(h) for h in title} <= read for title, read in zip(titles, reads, strict=True))
    assert not any({twice_key(h) for h in body} & read for body, read in zip(bodies, reads, strict=True))
    docs = pa.table(
        {"site": ["example.org"] * len(reads), "line_keys": [sorted(read) for read in reads]},
        schema=pa.schema([("site", pa.string()), ("line_keys", pa.list_(pa.int64()))]),
    )
    lines = titles[0] | bodies[1]
    twice = RestripScope(frozenset(), {}, frozenset(), twice={"example.org": lines})
    assert twice.candidates(docs).to_pylist() == [True] + [False] * 5
    touched = RestripScope(frozenset(), {"example.org": lines}, frozenset())
    assert touched.candidates(docs).to_pylist() == [True, True] + [False] * 4
    # checked for copies: the copy check reads which pages carry a line counted twice or less
    checked = docs.set_column(1, "line_keys", pa.array([sorted(read - {NO_COPY_CHECK}) for read in reads]))
    assert twice.candidates(checked).to_pylist() == [True, True] + [False] * 4
    # an earlier docpipe's keys: the question stored as the line's own fingerprint, no TWICE_KEYED
    earlier = pa.array(
        [
            sorted(read - {TWICE_KEYED} - {twice_key(h) for h in title})
            for read, title in zip(reads, titles, strict=True)
        ]
    )
    assert twice.candidates(docs.set_column(1, "line_keys", earlier)).to_pylist() == [True, True] + [False] * 4


def test_a_line_of_one_group_makes_candidates_only_of_that_groups_documents():
    """The candidate test folds each stored fingerprint with its document's group (its site, then its registered
    domain): a fingerprint touched in one group reaches that group's documents and those of the sites under a
    touched domain, not those of another group, even one with touched lines of its own; a document without a
    site or without stored keys is kept for `may_change` to decide."""
    line, other = 11, 12
    docs = pa.table(
        {
            "site": ["a.example.org", "b.example.org", "c.other.org", None, "a.example.org", "a.example.org"],
            "line_keys": [[line, other], [line], [line], [line], None, [other]],
        },
        schema=pa.schema([("site", pa.string()), ("line_keys", pa.list_(pa.int64()))]),
    )
    by_site = RestripScope(
        frozenset(), {"a.example.org": frozenset({line}), "b.example.org": frozenset({other})}, frozenset()
    )
    assert by_site.candidates(docs).to_pylist() == [True, False, False, True, True, False]
    by_domain = RestripScope(frozenset(), {"domain:example.org": frozenset({line})}, frozenset())
    assert by_domain.candidates(docs).to_pylist() == [True, True, False, True, True, False]
    known = RestripScope(frozenset(), {}, frozenset({other}))
    assert known.candidates(docs).to_pylist() == [True, False, False, True, True, True]
    whole = RestripScope(frozenset({"c.other.org"}), {}, frozenset())
    assert whole.candidates(docs).to_pylist() == [False, False, True, True, True, False]
    assert by_site.candidates(docs.slice(0, 0)).to_pylist() == []


def _stored_as(docs: pa.Table, keys: list[list[int]]) -> pa.Table:
    at = docs.schema.get_field_index("line_keys")
    return docs.set_column(at, docs.schema.field(at), pa.array(keys, docs.schema.field(at).type))


def test_a_step_not_done_tonight_is_covered_by_one_stored_as_done_finding_nothing(tmp_path):
    """A document stored as having walked a model for variants and merged none (`NO_SITE_MERGE`), or checked for
    copies and found none (`NO_COPIES`), read more than a cleaning that skips the step: when tonight's cleaning
    skips it and gives the same text, the document is not published again (the 1M bench's catch-up after a week
    of deferred nights re-published 52,857 such documents). A document stored as skipping a step that tonight's
    cleaning does is published again with tonight's keys."""
    cfg = BoilerplateConfig()
    stream = PageStream(load_parts(seed=7), seed=7)
    pages = _pages(stream.take(600), tmp_path / "raw", "night-0")
    sample = PageSample(BOILERPLATE_PAGES.empty(), cfg)
    sample.add(pages)
    models = sample.models()
    docs = strip_rows(pages, models, cfg, Counter(), [])
    stored = [set(keys) for keys in docs["line_keys"].to_pylist()]
    assert not restrip(docs, "night-1", models, cfg, set()).num_rows  # the same models: nothing to publish again
    skipped = [i for i, keys in enumerate(stored) if {NO_SITE_WALK, NO_DOMAIN_WALK, NO_COPY_CHECK} <= keys]
    walked = [i for i, keys in enumerate(stored) if NO_SITE_WALK not in keys and NO_SITE_MERGE in keys]
    assert len(skipped) >= 10 and walked, (len(skipped), len(walked))

    def swapped(keys: set[int], marks: dict[int, int], extra: set[int] = frozenset()) -> list[int]:
        return sorted({marks.get(h, h) for h in keys} | extra)

    done_nothing = {NO_SITE_WALK: NO_SITE_MERGE, NO_DOMAIN_WALK: NO_DOMAIN_MERGE, NO_COPY_CHECK: NO_COPIES}
    as_done = _stored_as(docs.take(skipped), [swapped(stored[i], done_nothing, {doubt_key(7, False)}) for i in skipped])
    assert not restrip(as_done, "night-1", models, cfg, set()).num_rows
    as_skipped = _stored_as(docs.take(walked), [swapped(stored[i], {NO_SITE_MERGE: NO_SITE_WALK}) for i in walked])
    again = restrip(as_skipped, "night-1", models, cfg, set())
    assert again.num_rows == len(walked)
    assert [set(keys) for keys in again["line_keys"].to_pylist()] == [stored[i] for i in walked]
