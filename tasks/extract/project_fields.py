"""Key/value fields of IOM Development Fund project pages, in both layouts seen in dumps:
`-` / key / value lines, and `• Key` bullets with the value on the next (indented) line."""

from __future__ import annotations

import re
from typing import Any

from schemas.projects import DEPRECATED_COLUMNS
from tasks.extract.countries import find_countries

# Page label → projects column.
PROJECT_KEYS = {
    "start date": "start_year",
    "end date": "end_year",
    "project status": "status",
    "project type": "project_type",
    "budget amount (usd)": "budget_usd",
    "coverage": "coverage",
    "year": "year",
    "idf region": "idf_region",
    "prima id": "prima_id",
    "projects id": "projects_id",
    "benefiting member states": "benefiting_member_states",
}
_YEAR_COLUMNS = ("start_year", "end_year", "year")
_BULLET = re.compile(r"^\s*[•·▪*]\s*")
_SEPARATOR = re.compile(r"^\s*[-–—]?\s*$")
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d|21\d\d)\b")
_NUMBER = re.compile(r"[-+]?\d[\d,\s]*(?:\.\d+)?")
# A sentence ends the line, or one ends inside it ("… in 2011. The …"; "St. Lucia", "U.S. Virgin" do not).
_SENTENCE = re.compile(r"[.!?…。؟][\"'”’»)]*\s*$|[^\W\d_]{2}[.!?]\s+[^\W\d_]")
# Values are names, codes, numbers and lists of states: the corpus's and seeds' are at most 6 words, none ends
# like a sentence and all are Title Case. A description line is prose by any of these shapes.
MIN_SENTENCE_WORDS = 4  # this many words and sentence punctuation
MIN_PROSE_WORDS = 5  # this many words, most of them lower-case ("the", "of", "to"): a hard-wrapped prose line
MAX_VALUE_WORDS = 40  # longer than any list of benefiting states
MIN_PROJECT_FIELDS = 3  # a page with fewer known fields has no `projects` row
# Each label's words: a line reads as a label only if its lower-cased text holds every one of them.
_KEY_WORDS = tuple(tuple(label.split()) for label in PROJECT_KEYS)


def _label(line: str) -> str:
    return " ".join(_BULLET.sub("", line).split()).lower().rstrip(":")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _is_dash(line: str) -> bool:
    """A `-` separator line of the dash layout (an empty line is no dash)."""
    return bool(_SEPARATOR.match(line)) and line.strip() != ""


def _opens_field(line: str) -> bool:
    """The line is a separator, a known label or a bullet: no value of the label above it."""
    return bool(_SEPARATOR.match(line) or _label(line) in PROJECT_KEYS or _BULLET.match(line))


def is_prose(line: str) -> bool:
    """The line reads as description prose, never as a field value (see MIN_SENTENCE_WORDS and below)."""
    words = line.split()
    lower = sum(w[0].islower() for w in words)
    return (
        (len(words) >= MIN_SENTENCE_WORDS and bool(_SENTENCE.search(line)))
        or (len(words) >= MIN_PROSE_WORDS and 2 * lower > len(words))
        or len(words) > MAX_VALUE_WORDS
    )


def value_after(lines: list[str], i: int) -> str | None:
    """The value of the label on line `i`: the next line, unless that line opens another field, sits left of a
    bullet label (the description below an indented bullet list), or is prose. A line followed by a `-`
    separator, a known label or (under a bullet label) a bullet is inside the block: the value whatever its
    shape. Under a dash-layout label a following bullet proves nothing: descriptions hold bullet lists."""
    nxt = lines[i + 1] if i + 1 < len(lines) else ""
    is_bullet = bool(_BULLET.match(lines[i]))
    if _opens_field(nxt) or (is_bullet and _indent(nxt) < _indent(lines[i])):
        return None
    after = lines[i + 2] if i + 2 < len(lines) else ""
    inside = _is_dash(after) or _label(after) in PROJECT_KEYS or (is_bullet and bool(_BULLET.match(after)))
    return nxt.strip() if inside or not is_prose(nxt) else None


def parse_key_values(text: str) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """(known fields by column, unknown fields by label) found in `text`.

    A block opens at a known label and runs while its lines are labels (known ones, bullets, or lines after a
    lone `-`), their values (`value_after`: a label with no value yields None, never the prose below it) and
    separators: the first other line closes it, so the page as delivered (template lines around the block
    included) can be parsed.
    """
    lines = text.splitlines()
    known: dict[str, str | None] = {}
    extra: dict[str, str | None] = {}
    in_block, i = False, 0
    while i < len(lines):
        line = lines[i]
        label = _label(line)
        after_separator = i > 0 and _is_dash(lines[i - 1])
        i += 1
        if _SEPARATOR.match(line):
            continue
        if not (label in PROJECT_KEYS or (in_block and (_BULLET.match(line) or after_separator) and label)):
            in_block = False
            continue
        in_block = True
        value = value_after(lines, i - 1)
        i += value is not None
        if label in PROJECT_KEYS:
            known.setdefault(PROJECT_KEYS[label], value)
        else:
            extra.setdefault(" ".join(_BULLET.sub("", line).split()).rstrip(":"), value)
    return known, extra


def _year(value: str | None) -> int | None:
    m = _YEAR.search(value or "")
    return int(m.group()) if m else None


def _amount(value: str | None) -> float | None:
    m = _NUMBER.search(value or "")
    if not m:
        return None
    try:
        return float(re.sub(r"[,\s]", "", m.group()))
    except ValueError:
        return None


def could_be_project(text: str) -> bool:
    """False when fewer than MIN_PROJECT_FIELDS labels can be read in `text` (a label's words are all in it):
    the page has no `projects` row, and the line-by-line parse is skipped."""
    lower = text.lower()
    return sum(all(word in lower for word in words) for words in _KEY_WORDS) >= MIN_PROJECT_FIELDS


def project_row(doc_id: str, text: str, run_id: str) -> dict[str, Any] | None:
    """A typed `projects` row, or None when the page has fewer than three project fields."""
    if not could_be_project(text):
        return None
    known, extra = parse_key_values(text)
    if len(known) < MIN_PROJECT_FIELDS:
        return None
    row: dict[str, Any] = {"doc_id": doc_id, "run_id": run_id, "extra": list(extra.items()) or None}
    for column in PROJECT_KEYS.values():
        row[column] = known.get(column)
    for column in _YEAR_COLUMNS:
        row[column] = _year(row[column])
    for deprecated, replacement in DEPRECATED_COLUMNS.items():
        row[deprecated] = row[replacement]
    row["budget_usd"] = _amount(row["budget_usd"])
    states = find_countries(row["benefiting_member_states"] or "")
    raw_states = row["benefiting_member_states"]
    row["benefiting_member_states"] = [name for name, _ in states] or ([raw_states] if raw_states else None)
    row["benefiting_member_state_codes"] = [code for _, code in states] or None
    return row


def count_fields(text: str) -> int:
    return len(parse_key_values(text)[0])
