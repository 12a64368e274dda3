"""The extract stage's faster forms give exactly what the plain ones give (no timing here)."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from tasks.extract import language, language_batch, mentions, page_fields
from tasks.extract.countries import _CAPITALISED

# The plain patterns the rewritten ones stand for (tasks/extract/mentions.py, countries.py).
_CURRENCY = r"(?P<cur>USD|US\$|U\.S\.\s?\$|EUR|€|CHF|GBP|£|\$)"
_NUMBER = r"(?P<num>\d{1,3}(?:[,\s]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_SCALE = r"(?:\s?(?P<scale>million|billion|thousand|mln|bn|m|k)\b)?"
PLAIN = {
    "money": re.compile(rf"{_CURRENCY}\s?{_NUMBER}{_SCALE}", re.IGNORECASE),
    "money_after": re.compile(rf"{_NUMBER}{_SCALE}\s?(?P<cur>USD|EUR|CHF|US dollars|dollars)\b", re.IGNORECASE),
    "people": re.compile(
        rf"(?<![\d.,$€£])(?P<num>\d{{1,3}}(?:,\d{{3}})+|\d+(?:\.\d+)?)(?:\s(?P<scale>million|thousand))?"
        rf"(?P<gap>(?:\s[\w’'-]+){{0,2}}?)\s(?P<noun>{mentions._PEOPLE_NOUNS})\b",
        re.IGNORECASE,
    ),
    "year": re.compile(r"(?<![\d.,$€£])\b(19[5-9]\d|20[0-4]\d)\b(?![\d,.]\d)"),
    "capitalised": re.compile(r"(?<![^\W\d_])[^\W\da-z_][^\W\d_]*(?:['’][^\W\d_]+)?", re.UNICODE),
}
FAST = {
    "money_after": mentions._MONEY_AFTER,
    "people": mentions._PEOPLE,
    "year": mentions._YEAR,
    "capitalised": _CAPITALISED,
}
_PIECES = (
    "USD",
    "usd",
    "US$",
    "U.S. $",
    "u.s.$",
    "EUR",
    "€",
    "CHF",
    "gbp",
    "£",
    "$",
    "1",
    "19",
    "1999",
    "2004",
    "2051",
    "12,000",
    "3.5",
    " ",
    "\n",
    ",",
    ".",
    "-",
    "'",
    "’",
    "a",
    "É",
    "é",
    "ſ",
    "K",
    "_",
    "²",
    "million",
    " m",
    "k",
    "bn",
    "dollars",
    "US dollars",
    "migrants",
    "People",
    "IDPs",
    "staff",
    "of the",
    "Côte",
    "x",
    "7 ",
    "2020s",
)


def _texts(n: int, seed: int = 5) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choice(_PIECES) for _ in range(rnd.randint(1, 30))) for _ in range(n)]


def _matches(pattern: re.Pattern, text: str) -> list:
    return [(m.span(), m.group(), m.groupdict()) for m in pattern.finditer(text)]


def _texts_and_pages() -> list[str]:
    from helpers import corpus_pages

    return _texts(20_000) + [page["text"] for page in corpus_pages()]


@pytest.mark.parametrize("name", sorted(FAST))
def test_fast_patterns_find_what_the_plain_ones_find(name):
    for text in _texts_and_pages():
        assert _matches(FAST[name], text) == _matches(PLAIN[name], text), text


def test_money_found_from_its_number_is_what_the_plain_pattern_finds():
    texts = _texts_and_pages()
    assert sum(1 for text in texts for _ in PLAIN["money"].finditer(text)) > 1000  # the check has cases to see
    for text in texts:
        plain = [(*m.span(), *m.group("cur", "num", "scale")) for m in PLAIN["money"].finditer(text)]
        assert list(mentions.money_before(text)) == plain, text


def test_sentences_start_where_the_plain_split_starts_them():
    plain = re.compile(r"(?<=[.!?])\s+")
    for text in _texts_and_pages() + ["a. . b?! c", "x.\n\n y", "end.  "]:
        assert mentions._sentence_starts(text) == [0] + [m.end() for m in plain.finditer(text)], text


def test_no_other_character_folds_to_the_currency_letters():
    """The currency pattern lists U/u, E/e, C/c, G/g where the plain one ignores case, and a money mention is
    looked for after D/d, R/r, F/f, P/p (the last letters of USD, EUR, CHF, GBP)."""
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    assert sorted(set(re.findall("(?i)[uecg]", every))) == sorted("UuEeCcGg")
    assert sorted(set(re.findall("(?i)[drfp]", every))) == sorted("DdRrFfPp")


def test_prepared_text_and_grams_are_langdetects():
    from helpers import corpus_pages

    texts = [page["text"][:400] for page in corpus_pages()]
    texts += ["Привет мир, это тест. Hello", "Xin chào thế giới", "a  b\u3000c http://x.org e@x.org  ", "ſ ABC abc"]
    for text in texts:
        detector = language.Detector(language._factory())  # langdetect's own
        detector.append(text)
        detector.cleaning_text()
        assert language.prepared_text(text) == detector.text
        reference = detector._extract_ngrams()
        assert [language._profiles()[1][i] for i in language.gram_rows(detector.text)] == reference


def test_random_stream_is_random_randoms():
    rnd = random.Random(3)
    words = language_batch.stream(3, 1000)
    assert [rnd.getrandbits(32) for _ in range(1000)] == words[:1000].tolist()
    rnd, sizes, pos, spare = random.Random(3), random.Random(9), 0, None
    for _ in range(7):
        want = rnd.gauss(0.0, 1.0)
        got, pos, spare = language_batch.gauss_at(words, pos, spare)
        assert got == want
        n = sizes.randint(1, 3000)
        picks, used = language_batch.draws_at(3, pos, n, 9)
        assert picks.tolist() == [rnd.choice(range(n)) for _ in range(9)]
        pos += int(used[-1]) + 1


def test_batched_trials_equal_one_page_at_a_time_bit_for_bit():
    from helpers import corpus_pages

    pages = [language.gram_rows(language.prepared_text(page["text"][:300])) for page in corpus_pages()]
    pages = [rows for rows in pages if rows] + [[5], [7, 7, 7]]
    for seed, trials in ((0, 3), (11, 7)):
        batch = language_batch.batch_probabilities(pages, seed, trials, language._profiles()[2])
        single = np.array([language.language_probabilities(rows, seed, trials) for rows in pages])
        assert np.array_equal(batch, single)


def test_remembered_slug_tokens_match_the_same_title_lines(monkeypatch):
    from helpers import corpus_pages

    pages = [(page["url"], page["text"].splitlines()) for page in corpus_pages()]
    page_fields._remembered_slug_tokens.cache_clear()
    remembered = [page_fields._slug_match(url, lines) for url, lines in pages]
    again = [page_fields._slug_match(url, lines) for url, lines in pages]  # now read from memory
    assert page_fields._remembered_slug_tokens.cache_info().hits > 1_000
    monkeypatch.setattr(page_fields, "_slug_tokens", page_fields._fold_tokens)
    assert remembered == again == [page_fields._slug_match(url, lines) for url, lines in pages]
    assert sum(title is not None for title in remembered) > 100


def test_long_lines_are_not_remembered():
    before = page_fields._remembered_slug_tokens.cache_info().currsize
    assert page_fields._slug_tokens("L’OIM Côte " * 100) == {"loim", "cote"}
    assert page_fields._remembered_slug_tokens.cache_info().currsize == before
