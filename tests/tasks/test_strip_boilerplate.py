"""strip_boilerplate on the seeds: navigation learned from repetition, contact blocks cut, order-independent."""

from __future__ import annotations

import json
import random
import shutil

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
from helpers import clean, ingest

from schemas import STG_PAGES, reasons

NAV_LINES = ("Who we are", "Take Action", "Work with us", "Get involved", "Partnerships", "Highlights")


def _texts(result) -> dict[str, str]:
    return dict(zip(result.kept.column("source_uri").to_pylist(), result.kept.column("text").to_pylist(), strict=True))


def test_navigation_lines_are_removed_and_body_kept(seeds_raw):
    result = clean(ingest(seeds_raw).kept)
    assert result.kept.num_rows == 5
    for uri, text in _texts(result).items():
        lines = {line.strip() for line in text.splitlines()}
        assert not lines & set(NAV_LINES), uri
    texts = _texts(result)
    mongolia = next(t for t in texts.values() if t.startswith("IOM Director General to Visit Mongolia"))
    assert "In 2010 they sent\nhome USD 210 million in remittances." in mongolia
    assert result.stats["boilerplate_lines"] >= 4 * 20


def test_project_field_labels_stay_in_the_body(seeds_raw):
    texts = _texts(clean(ingest(seeds_raw).kept))
    project = next(t for t in texts.values() if "Prima ID" in t)
    for label in ("Start Date", "End Date", "Budget Amount (USD)", "Benefiting Member States"):
        assert label in project.splitlines()


def test_contact_block_is_cut_and_kept_aside(seeds_raw):
    rows = clean(ingest(seeds_raw).kept).kept.to_pylist()
    with_contact = [r for r in rows if r["contact_text"]]
    assert len(with_contact) == 4
    for row in with_contact:
        assert "For more information" not in row["text"]
        assert row["contact_text"].startswith("For more information please contact")
        assert "@iom.int" in row["contact_text"]


def test_result_does_not_depend_on_input_order(seeds_raw):
    pages = ingest(seeds_raw).kept
    expected = _texts(clean(pages))
    order = list(range(pages.num_rows))
    random.Random(7).shuffle(order)
    assert _texts(clean(pages.take(order))) == expected


def test_same_result_when_pages_are_spread_over_two_runs(seeds_raw):
    pages = ingest(seeds_raw).kept
    expected = _texts(clean(pages))
    first = clean(pages.slice(0, 3))
    second = clean(pages.slice(3), samples=first.outputs["boilerplate_pages"])
    assert set(_texts(second)) == set(pages.slice(3).column("source_uri").to_pylist())  # every page kept, not none
    assert _texts(second) == {k: v for k, v in expected.items() if k in _texts(second)}


def test_a_single_page_of_a_new_site_loses_its_navigation_block_by_shape(seeds_raw):
    """Nothing learned, one page: the menu goes on its shape alone (labels, vocabulary, dropdown labels printed
    twice, labels glued to their teasers), and the title right after it stays."""
    from schemas import reasons

    pages = ingest(seeds_raw).kept.slice(0, 1)
    result = clean(pages)
    (row,) = result.kept.to_pylist()
    assert row["n_boilerplate_lines"] == 22
    assert row["text"].startswith("IOM Director General to Visit Mongolia, Open IOM Office\n")
    assert result.stats[reasons.BOILERPLATE_NAV_SHAPE] == 19
    assert result.stats[reasons.BOILERPLATE_REPEATED] == result.stats[reasons.BOILERPLATE_KNOWN_TEMPLATE] == 0


def test_page_with_nothing_but_template_is_quarantined(seeds_raw):
    rows = ingest(seeds_raw).kept.to_pylist()
    menu_only = "\n".join(rows[0]["raw_text"].splitlines()[:20])
    rows.append({**rows[0], "raw_text": menu_only, "source_uri": "menu.txt", "record_id": "menu"})
    result = clean(STG_PAGES.conform(rows))
    assert [(r["source_uri"], r["reason"]) for r in result.quarantined.to_pylist()] == [
        ("menu.txt", "boilerplate.empty_body")
    ]


def test_an_edited_copy_of_a_page_is_no_evidence_of_template(seeds_raw):
    """A re-scrape with one word changed shares all its lines with the first version: not a template."""
    first = clean(ingest(seeds_raw).kept)
    target = seeds_raw / "004_822d45cd400e070e.txt"
    target.write_text(target.read_text().replace("half-day", "full-day"))
    edited = ingest(seeds_raw).kept.filter(pa.compute.equal(ingest(seeds_raw).kept["source_uri"], target.name))
    again = clean(edited, samples=first.outputs["boilerplate_pages"])
    assert again.quarantined.num_rows == 0
    (row,) = again.kept.to_pylist()
    assert "full-day national consultation" in row["text"]
    assert row["text"].count("\n") > 10


