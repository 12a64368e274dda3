"""extract_fields on the seeds: titles, doc types, language, project fields, contacts."""

from __future__ import annotations

from helpers import clean, ingest

from schemas import CONTACTS, DOCUMENTS, PROJECTS
from schemas.stg_pages import STG_DOCUMENTS
from tasks.dedupe import DedupeConfig, dedupe_pages
from tasks.extract import ExtractConfig, extract_fields
from tasks.extract.countries import find_countries
from tasks.extract.language import detect_language, prose_first
from tasks.extract.page_fields import find_dateline


def _extract(raw):
    pages = dedupe_pages(
        clean(ingest(raw).kept).kept, DOCUMENTS.empty().select(["doc_id", "content_hash"]), DedupeConfig()
    ).kept
    return extract_fields(pages, ExtractConfig())


def test_seed_documents(seeds_raw):
    result = _extract(seeds_raw)
    assert result.kept.schema == STG_DOCUMENTS.arrow_schema  # documents + is_update, dropped at publish
    docs = {d["source_uri"][:3]: d for d in result.kept.to_pylist()}
    assert docs["000"]["title"] == "IOM Director General to Visit Mongolia, Open IOM Office"
    assert docs["004"]["title"] == "Mongolia Prepares for UN High-Level Dialogue on Migration and Development"
    assert {d["language"] for d in docs.values()} == {"en"}
    assert docs["001"]["doc_type"] == "project"
    assert docs["000"]["doc_type"] == "news"
    assert docs["000"]["emails"] == ["kgormanbest@iom.int"]
    assert docs["004"]["dateline"] == "Mongolia"
    assert docs["000"]["word_count"] > 300


def test_seed_project_fields_are_typed(seeds_raw):
    projects = _extract(seeds_raw).outputs["projects"]
    assert projects.schema == PROJECTS.arrow_schema
    (row,) = projects.to_pylist()
    assert row["prima_id"] == "MN10P0001" and row["projects_id"] == "TC.0789"
    assert (row["start_year"], row["end_year"], row["year"]) == (2014, 2016, 2014)
    assert (row["start_date"], row["end_date"]) == (2014, 2016)  # deprecated names, same years (issue #16)
    assert row["budget_usd"] == 200000.0
    assert (row["status"], row["project_type"], row["coverage"]) == ("Completed", "TCMMCB", "National")
    assert row["idf_region"] == "Asia and Oceania"
    assert row["benefiting_member_states"] == ["Mongolia"]
    assert row["benefiting_member_state_codes"] == ["MNG"]


def test_seed_contacts(seeds_raw):
    contacts = _extract(seeds_raw).outputs["contacts"]
    assert contacts.schema == CONTACTS.arrow_schema
    people = {(c["name"], c["organisation"], c["email"], c["phone"], c["phone_raw"]) for c in contacts.to_pylist()}
    assert (
        "Kieran Best",
        "IOM Beijing",
        "kgormanbest@iom.int",
        "+861085325303",
        "+86 10 8532 5303, Ext. 203",
    ) in people
    assert all("mailto" not in (c["email"] or "") for c in contacts.to_pylist())


def test_language_is_deterministic_and_und_when_short():
    text = "L'Organisation internationale pour les migrations a organisé un atelier à Dakar sur la migration."
    assert detect_language(text, 0, 500, 20) == detect_language(text, 0, 500, 20)
    assert detect_language(text, 0, 500, 20)[0] == "fr"
    assert detect_language("OK 12", 0, 500, 20) == ("und", None)


def test_language_is_read_on_the_prose_not_on_photo_captions():
    """A French listing whose English photo captions come first: the captions (no sentence end) go after the
    prose in the detector's prefix, so the page is French; a body without prose keeps its lines as they are."""
    captions = [
        "Displaced families receive food kits in Goma (photo: IOM 2023)",
        "A nurse checks a child at the new clinic in Bunia (photo: IOM/J. Smith)",
        "Children walk to school after the floods in Kinshasa (credit: UNICEF)",
        "Volunteers unload trucks of water and blankets near the camp (photo: WFP)",
    ]
    prose = [
        "Les familles déplacées par les combats ont reçu une aide alimentaire cette semaine.",
        "L'organisation a ouvert trois nouveaux centres de santé dans la province du Nord-Kivu.",
    ]
    body = "\n".join(captions + prose)
    cfg = ExtractConfig()
    assert detect_language(body, 0, cfg.max_language_chars, 20)[0] == "en"  # what the prefix alone says
    sample = prose_first(body, cfg.min_prose_words)
    assert sample.splitlines()[:2] == prose
    assert detect_language(sample, 0, cfg.max_language_chars, 20)[0] == "fr"
    assert prose_first("\n".join(captions), cfg.min_prose_words) == "\n".join(captions)


