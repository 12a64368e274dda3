"""Page-level fields: title, doc_type, dateline, published date, e-mails."""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import date
from urllib.parse import urlsplit

_HAS_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
# Bounded repeats (RFC 5321: local part ≤ 64, domain ≤ 253): unbounded ones made a long token without "@" (inline
# base64, a 200,000-letter word) cost quadratic time — over 15 s for one page.
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9.\-]{1,253}\.[A-Za-z]{2,63}")
_DATELINE = re.compile(
    r"^([A-Z][\w'’.]*(?:[ ,/][A-Z][\w'’.]*){0,4})(?:,[^–—\-\n]{1,40}| ?\([^)\n]{1,40}\))?\s+[-–—]{1,2}\s+\S"
)
# URL path segments naming the kind of page; a segment matches a name exactly or starts with it ("newsdesk").
_URL_TYPES = (
    ("news", ("news", "press-release", "pbn", "media-centre", "press-room", "newsdesk", "newsroom", "communique")),
    ("story", ("stories", "story", "blog")),
    ("project", ("project",)),
    ("country", ("countries", "country", "where-we-work")),
)
_MAX_CRUMB_WORDS = 2
# A title line matches the URL slug when it holds ≥ 60 % of the slug's words and they make ≥ 60 % of its words.
_MIN_SLUG_WORDS, _MIN_SLUG_SHARE, _MIN_LINE_SHARE, _MAX_TITLE_LINE = 2, 0.6, 0.6, 80
_MIN_HEADING_WORDS, _MAX_HEADING_WORDS = 2, 4
_NOT_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
# Lines up to this long have their slug tokens remembered (8,192 of them a process: a few MB): the title
# search reads a page's template header first, the same lines on every page of a site (the title search of
# 10,000 generated pages: 60–86 → 29–47 µs a page). Longer lines are prose, read once.
_REMEMBERED_LINE_CHARS = 300


def _words(line: str) -> int:
    return len(line.split())


def _slug_tokens(text: str) -> frozenset[str]:
    """Lower-case ASCII word tokens, accents folded and apostrophes joined ("L’OIM" → "loim"), as URL slugs have.
    Short lines are remembered: a site's header lines come before the title of each of its pages."""
    return _remembered_slug_tokens(text) if len(text) <= _REMEMBERED_LINE_CHARS else _fold_tokens(text)


def _fold_tokens(text: str) -> frozenset[str]:
    folded = unicodedata.normalize("NFKD", text.replace("’", "").replace("'", "")).encode("ascii", "ignore").decode()
    return frozenset(t for t in _NOT_SLUG_CHARS.split(folded.lower()) if t)


_remembered_slug_tokens = functools.lru_cache(maxsize=8192)(_fold_tokens)


def _slug_match(url: str | None, lines: list[str]) -> str | None:
    """The first line that the URL's slug spells, if any: its last path segment with words (a trailing numeric id,
    "…/unicef-steps-up-its-response/8111", is no slug)."""
    segments = [seg for seg in urlsplit(url or "").path.split("/") if _HAS_LETTER.search(seg)]
    slug = _slug_tokens(re.sub(r"\.\w{2,5}$", "", segments[-1])) if segments else frozenset()
    if len(slug) < _MIN_SLUG_WORDS:
        return None
    for line in lines[:_MAX_TITLE_LINE]:
        tokens = _slug_tokens(line)
        shared = len(slug & tokens)
        if tokens and shared >= _MIN_SLUG_SHARE * len(slug) and shared >= _MIN_LINE_SHARE * len(tokens):
            return " ".join(line.split())
    return None


def text_lines(text: str) -> list[str]:
    """`text.splitlines()`, shared by the field rules reading one page (the last text's lines are kept: the
    list must not be changed). The memo is one (text, lines) tuple, read and replaced whole, so threads
    extracting pages side by side (a Dask worker with several threads) never get another page's lines."""
    global _last_lines
    last = _last_lines
    if last[0] is not text:
        last = _last_lines = (text, text.splitlines())
    return last[1]


_last_lines: tuple[str | None, list[str]] = (None, [])  # (text, its lines): a one-page memo of a pure function


def _first_line(lines: list[str], header: list[str]) -> tuple[str, int, str]:
    """The first line with letters, skipping template crumbs (see pick_title)."""
    first = None
    crumbs = 0
    for i, x in enumerate(lines):
        if not _HAS_LETTER.search(x):
            continue
        line = " ".join(x.split())
        if first is None:
            first = (line, i, "first_line")
        if _words(line) > _MAX_CRUMB_WORDS:
            after_crumb_header = bool(header) and _words(header[-1]) <= _MAX_CRUMB_WORDS
            return (line, i, "first_line") if crumbs >= 2 or (crumbs and after_crumb_header) else first
        crumbs += 1
    return first or ("", -1, "first_line")


def pick_title(text: str, hint: str | None, header: list[str] | None = None, url: str | None = None) -> tuple[str, int]:
    """The title and the index of its line in `text` (-1 when it is not a line of `text`).

    Rules, in order: the dump's or HTML metadata's title; the line of the page (template header included) that the
    URL's slug spells; a template header that is only a short heading (one or
    two lines, the first of 2–4 words: "Press Releases" on listing pages) is the title; else the first line with
    letters, skipping template crumbs — one- or two-word lines ("News" / "Global", "Local") that open the body
    while the header ends in such a crumb, or that come two or more in a row on a page with no learned header.
    """
    if hint and hint.strip():
        return " ".join(hint.split()), -1, "metadata"
    lines = text_lines(text)
    by_slug = _slug_match(url, (header or []) + lines[:_MAX_TITLE_LINE])
    if by_slug:
        at = next((i for i, x in enumerate(lines) if " ".join(x.split()) == by_slug), -1)
        return by_slug, at, "url_slug"
    header = [" ".join(x.split()) for x in header or [] if _HAS_LETTER.search(x)]
    if 1 <= len(header) <= 2 and _MIN_HEADING_WORDS <= _words(header[0]) <= _MAX_HEADING_WORDS:
        return header[0], -1, "heading"
    return _first_line(lines, header)


