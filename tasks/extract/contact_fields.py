"""People and offices in contact blocks ("For more information please contact: …")."""

from __future__ import annotations

import re
from typing import Any

import phonenumbers

from tasks._stage import sha256_hex
from tasks.extract.page_fields import find_emails

_PHONE_LINE = re.compile(
    r"^\s*(tel|phone|mobile|mob|cell|t|m|fax|tél|teléfono|telefone)\b\.?\s*[:.]?\s*(.*)$", re.IGNORECASE
)
_EMAIL_LABEL = re.compile(r"^\s*(e-?mail|courriel|correo)\s*:?\s*$", re.IGNORECASE)
_PHONE_TEXT = re.compile(r"\+?\d[\d\s().\-/]{5,}\d(?:\s*,?\s*(?:ext\.?|x)\s*\d+)?", re.IGNORECASE)
_MARKUP = re.compile(r"[\"']?mailto:|[\"']?>|<[^>]*>")
_HAS_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


def _phone(raw: str) -> str | None:
    """E.164 of a phone written with its country code, else None."""
    if not raw.strip().startswith("+"):
        return None
    try:
        number = phonenumbers.parse(raw.split(",")[0].split("ext")[0].split("Ext")[0], None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _blocks(lines: list[str]) -> list[list[str]]:
    """Split a contact block into one group of lines per person: a new group starts at a name line that
    follows a phone or e-mail line."""
    groups: list[list[str]] = [[]]
    seen_detail = False
    for line in lines:
        is_detail = bool(_PHONE_LINE.match(line) or "@" in line or _EMAIL_LABEL.match(line))
        if not is_detail and seen_detail and _HAS_LETTER.search(line):
            groups.append([])
            seen_detail = False
        groups[-1].append(line)
        seen_detail = seen_detail or is_detail
    return [g for g in groups if g]


def parse_contacts(doc_id: str, contact_text: str | None, run_id: str) -> list[dict[str, Any]]:
    """One `contacts` row per person or office in the block."""
    if not contact_text:
        return []
    lines = [_MARKUP.sub(" ", x).strip() for x in contact_text.splitlines()[1:]]
    lines = [x for x in lines if x]
    rows = []
    for position, group in enumerate(_blocks(lines)):
        names = [
            x
            for x in group
            if not (_PHONE_LINE.match(x) or "@" in x or _EMAIL_LABEL.match(x)) and _HAS_LETTER.search(x)
        ]
        phone_raw = None
        for x in group:
            m = _PHONE_LINE.match(x)
            found = _PHONE_TEXT.search(m.group(2) if m else "")
            if found:
                phone_raw = found.group().strip()
                break
        emails = find_emails("\n".join(group))
        if not (names or phone_raw or emails):
            continue
        rows.append(
            {
                "contact_id": sha256_hex(f"{doc_id}:{position}")[:32],
                "doc_id": doc_id,
                "name": names[0] if names else None,
                "organisation": names[1] if len(names) >= 2 else None,
                "email": emails[0] if emails else None,
                "phone": _phone(phone_raw) if phone_raw else None,
                "phone_raw": phone_raw,
                "run_id": run_id,
            }
        )
    return rows