def test_dateline_place():
    assert find_dateline("Title here\nUlaanbaatar - IOM today opened", 0) == "Ulaanbaatar"
    assert find_dateline("Title here\nThe workshop - which ran for days", 0) is None


def test_countries_use_real_names_not_capitals():
    codes = [c for _, c in find_countries("the Republic of Korea, the Czech Republic, Viet Nam and Ulan Bator")]
    assert codes == ["KOR", "CZE", "VNM"]
    assert [c for _, c in find_countries("Fiji Tonga Vanuatu")] == ["FJI", "TON", "VUT"]


def test_seed_money_mention_with_its_sentence(seeds_raw):
    mentions = _extract(seeds_raw).outputs["mentions"].to_pylist()
    money = [m for m in mentions if m["kind"] == "money" and m["text"] == "USD 210 million"]
    assert len(money) == 1
    assert (money[0]["value"], money[0]["unit"]) == (210_000_000.0, "USD")
    assert "remittances" in money[0]["sentence"]
    people = {(m["value"], m["unit"]) for m in mentions if m["kind"] == "people"}
    assert (352.0, "victims") in people


def test_mention_offsets_point_into_the_text(seeds_raw):
    result = _extract(seeds_raw)
    texts = dict(zip(result.kept.column("doc_id").to_pylist(), result.kept.column("text").to_pylist(), strict=True))
    for m in result.outputs["mentions"].to_pylist():
        assert texts[m["doc_id"]][m["char_start"] : m["char_end"]].strip() == m["text"]


def test_seed_countries_exclude_capitals(seeds_raw):
    docs = {d["source_uri"][:3]: d for d in _extract(seeds_raw).kept.to_pylist()}
    assert {"KOR", "CZE", "USA", "MNG"} <= set(docs["000"]["countries"])


def test_published_date_from_dateline():
    from datetime import date

    from tasks.extract.page_fields import find_published_date

    assert find_published_date("T\nSouth Sudan, 11 March 2016 – Three weeks", 0) == date(2016, 3, 11)
    assert find_published_date("T\nNEW YORK (April 26, 2024) – UNICEF", 0) == date(2024, 4, 26)
    assert find_published_date("T\nDakar, le 3 mai 2019 - L'OIM", 0) == date(2019, 5, 3)
    assert find_published_date("T\nNo date here at all.", 0) is None


def test_corpus_bullet_layout_project_fields():
    """Real project pages in the `• Key` layout: a missing value is null, never the next key."""
    from helpers import corpus_pages

    from tasks.extract.project_fields import project_row

    page = next(p for p in corpus_pages() if p["url"].endswith("western-mediterranean"))
    row = project_row("d", page["text"], "r")
    assert row["start_year"] is None and row["budget_usd"] is None and row["status"] is None
    assert row["project_type"] == "Migration Policy Activities"
    assert row["benefiting_member_states"] == ["Algeria", "Mauritania", "Morocco", "Tunisia"]
    assert row["benefiting_member_state_codes"] == ["DZA", "MRT", "MAR", "TUN"]


def test_a_label_without_value_above_the_description_is_null():
    """The block's last label with no value, the description right below: null, never the prose (dash and
    bullet layouts, a sentence or a hard-wrapped prose line); a value the block's structure confirms is kept."""
    from helpers import seed_files

    from tasks.extract.project_fields import parse_key_values, project_row

    lines = seed_files()[1].read_text().splitlines()
    at = lines.index("Benefiting Member States")
    assert lines[at + 1] == "Mongolia"
    dash = lines[: at + 1] + lines[at + 2 :]
    row = project_row("d", "\n".join(dash), "r")
    assert row["benefiting_member_states"] is None and row["benefiting_member_state_codes"] is None
    assert (row["prima_id"], row["start_year"], row["budget_usd"]) == ("MN10P0001", 2014, 200000.0)
    wrapped = ["With an estimated one in 11 Mongolians living abroad and", "22,350 migrants working in Mongolia"]
    assert parse_key_values("\n".join(lines[: at + 1] + wrapped))[0]["benefiting_member_states"] is None
    bullets = ["  • Start Date", "    2014", "  • Coverage", "  • Benefiting Member States", "Mongolia is a country."]
    assert parse_key_values("\n".join(bullets))[0] == {
        "start_year": "2014",
        "coverage": None,
        "benefiting_member_states": None,
    }
    short_prose = ["  • Start Date", "    2014", "  • Benefiting Member States", "Migration is rising fast."]
    assert parse_key_values("\n".join(short_prose).replace("  ", ""))[0]["benefiting_member_states"] is None
    listing = ["It is now live in all regions. Offices have been trained:", "  • Asia-Pacific (Q3 2015)"]
    assert parse_key_values("\n".join(lines[: at + 1] + listing))[0]["benefiting_member_states"] is None
    confirmed = ["-", "Project Type", "Health promotion and assistance for migrants in the region.", "-", "Year"]
    assert parse_key_values("\n".join(confirmed))[0]["project_type"].startswith("Health promotion")