def test_two_copies_of_one_story_keep_their_body(tmp_path):
    """The corpus's labelled duplicate pair (same page with and without www.) shares every body line with no third
    page: that is a copy, not a template, so both keep their text (and dedupe folds them)."""
    from helpers import corpus_labels

    labels = corpus_labels()
    pair = [i for i, label in enumerate(labels) if label["dup_group"] is not None]
    assert len(pair) == 2
    raw = tmp_path / "raw"
    raw.mkdir()
    pages = ingest_corpus(raw)
    result = clean(pages)
    kept = {r["source_uri"]: r for r in result.kept.to_pylist()}
    for i in pair:
        row = kept[f"pages.jsonl#line={i + 1}"]
        assert "Jenifer Fenton" in row["text"]


def _copies_of_one_page(raw, name: str) -> dict[str, str]:
    """Copies of one seed page without URL, as aggregators and archives make them: a mirror, single-word and
    five-word edits, and the body re-wrapped at another width. Returns file name -> a body sentence it keeps."""
    import textwrap

    text = (raw / name).read_text()
    words = text.split()
    copies = {"mirror.txt": text, "rewrapped.txt": "\n".join(textwrap.fill(p, 60) for p in text.split("\n\n"))}
    for k, target in ((1, "half-day"), (5, "officials")):
        edited = text
        for i, word in enumerate([target, *[w for w in words[200:] if len(w) > 6][: k - 1]]):
            edited = edited.replace(word, f"{word}{i}x", 1)
        copies[f"edit_k{k}.txt"] = edited
    for file, copy in copies.items():
        (raw / file).write_text(copy)
    return {file: "Mongolia has witnessed record numbers" for file in [name, *copies]}


def test_copies_of_one_page_without_url_keep_their_bodies(seeds_raw):
    """Copies of one document (mirrored, edited, re-wrapped) land in one template group without URLs; they are
    one document for the line counts, so their shared body is no template, while the seeds keep losing their
    menus."""
    keeps = _copies_of_one_page(seeds_raw, "004_822d45cd400e070e.txt")
    result = clean(ingest(seeds_raw).kept)
    assert result.quarantined.num_rows == 0
    texts = _texts(result)
    for file, sentence in keeps.items():
        assert sentence in " ".join(texts[file].split()), file
        assert len(texts[file].split()) > 300, file
    for uri, text in texts.items():
        assert not {line.strip() for line in text.splitlines()} & set(NAV_LINES), uri


def test_a_heavily_edited_copy_is_no_evidence_of_template(tmp_path):
    """A short corpus page without template (title, two paragraphs) as .txt without URL, a mirror, and a copy with
    20 of its ~100 words replaced (3-gram Jaccard 0.35: too edited to be a copy, but it carries the page's body).
    All share the title and the first paragraph's first words, so they form one template group of two documents;
    the edited copy is a variant of the page's body, so the title and first paragraph stay body on every copy."""
    from helpers import corpus_labels, corpus_pages

    pages, labels = corpus_pages(), corpus_labels()
    i = next(i for i, p in enumerate(pages) if p["url"].endswith("/fr/regions/burkina-faso"))
    assert labels[i]["boilerplate"] == []
    text = pages[i]["text"]
    words = text.split(" ")
    spots = [w for w in range(8, len(words)) if words[w].isalpha()][::3][:20]
    edited = " ".join("migrants" if w in spots else word for w, word in enumerate(words))
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, copy in (("page.txt", text), ("mirror.txt", text), ("edited.txt", edited)):
        (raw / name).write_text(copy)
    result = clean(ingest(raw).kept)
    rows = {r["source_uri"]: r for r in result.kept.to_pylist()}
    assert len(spots) == 20 and set(rows) == {"page.txt", "mirror.txt", "edited.txt"}
    for name in ("page.txt", "mirror.txt"):
        assert rows[name]["n_boilerplate_lines"] == 0, name
        assert rows[name]["text"] == text.strip(), name
    assert rows["edited.txt"]["text"].startswith("Burkina Faso\n\nOuagadougou - Plus d'un million")


def ingest_corpus(raw):
    from helpers import CORPUS

    shutil.copyfile(CORPUS / "pages.jsonl", raw / "pages.jsonl")  # ingest follows no symbolic link
    return ingest(raw).kept