def _section_of(header: list[str]) -> str | None:
    """A stripped template header that is only a section label ("News" / "Global", "Communiqué"), as a slug."""
    lines = [x for x in header if _HAS_LETTER.search(x)]
    if not 1 <= len(lines) <= 2 or _words(lines[0]) > _MAX_HEADING_WORDS:
        return None
    folded = unicodedata.normalize("NFKD", lines[0]).encode("ascii", "ignore").decode().lower()
    return "-".join(re.findall(r"[a-z0-9]+", folded)) or None


def classify(
    url: str | None, n_project_fields: int, has_contact: bool, dateline: str | None, header: list[str] | None = None
) -> str:
    """doc_type rule: project fields → project; URL path segment, else the section label a short template
    header names (what a page without URL has) → news/story/project/country; a press contact block or dateline → news;
    else page."""
    if n_project_fields >= 3:
        return "project"
    segments = [s.lower() for s in urlsplit(url).path.split("/") if s] if url else []
    section = _section_of(header or [])
    for kinds in (segments, [section] if section else []):
        for doc_type, names in _URL_TYPES:
            if any(kind.startswith(names) for kind in kinds):
                return doc_type
    if has_contact or dateline:
        return "news"
    return "page"


def _opening_lines(text: str, title_line: int, n: int) -> list[str]:
    """The first `n` lines with more than white space after line `title_line` (-1: from the top)."""
    found: list[str] = []
    lines = text_lines(text)
    for i in range(title_line + 1, len(lines)):
        if lines[i].strip():
            found.append(lines[i])
            if len(found) == n:
                break
    return found


def find_dateline(text: str, title_line: int) -> str | None:
    """Place of a dateline opening the body: "Ulaanbaatar - …" → "Ulaanbaatar"."""
    for line in _opening_lines(text, title_line, 2):
        m = _DATELINE.match(line.strip())
        if m:
            return m.group(1).strip(" ,")
    return None


def find_emails(*texts: str | None) -> list[str]:
    """Distinct lower-cased e-mail addresses, in order of appearance (mailto: remnants cleaned)."""
    seen: dict[str, None] = {}
    for text in texts:
        if not text or "@" not in text:  # every address has one
            continue
        for m in _EMAIL.finditer(text):
            email = m.group().lower().strip(".")
            email = email[7:] if email.startswith("mailto:") else email
            seen.setdefault(email, None)
    return list(seen)


_MONTHS = {
    **dict.fromkeys(("january", "janvier", "enero", "janeiro", "jan"), 1),
    **dict.fromkeys(("february", "février", "fevrier", "febrero", "fevereiro", "feb"), 2),
    **dict.fromkeys(("march", "mars", "marzo", "março", "mar"), 3),
    **dict.fromkeys(("april", "avril", "abril", "apr"), 4),
    **dict.fromkeys(("may", "mai", "mayo", "maio"), 5),
    **dict.fromkeys(("june", "juin", "junio", "junho", "jun"), 6),
    **dict.fromkeys(("july", "juillet", "julio", "julho", "jul"), 7),
    **dict.fromkeys(("august", "août", "aout", "agosto", "aug"), 8),
    **dict.fromkeys(("september", "septembre", "septiembre", "setembro", "sept", "sep"), 9),
    **dict.fromkeys(("october", "octobre", "octubre", "outubro", "oct"), 10),
    **dict.fromkeys(("november", "novembre", "noviembre", "novembro", "nov"), 11),
    **dict.fromkeys(("december", "décembre", "decembre", "diciembre", "dezembro", "dec"), 12),
}
_MONTH = r"(?P<month>[A-Za-zéûçô]{3,10})\.?"
_YEAR_FORM = r"(?:19|20)\d\d"  # every date the patterns read has one
_DATE_PATTERNS = (
    re.compile(
        rf"\b(?P<day>\d{{1,2}})(?:er|st|nd|rd|th)?\s+(?:de\s+)?{_MONTH}\s+(?:de\s+)?(?P<year>{_YEAR_FORM})\b",
        re.IGNORECASE,
    ),
    re.compile(rf"\b{_MONTH}\s+(?P<day>\d{{1,2}}),?\s+(?P<year>{_YEAR_FORM})\b", re.IGNORECASE),
    re.compile(rf"\b(?P<year>{_YEAR_FORM})-(?P<month>\d\d)-(?P<day>\d\d)\b"),
)
_DATE_LINES = 4
_YEAR = re.compile(_YEAR_FORM)  # an opening without a year holds no date


def find_published_date(text: str, title_line: int) -> date | None:
    """The first full date written in the opening lines of the body (dateline or a date line), if any."""
    head = "\n".join(x[:160] for x in _opening_lines(text, title_line, _DATE_LINES))
    if not _YEAR.search(head):
        return None
    found: list[tuple[int, date]] = []
    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(head):
            month = m.group("month")
            number = int(month) if month.isdigit() else _MONTHS.get(month.lower())
            try:
                found.append((m.start(), date(int(m.group("year")), number or 0, int(m.group("day")))))
            except ValueError:
                continue
    return min(found)[1] if found else None