def test_vectorised_langdetect_agrees_with_langdetect_on_the_corpus():
    """The numpy inner loop must give langdetect's own answer (same profiles, seed and random stream)."""
    from helpers import corpus_pages
    from langdetect import DetectorFactory
    from langdetect.detector_factory import init_factory

    init_factory()
    from langdetect.detector_factory import _factory

    from tasks.extract.language import _profiles, gram_rows

    grams = _profiles()[1]
    for page in corpus_pages():  # the inlined n-gram extraction yields langdetect's n-grams exactly
        theirs = _factory.create()
        theirs.append(page["text"])
        assert [grams[i] for i in gram_rows(theirs.text)] == theirs._extract_ngrams()
    for page in corpus_pages()[::3]:
        sample = page["text"][-600:]
        DetectorFactory.seed = 0
        reference = _factory.create()
        reference.n_trial = 3
        reference.append(sample)
        want = reference.get_probabilities()[0]
        got = detect_language(sample, 0, 10_000, 1, trials=3)
        assert got[0] == want.lang.split("-")[0]
        assert abs(got[1] - want.prob) < 1e-3


def test_title_from_the_url_slug_beats_template_lines():
    from tasks.extract.page_fields import pick_title

    text = "International Organization for Migration\nWhat We Do\nPrevention of Trafficking in Women\nBody text."
    url = "https://albania.iom.int/prevention-trafficking-women"
    assert pick_title(text, None, [], url) == ("Prevention of Trafficking in Women", 2, "url_slug")
    header = ["L’OIM aide 494 migrants éthiopiens à rentrer du Yémen et de Djibouti"]
    url = "https://iom.int/fr/news/loim-aide-494-migrants-ethiopiens-rentrer-du-yemen-et-de-djibouti"
    assert pick_title("Djibouti - Au mois d’avril…", None, header, url) == (header[0], -1, "url_slug")
    assert pick_title("First line here\nSecond", None, [], "https://x.org/node/12") == (
        "First line here",
        0,
        "first_line",
    )
    # a trailing numeric id is no slug: the segment before it spells the title, not the section label above it
    text = "Press Release\n\nUNICEF steps up its response for children affected by the crisis in Syria\nBody."
    url = "https://www.unicefusa.org/press/releases/unicef-steps-its-response-children-affected-crisis-syria/8111"
    assert pick_title(text, None, [], url)[::2] == (text.splitlines()[2], "url_slug")


def test_a_project_section_gives_every_title_and_projects_row(tmp_path):
    """The project parser reads the page as delivered, so a block that repeats on every page of a section (labels
    and many values) still becomes a projects row, typed, with the page's own title and doc_type."""
    from project_section import project_title, project_values, write_project_section

    paths = write_project_section(tmp_path / "raw", 24)
    result = _extract(paths[0].parent)
    projects = {p["doc_id"]: p for p in result.outputs["projects"].to_pylist()}
    assert len(projects) == 24
    for doc in result.kept.to_pylist():
        n = int(doc["source_uri"].removesuffix(".txt").rsplit("_", 1)[1])
        values, row = project_values(n), projects[doc["doc_id"]]
        assert (doc["title"], doc["doc_type"]) == (project_title(n), "project")
        years = (int(values["Start Date"]), int(values["End Date"]))
        assert (row["start_year"], row["end_year"], row["year"]) == (*years, int(values["Year"]))
        assert (row["start_date"], row["end_date"]) == years
        budget = values["Budget Amount (USD)"]
        assert row["budget_usd"] == (float(budget) if budget else None)
        assert (row["status"], row["project_type"], row["coverage"]) == (
            values["Project Status"],
            values["Project Type"],
            values["Coverage"],
        )
        assert (row["prima_id"], row["projects_id"]) == (values["Prima ID"], values["Projects ID"])
        states = values["Benefiting Member States"]
        assert row["benefiting_member_states"] == ([states] if states else None)


def test_doc_type_of_a_page_without_url_from_its_section_header():
    """No URL path to read: a stripped header that is only a section label names the kind; a menu does not."""
    from helpers import seed_files

    from tasks.extract.page_fields import classify

    assert classify(None, 0, False, None, ["News", "", "Global"]) == "news"
    assert classify(None, 0, False, None, ["Communiqué", "Global"]) == "news"
    assert classify(None, 0, False, None, ["Stories"]) == "story"
    menu = seed_files()[0].read_text().splitlines()[:22]
    assert classify(None, 0, False, None, menu) == "page"
    assert classify("https://x.org/news/a-b", 0, False, None, ["Stories"]) == "news"