def test_a_new_site_seen_with_two_pages_loses_the_menu_they_share(seeds_raw):
    """Documented rule: with two pages, lines both share in the leading/trailing run are template (the two are
    different stories, so the copy check does not apply)."""
    pages = ingest(seeds_raw).kept
    two = pages.filter(pa.compute.is_in(pages["source_uri"], pa.array(sorted(pages["source_uri"].to_pylist())[:3:2])))
    result = clean(two)
    for row in result.kept.to_pylist():
        assert row["n_boilerplate_lines"] == 22
        assert not {line.strip() for line in row["text"].splitlines()} & set(NAV_LINES)


def test_a_project_section_keeps_every_title_and_field(tmp_path):
    """24 project pages of one site (seed layout, short and long titles sharing first words, missing values, the
    bullet layout): labels and values repeat on every page, yet the field block and the title are page data."""
    from project_section import LABELS, project_title, project_values, write_project_section

    result = clean(ingest(write_project_section(tmp_path / "raw", 24)[0].parent).kept)
    assert result.kept.num_rows == 24
    for row in result.kept.to_pylist():
        n = int(row["source_uri"].removesuffix(".txt").rsplit("_", 1)[1])
        lines = [line.strip(" •") for line in row["text"].splitlines()]
        assert lines[0] == project_title(n)
        assert not set(lines) & set(NAV_LINES)
        values = project_values(n)
        assert [x for x in lines if x in LABELS] == list(LABELS)
        assert all(v in lines for v in values.values() if v)


def test_a_field_block_ends_the_template_run():
    """The generic `-` / label / value shape, whatever the labels: three units in a row make a block."""
    from tasks.strip_boilerplate import BoilerplateConfig
    from tasks.strip_boilerplate.lines import field_lines

    cfg = BoilerplateConfig()
    page = ["-", "Who we are", "WHO WE ARE: a long menu teaser line.", "-", "Our Work", "Our work teaser.", "Title"]
    page += ["-", "Partner", "ACME", "-", "Sector", "-", "Region", "North", "A body sentence that runs long."]
    assert field_lines(page, cfg) == set(range(7, 15))
    assert field_lines(page[:12], cfg) == set()  # two units are no block (the IOM menu has that shape)
    bullets = ["Title", "  • Start Date", "    2014", "  • End Date", "  • Coverage", "    National", "Body."]
    assert field_lines(bullets, cfg) == set(range(1, 6))


def _write_corpus_as_txt(raw, order=None) -> list[str]:
    """The corpus pages as one .txt file each, without URL (the seeds' own format); file names in page order."""
    from helpers import corpus_pages

    raw.mkdir(parents=True, exist_ok=True)
    pages = corpus_pages()
    for i in order if order is not None else range(len(pages)):
        (raw / f"p{i:04d}.txt").write_text(pages[i]["text"])
    return [f"p{i:04d}.txt" for i in range(len(pages))]


def _boilerplate_scores(texts: dict[int, str]) -> tuple[float, float]:
    """Line-level precision and recall of boilerplate removal against the corpus labels (bench's rule)."""
    from helpers import corpus_labels

    def norm(line: str) -> str:
        return " ".join(line.split()).casefold()

    tp = fp = fn = 0
    for i, label in enumerate(corpus_labels()):
        if not label["bp_scored"]:
            continue
        kept = {norm(x) for x in texts.get(i, "").splitlines()}
        skip = {*label["contact"], *label["fields"], *label["ignore"], label["title_line"]}
        truth = set(label["boilerplate"])
        for j, line in enumerate(label["lines"]):
            if j in skip or sum(c.isalnum() for c in line) < 3:
                continue
            removed = norm(line) not in kept
            tp += removed and j in truth
            fp += removed and j not in truth
            fn += not removed and j in truth
    return tp / (tp + fp), tp / (tp + fn)


def _texts_by_page(result) -> dict[int, str]:
    return {int(r["source_uri"][1:5]): r["text"] for r in result.kept.to_pylist()}


def test_the_corpus_as_txt_pages_without_url_loses_its_menus(tmp_path):
    """Pages without URL are grouped by their first lines (long ones by their first words) and stripped with
    the template lines known from every group: the corpus delivered one .txt a page scores as with URLs."""
    _write_corpus_as_txt(tmp_path / "raw")
    precision, recall = _boilerplate_scores(_texts_by_page(clean(ingest(tmp_path / "raw").kept)))
    assert precision >= 0.995 and recall >= 0.99


