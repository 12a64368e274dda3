"""dedupe_pages on template residue: a body under another organisation's menu is a `contained` duplicate (also when
the menu is so large that the two texts share no LSH band: menu-free band keys); an excerpt, and two different
bodies (two languages) under one menu, are never merged. Real corpus bodies and menus."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from helpers import NOW, corpus_labels

from schemas import DUPLICATES, STG_CLEAN
from schemas.duplicates import DUPLICATE_KINDS
from tasks.dedupe import DedupeConfig, DedupeIndex, dedupe_pages, published_history, sketch_pages
from tasks.dedupe.minhash import jaccard, shingle_sets

CFG = DedupeConfig()
NO_HISTORY = pa.table({"doc_id": pa.array([], pa.string()), "content_hash": pa.array([], pa.string())})
LABELS = corpus_labels()


def _body(i: int) -> list[str]:
    drop = set(LABELS[i]["boilerplate"]) | set(LABELS[i]["contact"] or [])
    return [line for j, line in enumerate(LABELS[i]["lines"]) if j not in drop]


def _menu(i: int) -> list[str]:
    return [LABELS[i]["lines"][j] for j in LABELS[i]["boilerplate"]]


def _words(lines: list[str]) -> int:
    return len(" ".join(lines).split())


def _domain(i: int) -> str:
    return ".".join(LABELS[i]["site"].split(".")[-2:])


def _pick(language: str, skip: str = "") -> int:
    """A page of `language` with a long body (≥ 200 words), of another registered domain than `skip`."""
    return next(
        i
        for i, lab in enumerate(LABELS)
        if lab["language"] == language and _domain(i) != skip and _words(_body(i)) >= 200
    )


SRC = _pick("en", skip="iom.int")
# another organisation's menu of 30–80 % of the body's words: its residue drops the Jaccard below 0.8
MENU_PAGE = next(
    i
    for i in range(len(LABELS))
    if _domain(i) != _domain(SRC) and 0.3 * _words(_body(SRC)) <= _words(_menu(i)) <= 0.8 * _words(_body(SRC))
)
OTHER_LANGUAGE = _pick("fr")


def _row(url: str, lines: list[str], n: int) -> dict:
    text = "\n".join(lines)
    uri = f"d.jsonl#line={n}"
    return {
        "record_id": uri,
        "source_uri": uri,
        "source_sha256": "0" * 64,
        "size_bytes": len(text),
        "format": "jsonl",
        "url": url,
        "ingested_at": NOW,
        "run_id": "r1",
        "text": text,
        "n_boilerplate_lines": 0,
    }


def _dedupe(rows: list[dict]):
    return dedupe_pages(STG_CLEAN.conform(rows), NO_HISTORY, CFG)


def test_body_under_another_sites_menu_is_a_contained_duplicate():
    original = _row("https://news.example.org/story", _body(SRC), 1)
    syndicated = _row("https://aggregator.example.net/copy", _menu(MENU_PAGE) + _body(SRC), 2)
    result = _dedupe([original, syndicated])
    (dup,) = result.outputs["duplicates"].to_pylist()
    assert (dup["url"], dup["kind"]) == ("https://aggregator.example.net/copy", "contained")
    assert dup["duplicate_of"] == result.kept.column("doc_id")[0].as_py() and dup["similarity"] >= CFG.min_jaccard
    assert result.stats["duplicates.contained"] == 1 and result.stats["near_contained"] == 1
    # without the containment rule the menu residue hides the copy (plain Jaccard below min_jaccard)
    plain = dedupe_pages(STG_CLEAN.conform([original, syndicated]), NO_HISTORY, DedupeConfig(min_containment=1.01))
    assert plain.stats["duplicates"] == 0
    assert "contained" in DUPLICATE_KINDS and DUPLICATES.conform(result.outputs["duplicates"]).num_rows == 1


def _assert_folds_into_the_published_page_in_either_order(original: dict, syndicated: dict) -> None:
    """Either page published first, the other on a later night folds into it as `contained`."""
    for first_rows, second_rows in (([original], [syndicated]), ([syndicated], [original])):
        first = _dedupe(first_rows)
        index = DedupeIndex.of_documents(first.outputs["dedupe_bands"], first.kept)
        second = dedupe_pages(STG_CLEAN.conform(second_rows), published_history(first.kept), CFG, index)
        assert second.kept.num_rows == 0, "the published page is canonical, tonight's copy folds into it"
        (dup,) = second.outputs["duplicates"].to_pylist()
        assert dup["kind"] == "contained" and dup["duplicate_of"] == first.kept.column("doc_id")[0].as_py()


def test_contained_copy_against_the_published_history_and_in_either_order():
    original = _row("https://news.example.org/story", _body(SRC), 1)
    syndicated = _row("https://aggregator.example.net/copy", _menu(MENU_PAGE) + _body(SRC), 2)
    _assert_folds_into_the_published_page_in_either_order(original, syndicated)


def test_an_excerpt_is_not_a_duplicate():
    """A page holding the first half of another's body is contained in it, but the rest is prose, not a menu."""
    body = _body(SRC)
    half = " ".join(" ".join(body).split()[: _words(body) // 2])
    result = _dedupe([_row("https://a.example.org/full", body, 1), _row("https://b.example.org/part", [half], 2)])
    assert result.kept.num_rows == 2 and result.stats["duplicates"] == 0


def test_two_languages_under_one_menu_are_never_merged():
    """Two language versions of one page share only the menu: even when the menu outweighs both bodies (so the
    texts' plain Jaccard is ≥ 0.8), the pages stay two documents."""
    menu = _menu(MENU_PAGE) * 6  # a menu several times longer than the bodies
    en = _body(SRC)[:3]
    fr = _body(OTHER_LANGUAGE)[:3]
    rows = [_row("https://site.example.org/en/p", menu + en, 1), _row("https://site.example.org/fr/p", menu + fr, 2)]
    result = _dedupe(rows)
    texts = pa.array([r["text"] for r in rows])
    assert jaccard(*shingle_sets(CFG.sketcher, texts)) >= CFG.min_jaccard  # the menu alone makes them "near"
    assert result.stats["near_candidates"] >= 1  # they are candidates: the guard, not LSH, keeps them apart
    assert result.kept.num_rows == 2 and result.stats["duplicates"] == 0
    same = _dedupe([rows[0], {**rows[1], "text": rows[0]["text"], "url": "https://mirror.example.org/en/p"}])
    assert same.kept.num_rows == 1  # the same page under the same menu still is one document


def _shares_no_band(body: list[str], menu: list[str]) -> bool:
    sig, _ = CFG.sketcher.signatures(pa.array(["\n".join(body), "\n".join(menu + body)]))
    keys = CFG.sketcher.band_keys(sig)
    return not set(keys[0].tolist()) & set(keys[1].tolist())


# a body (80–400 words) and another organisation's menu so large that the copy shares no LSH band with the body
BIG_MENU_BODY, BIG_MENU = next(
    (s, i)
    for s in range(len(LABELS))
    if 80 <= _words(_body(s)) <= 400
    for i in range(len(LABELS))
    if _domain(i) != _domain(s) and _menu(i) and _shares_no_band(_body(s), _menu(i))
)


def _big_menu_pair() -> list[dict]:
    original = _row("https://news.example.org/story", _body(BIG_MENU_BODY), 1)
    return [original, _row("https://aggregator.example.net/copy", _menu(BIG_MENU) + _body(BIG_MENU_BODY), 2)]


def test_menu_free_keys_of_a_copy_are_its_originals_keys():
    pages = STG_CLEAN.conform(_big_menu_pair())
    sk = sketch_pages(pages, CFG)
    assert sk.menu_of[1] >= 0 and (sk.menu_keys[sk.menu_of[1]] == sk.band_keys[0]).all()
    assert not set(sk.band_keys[0].tolist()) & set(sk.band_keys[1].tolist())


def test_copy_sharing_no_band_is_found_through_menu_free_keys():
    rows = _big_menu_pair()
    result = _dedupe(rows)
    (dup,) = result.outputs["duplicates"].to_pylist()
    assert (dup["url"], dup["kind"]) == ("https://aggregator.example.net/copy", "contained")
    off = dedupe_pages(STG_CLEAN.conform(rows), NO_HISTORY, DedupeConfig(min_menu_shingle_share=2.0))
    assert off.stats["near_candidates"] == 0 and off.stats["duplicates"] == 0  # no candidate without them
    assert _dedupe(rows[::-1]).outputs["duplicates"].to_pylist() == [dup]  # input order does not matter
    # the copy's menu-free keys are stored with its band rows (those that differ from its whole text's keys)
    alone = _dedupe(rows[1:])
    bands = alone.outputs["dedupe_bands"].column("band_key").to_numpy()
    assert len(bands) == 2 * CFG.bands and len(np.unique(bands)) == len(bands)


def test_copy_sharing_no_band_against_the_published_history_in_either_order():
    original, syndicated = _big_menu_pair()
    _assert_folds_into_the_published_page_in_either_order(original, syndicated)
