"""Mentions analysts can verify: money amounts, counts of people, years — each with its sentence and offsets.

`USD 210 million` → (money, 210000000.0, USD). Offsets are character positions in `documents.text`; the sentence
index counts sentences from 0 (split on ., ! or ? followed by white space).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from typing import Any

from tasks._stage import sha256_hex

# Every pattern opens with one character class (a digit, a currency sign or letter) so that `re` skips ahead to
# the next such character instead of trying a match at every position (~3× faster). Each is the plain pattern
# in its comment with the first character moved out of its group or look-behind; tests compare the two.
# (?P<cur>USD|US\$|U\.S\.\s?\$|EUR|€|CHF|GBP|£|\$), case-insensitive (no other character folds to u, e, c or g):
_CURRENCY = r"(?P<cur>[$€£UuEeCcGg](?i:(?<=u)(?:sd|s\$|\.s\.\s?\$)|(?<=e)ur|(?<=c)hf|(?<=g)bp|(?<=[€£$])))"
# (?P<num>\d{1,3}(?:[,\s]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)
_NUMBER = r"(?P<num>\d(?:\d{0,2}(?:[,\s]\d{3})+(?:\.\d+)?|\d*(?:\.\d+)?))"
_SCALE = r"(?:\s?(?P<scale>million|billion|thousand|mln|bn|m|k)\b)?"
# Money written currency first (USD 210 million) is found from its number: digits are rarer than the currency's
# letters (u, e, c and g are a quarter of prose). A number whose previous character (or the one before a white space)
# can end a currency is a candidate; its currency is then read back over the 7 characters before it (`u.s. $` and
# a space), leftmost first as a forward scan would find it. Tests compare money_before with the plain pattern.
_CURRENCY_LAST = "[$€£DdRrFfPp]"  # the last character of every currency form above
_NUMBER_AFTER_CURRENCY = re.compile(
    _NUMBER.replace(r"(?P<num>\d", rf"(?P<num>\d(?:(?<={_CURRENCY_LAST}\d)|(?<={_CURRENCY_LAST}\s\d))", 1)
    + f"(?i:{_SCALE})"
)
_CURRENCY_ENDING = re.compile(rf"{_CURRENCY}\s?\Z")  # searched with endpos at the number
_LONGEST_CURRENCY = len("u.s. $ ")
_MONEY_AFTER = re.compile(rf"{_NUMBER}(?i:{_SCALE}\s?(?P<cur>USD|EUR|CHF|US dollars|dollars)\b)")  # 200,000 USD
_PEOPLE_NOUNS = (
    r"migrants|refugees|officials|victims|people|persons|individuals|children|families|households|"
    r"returnees|IDPs|displaced|survivors|workers|participants|staff"
)
# (?<![\d.,$€£])(?P<num>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?) then the scale, up to two words and the noun
_PEOPLE = re.compile(
    r"(?P<num>\d(?<![\d.,$€£]\d)(?:\d{0,2}(?:,\d{3})+|\d*(?:\.\d+)?))(?i:(?:\s(?P<scale>million|thousand))?"
    rf"(?P<gap>(?:\s[\w’'-]+){{0,2}}?)\s(?P<noun>{_PEOPLE_NOUNS})\b)"
)
# (?<![\d.,$€£])\b(19[5-9]\d|20[0-4]\d)\b(?![\d,.]\d): \b before a digit is "no word character before it"
_YEAR = re.compile(r"(?:1(?<![\w.,$€£]1)9[5-9]|2(?<![\w.,$€£]2)0[0-4])\d\b(?![\d,.]\d)")
_YEAR_NUMBER = re.compile(r"19[5-9]\d|20[0-4]\d")  # a people count that is a year
_SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "mln": 1e6, "m": 1e6, "billion": 1e9, "bn": 1e9}
_CURRENCIES = {
    "us$": "USD",
    "u.s.$": "USD",
    "u.s. $": "USD",
    "$": "USD",
    "dollars": "USD",
    "us dollars": "USD",
    "€": "EUR",
    "£": "GBP",
}
_SENTENCE_END = re.compile(r"[.!?]\s+")  # a sentence starts where this ends (scans ~2.5× faster than a look-behind)


def _number(text: str, scale: str | None) -> float:
    return float(re.sub(r"[,\s]", "", text)) * _SCALES.get((scale or "").lower(), 1.0)


def _sentence_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in _SENTENCE_END.finditer(text)]


def _sentence_of(starts: list[int], offset: int) -> int:
    """Index of the sentence holding `offset` (the last start at or before it)."""
    return bisect_right(starts, offset) - 1


def money_before(text: str) -> Iterator[tuple[int, int, str, str, str | None]]:
    """(start, end, currency, number, scale) of each money mention written currency first, in order.

    The 7 characters before a number never reach into the previous mention's currency: its number lies between."""
    for m in _NUMBER_AFTER_CURRENCY.finditer(text):
        at = m.start()
        currency = _CURRENCY_ENDING.search(text, max(0, at - _LONGEST_CURRENCY), at)
        if currency:
            yield currency.start(), m.end(), currency.group("cur"), m.group("num"), m.group("scale")


def find_mentions(doc_id: str, text: str, run_id: str) -> list[dict[str, Any]]:
    """`mentions` rows of one document."""
    starts: list[int] = []  # sentence starts, found at the first mention
    sentences: dict[int, str] = {}
    rows: list[dict[str, Any]] = []
    taken: list[tuple[int, int]] = []

    def add(kind: str, start: int, end: int, value: float, unit: str | None) -> None:
        taken.append((start, end))
        if not starts:
            starts.extend(_sentence_starts(text))
        index = _sentence_of(starts, start)
        if index not in sentences:
            sentence_end = starts[index + 1] if index + 1 < len(starts) else len(text)
            sentences[index] = " ".join(text[starts[index] : sentence_end].split())
        rows.append(
            {
                "mention_id": sha256_hex(f"{doc_id}:{kind}:{start}")[:32],
                "doc_id": doc_id,
                "kind": kind,
                "text": text[start:end].strip(),
                "value": value,
                "unit": unit,
                "sentence_index": index,
                "char_start": start,
                "char_end": end,
                "sentence": sentences[index],
                "run_id": run_id,
            }
        )

    after = (m.span() + m.group("cur", "num", "scale") for m in _MONEY_AFTER.finditer(text))
    for money in (money_before(text), after):
        for start, end, cur, number, scale in money:
            if not any(s <= start < e for s, e in taken):
                add("money", start, end, _number(number, scale), _CURRENCIES.get(cur.lower(), cur.upper()))
    for m in _PEOPLE.finditer(text):
        if any(s <= m.start() < e for s, e in taken) or _YEAR_NUMBER.fullmatch(m.group("num")):
            continue
        add("people", *m.span(), _number(m.group("num"), m.group("scale")), m.group("noun").lower())
    for m in _YEAR.finditer(text):
        if not any(s <= m.start() < e for s, e in taken):
            add("year", *m.span(), float(m.group()), None)
    return sorted(rows, key=lambda r: r["char_start"])