def test_txt_corpus_result_does_not_depend_on_order_or_on_the_night(tmp_path):
    """Shuffled and spread over two runs (the second seeded with the first's sample), the second run's pages come
    out as in one run."""
    _write_corpus_as_txt(tmp_path / "all")
    expected = _texts_by_page(clean(ingest(tmp_path / "all").kept))
    order = list(range(len(expected)))
    random.Random(13).shuffle(order)
    _write_corpus_as_txt(tmp_path / "night1", order[:120])
    _write_corpus_as_txt(tmp_path / "night2", order[120:])
    first = clean(ingest(tmp_path / "night1").kept)
    second = _texts_by_page(clean(ingest(tmp_path / "night2").kept, samples=first.outputs["boilerplate_pages"]))
    assert len(second) > 100
    assert second == {i: expected[i] for i in second}


def _lone_page_on_a_new_host(seeds_raw):
    """Seed 000 (menu + news story) as a JSON line with a URL on a host seen nowhere else."""
    page = seeds_raw / "000_319d2d35828df4fe.txt"
    raw = seeds_raw.parent / "lone"
    raw.mkdir()
    (raw / "lone.jsonl").write_text(json.dumps({"url": "https://news.example.org/a/b", "text": page.read_text()}))
    page.unlink()
    return raw


def test_a_lone_page_loses_template_lines_learned_from_another_site_in_the_same_run(seeds_raw):
    lone_raw = _lone_page_on_a_new_host(seeds_raw)
    shutil.copyfile(lone_raw / "lone.jsonl", seeds_raw / "lone.jsonl")
    variant = seeds_raw / "001_21b7bb96a17f6ee7.txt"  # one more page without URL, its first lines unseen
    (seeds_raw / "variant.txt").write_text("Skip to content\n" + variant.read_text().replace("Who we are", "Qui"))
    rows = {r["source_uri"]: r for r in clean(ingest(seeds_raw).kept).kept.to_pylist()}
    for uri in ("lone.jsonl#line=1", "variant.txt"):
        lines = {line.strip() for line in rows[uri]["text"].splitlines()}
        assert not lines & set(NAV_LINES), uri
    assert rows["lone.jsonl#line=1"]["text"].startswith("IOM Director General to Visit Mongolia")
    assert rows["variant.txt"]["text"].startswith("Supporting the Government of Mongolia")


def test_a_lone_page_loses_template_lines_learned_in_an_earlier_run(seeds_raw):
    lone_raw = _lone_page_on_a_new_host(seeds_raw)
    first = clean(ingest(seeds_raw).kept)
    alone = clean(ingest(lone_raw).kept)
    assert alone.stats[reasons.BOILERPLATE_KNOWN_TEMPLATE] == 0  # nothing learned: the menu goes by its shape
    learned = clean(ingest(lone_raw).kept, samples=first.outputs["boilerplate_pages"])
    assert learned.stats[reasons.BOILERPLATE_KNOWN_TEMPLATE] > 10
    (row,) = learned.kept.to_pylist()
    assert not {line.strip() for line in row["text"].splitlines()} & set(NAV_LINES)
    assert row["text"].startswith("IOM Director General to Visit Mongolia")
    assert row["text"] == alone.kept.column("text")[0].as_py()


def test_every_removed_line_is_counted_under_a_reason(seeds_raw):
    """Stage stats (runs.stage_stats) count removed lines by reason: repeated on the site's own pages, or known
    from another group's template; the codes add up to the lines removed."""
    lone_raw = _lone_page_on_a_new_host(seeds_raw)
    first = clean(ingest(seeds_raw).kept)
    assert first.stats[reasons.BOILERPLATE_REPEATED] > 50
    assert sum(first.stats[code] for code in reasons.REMOVED_LINE_REASONS) == first.stats["boilerplate_lines"]
    alone = clean(ingest(lone_raw).kept, samples=first.outputs["boilerplate_pages"])
    assert alone.stats[reasons.BOILERPLATE_REPEATED] == 0
    assert alone.stats[reasons.BOILERPLATE_KNOWN_TEMPLATE] > 10
    assert sum(alone.stats[code] for code in reasons.REMOVED_LINE_REASONS) == alone.stats["boilerplate_lines"]


def _lone_pages(tmp_path, pages: list[list[str]]):
    """Each page (its lines) as a JSON line on a registered domain of its own: nothing is learned from repetition."""
    raw = tmp_path / "raw"
    raw.mkdir()
    with (raw / "pages.jsonl").open("w") as fh:
        for n, lines in enumerate(pages):
            fh.write(json.dumps({"url": f"https://www.example{n}.net/a/b", "text": "\n".join(lines)}) + "\n")
    result = clean(ingest(raw).kept)
    rows = {r["source_uri"]: r for r in result.kept.to_pylist()}
    return [rows[f"pages.jsonl#line={n + 1}"]["text"].splitlines() for n in range(len(pages))], result.stats


