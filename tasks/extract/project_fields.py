"""Key/value fields of IOM Development Fund project pages, in both layouts seen in dumps:
`-` / key / value lines, and `• Key` bullets with the value on the next (indented) line."""

from __future__ import annotations

import re
from typing import Any

from tasks.extract.countries import find_countries

# Page label → projects column.
PROJECT_KEYS = {
    "start date": "start_date",
    "end date": "end_date",
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
_YEAR_COLUMNS = ("start_date", "end_date", "year")
_BULLET = re.compile(r"^\s*[•·▪*]\s*")
_SEPARATOR = re.compile(r"^\s*[-–—]?\s*$")
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d|21\d\d)\b")
_NUMBER = re.compile(r"[-+]?\d[\d,\s]*(?:\.\d+)?")


def _label(line: str) -> str:
    return " ".join(_BULLET.sub("", line).split()).lower().rstrip(":")


def parse_key_values(text: str) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """(known fields by column, unknown fields by label) found in `text`.

    A block opens at a known label and runs while its lines are labels (known ones, bullets, or lines after a
    lone `-`), their values (the line after a label) and separators: the first other line closes it, so the page
    as delivered (template lines around the block included) can be parsed.
    """
    lines = text.splitlines()
    known: dict[str, str | None] = {}
    extra: dict[str, str | None] = {}
    in_block, i = False, 0
    while i < len(lines):
        line = lines[i]
        label = _label(line)
        is_bullet = bool(_BULLET.match(line))
        after_separator = i > 0 and bool(_SEPARATOR.match(lines[i - 1])) and lines[i - 1].strip() != ""
        i += 1
        if _SEPARATOR.match(line):
            continue
        if not (label in PROJECT_KEYS or (in_block and (is_bullet or after_separator) and label)):
            in_block = False
            continue
        in_block = True
        nxt = lines[i] if i < len(lines) else ""
        value = None if (_SEPARATOR.match(nxt) or _label(nxt) in PROJECT_KEYS or _BULLET.match(nxt)) else nxt.strip()
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


def project_row(doc_id: str, text: str, run_id: str) -> dict[str, Any] | None:
    """A typed `projects` row, or None when the page has fewer than three project fields."""
    known, extra = parse_key_values(text)
    if len(known) < 3:
        return None
    row: dict[str, Any] = {"doc_id": doc_id, "run_id": run_id, "extra": list(extra.items()) or None}
    for column in PROJECT_KEYS.values():
        row[column] = known.get(column)
    for column in _YEAR_COLUMNS:
        row[column] = _year(row[column])
    row["budget_usd"] = _amount(row["budget_usd"])
    states = find_countries(row["benefiting_member_states"] or "")
    raw_states = row["benefiting_member_states"]
    row["benefiting_member_states"] = [name for name, _ in states] or ([raw_states] if raw_states else None)
    row["benefiting_member_state_codes"] = [code for _, code in states] or None
    return row


def count_fields(text: str) -> int:
    return len(parse_key_values(text)[0])
