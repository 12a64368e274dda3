"""Country names → ISO 3166 alpha-3, from pycountry's names plus the forms real pages use.

Matching is greedy longest-first over word sequences, so "Fiji Tonga Vanuatu" splits into three countries and
"Sierra Leone" stays one. Capitals are not countries ("Ulan Bator" matches nothing).
"""

from __future__ import annotations

import re
from functools import lru_cache

import pycountry

# Names in UN/IOM usage that pycountry does not list under any of its name fields.
_ALIASES = {
    "turkey": "TUR",
    "russia": "RUS",
    "ivory coast": "CIV",
    "cote d'ivoire": "CIV",
    "cape verde": "CPV",
    "swaziland": "SWZ",
    "macedonia": "MKD",
    "burma": "MMR",
    "south korea": "KOR",
    "north korea": "PRK",
    "republic of korea": "KOR",
    "democratic republic of the congo": "COD",
    "dr congo": "COD",
    "drc": "COD",
    "republic of the congo": "COG",
    "czech republic": "CZE",
    "the gambia": "GMB",
    "laos": "LAO",
    "lao people's democratic republic": "LAO",
    "vietnam": "VNM",
    "east timor": "TLS",
    "holland": "NLD",
    "united states of america": "USA",
    "usa": "USA",
    "uk": "GBR",
    "great britain": "GBR",
    "syria": "SYR",
    "palestine": "PSE",
    "state of palestine": "PSE",
    "kosovo": "XKX",
    "micronesia": "FSM",
    "the philippines": "PHL",
    "the netherlands": "NLD",
    "bolivia": "BOL",
    "venezuela": "VEN",
    "iran": "IRN",
    "tanzania": "TZA",
    "moldova": "MDA",
    "the bahamas": "BHS",
}
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
# A word starting with a letter outside a-z (upper case, or any non-ASCII letter: filtered with isupper()):
# (?<![^\W\d_])[^\W\da-z_][^\W\d_]*(?:['’][^\W\d_]+)? written to open with one plain character range, so that
# `re` skips ahead to candidates (~2× faster scan); tests compare the two.
_CAPITALISED = re.compile(r"[A-Z\x80-\U0010ffff](?<=[^\W\d_])(?<![^\W\d_].)[^\W\d_]*(?:['’][^\W\d_]+)?")
_MAX_STARTS = 100_000  # memoised capitalised words before the memo is emptied
_STARTS: dict[str, int] = {}  # capitalised word → the most words a name it starts has (0: it starts none)


def _norm(name: str) -> str:
    return " ".join(w.lower().replace("’", "'") for w in _WORD.findall(name))


@lru_cache(maxsize=1)
def name_index() -> dict[str, str]:
    """Normalised name → alpha-3."""
    index: dict[str, str] = {}
    for c in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            name = getattr(c, attr, None)
            if not name:
                continue
            index[_norm(name)] = c.alpha_3
            if (
                ", " in name
            ):  # "Korea, Republic of" → "Republic of Korea"; "Bolivia, Plurinational State of" → "Bolivia"
                head, tail = name.split(", ", 1)
                index[_norm(f"{tail} {head}")] = c.alpha_3
                index.setdefault(_norm(head), c.alpha_3)
            if " (" in name:
                index.setdefault(_norm(name.split(" (")[0]), c.alpha_3)
    index.update({_norm(k): v for k, v in _ALIASES.items()})
    index.pop("korea", None)  # ambiguous between KOR and PRK
    return index


@lru_cache(maxsize=1)
def _first_words() -> dict[str, int]:
    """First word of each name → the most words a name starting with it has."""
    longest: dict[str, int] = {}
    for name in name_index():
        words = name.split(" ")
        longest[words[0]] = max(longest.get(words[0], 0), len(words))
    return longest


def _key(word: str) -> str:
    return word.lower().replace("’", "'")


def find_countries(text: str) -> list[tuple[str, str]]:
    """(name as written, alpha-3) for each country mention, in order of appearance.

    Only capitalised words can start a mention (real text capitalises country names), so the scan visits those
    alone and reads the following words only where a name could continue."""
    index, first = name_index(), _first_words()
    out: list[tuple[str, str]] = []
    resume = 0
    if len(_STARTS) > _MAX_STARTS:
        _STARTS.clear()
    for start in _CAPITALISED.finditer(text):
        word = start.group()
        longest = _STARTS.get(word)
        if longest is None:
            longest = _STARTS[word] = first.get(_key(word), 0) if word[0].isupper() else 0
        if not longest or start.start() < resume:
            continue
        words = [start]
        for m in _WORD.finditer(text, start.end()):
            if len(words) >= longest:
                break
            words.append(m)
        keys = [_key(w.group()) for w in words]
        for n in range(len(words), 0, -1):
            code = index.get(" ".join(keys[:n]))
            if code:
                out.append((text[words[0].start() : words[n - 1].end()], code))
                resume = words[n - 1].end()
                break
    return out


def country_codes(text: str) -> list[str]:
    """Distinct alpha-3 codes mentioned in `text`, sorted."""
    return sorted({code for _, code in find_countries(text)})