_STORY = "Geneva – The agency opened three new offices this week. It said more would follow next year."


def test_navigation_shape_needs_an_anchor_and_keeps_the_heading(tmp_path):
    """Section labels above a title go ('News' is navigation vocabulary, 'Local' sits beside it, in any language);
    a lone heading, a block without any anchor, and the last plain label right above the prose (the page's
    heading) stay; a page of nothing but labels is left alone (no evidence of where its text is)."""
    title = "Three New Offices Open in the Region Before the Summer"
    pages = [
        ["News", "Local", "", title, "", _STORY],
        ["Communiqué", "Global", title, _STORY],
        ["Новости", "Регион", title, _STORY],
        ["Press Releases", "", title, _STORY],
        ["Regional Offices", "Eastern Africa", title, _STORY],
        ["Who we are", "About us", "Beneficiaries", _STORY],
        ["Home", "News", "Contact us"],
        ["Home | News | Offices", "Three New Offices Open", _STORY],
    ]
    texts, stats = _lone_pages(tmp_path, pages)
    assert [t[0] for t in texts[:3]] == [title] * 3
    assert texts[3][0] == "Press Releases"
    assert texts[4][:2] == ["Regional Offices", "Eastern Africa"]
    assert texts[5][0] == "Beneficiaries"
    assert texts[6] == pages[6]
    assert texts[7][0] == "Three New Offices Open"
    assert stats[reasons.BOILERPLATE_NAV_SHAPE] == 2 + 2 + 2 + 2 + 1


def test_a_trailing_navigation_block_goes(tmp_path):
    """Walking up from the end: a share bar and a language switcher under the story are navigation."""
    texts, stats = _lone_pages(tmp_path, [["A Title For The Story Here", _STORY, "Share", "Facebook", "English"]])
    assert texts[0] == ["A Title For The Story Here", _STORY]
    assert stats[reasons.BOILERPLATE_NAV_SHAPE] == 3


def test_a_restrip_leaves_the_documents_it_must_not_strip_again(seeds_raw):
    """pages.restrip strips again a published document whose text changes under tonight's model (a one-page file
    without URL included), and leaves those without raw_text, those among the night's pages and those identified
    by their body (no URL, null or empty, inside a multi-record dump: a new text would give them a new id)."""
    from schemas import BOILERPLATE_PAGES, STG_CLEAN
    from tasks.strip_boilerplate import BoilerplateConfig, PageSample
    from tasks.strip_boilerplate.lines import keys_of
    from tasks.strip_boilerplate.model import clean_page, page_group
    from tasks.strip_boilerplate.pages import restrip

    banner = (  # sentences, longer than a site notice nav_shape takes on a lone page (max_banner_words)
        "This website is maintained by the country office team and is updated every week with news from our "
        "programmes. Opinions expressed in the stories published here are those of their authors and do not "
        "necessarily reflect the views of the organisation, its member states or its donors."
    )
    for path in seeds_raw.glob("*.txt"):
        path.write_text(banner + "\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    pages, cfg = ingest(seeds_raw).kept, BoilerplateConfig()
    (doc,) = clean(pages.slice(0, 1)).kept.to_pylist()
    assert doc["text"].startswith(banner) and doc["url"] is None  # one page: the banner is not template yet
    sample = PageSample(BOILERPLATE_PAGES.empty(), cfg)
    sample.add(pages)
    published = [
        doc,
        {**doc, "source_uri": "dump.jsonl#line=1"},
        {**doc, "source_uri": "dump.jsonl#line=2", "url": ""},
        {**doc, "source_uri": "empty.txt", "raw_text": ""},
        {**doc, "source_uri": "tonight.txt"},
    ]
    again = restrip(STG_CLEAN.conform(published), "later", sample.models(), cfg, {"tonight.txt"}).to_pylist()
    assert [row["source_uri"] for row in again] == [doc["source_uri"]]
    assert not again[0]["text"].startswith(banner)
    # it stores the fingerprints its cleaning read tonight: the banner's, which the re-strip tests
    lines, read = doc["raw_text"].splitlines(), set()
    clean_page(lines, page_group(None, lines, cfg), sample.models(), cfg, read)
    assert again[0]["line_keys"] == sorted(read) and set(keys_of(banner, cfg.prefix_words)) <= read
