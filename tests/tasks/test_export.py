"""Redaction helpers of the export, on small Arrow tables and on the real corpus."""

from __future__ import annotations

import re

import pyarrow as pa
from helpers import corpus_pages, seed_files

from handoff.export import EMAIL_MASK, PHONE_MASK, _csv_ready, redact, scrub_text
from schemas import CONTACTS, DOCUMENTS

EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[a-z]{2,}", re.I)
PHONE = re.compile(
    r"\+\s?\d[\d\s().-]{5,}\d"  # international
    r"|\(\d{2,4}\)\s?\d{3,4}[\s.-]\d{3,4}|\b\d{2,4}[.-]\d{3,4}[.-]\d{3,4}\b|\b0\d{1,3} \d{3,4} \d{3,4}\b"  # local
    r"|(?i:\b(?:tel|phone|fax)\b\.?:?\s*\d{6,})"  # labelled
)


def test_scrub_keeps_years_and_amounts_and_masks_contacts():
    text = (
        "From 2014 to 2016, USD 200,000. Tel: +976 11 99 00 69 61 E-mail: "
        '"mailto:kgormanbest@iom.int">kgormanbest@iom.int, Tel. 65659660, (021) 555-1234, 022 717 9111, '
        "ops [at] iom.int"
    )
    (out,) = scrub_text(pa.array([text])).to_pylist()
    assert "2014 to 2016, USD 200,000" in out
    assert not EMAIL.search(out) and not PHONE.search(out) and "iom.int" not in out and "65659660" not in out
    assert out.count(EMAIL_MASK) == 3 and out.count(PHONE_MASK) == 4


def test_scrub_leaves_no_pattern_in_the_corpus_or_seeds():
    texts = [p["text"] for p in corpus_pages()] + [f.read_text(encoding="utf-8") for f in seed_files()]
    assert sum(bool(EMAIL.search(t)) for t in texts) >= 5
    for original, out in zip(texts, scrub_text(pa.array(texts)).to_pylist(), strict=True):
        assert not EMAIL.search(out), EMAIL.search(out)
        assert not PHONE.search(out), PHONE.search(out)
        assert len(out) > len(original) / 2


def test_redact_hashes_pii_blanks_free_text_and_scrubs_nested_columns():
    contacts = CONTACTS.conform(
        [{"contact_id": "c1", "doc_id": "d1", "name": "Ann Lee", "email": "ann@iom.int", "run_id": "r"}]
    )
    out = redact(CONTACTS, contacts, salt="s").to_pylist()[0]
    assert out["email"].startswith("h:") and out["name"].startswith("h:") and out["phone"] is None
    assert out["organisation"] is None and out["contact_id"] == "c1"
    docs = DOCUMENTS.conform(
        [
            {
                "doc_id": "d1",
                "text": "Call +41 22 717 9111 now",
                "emails": ["ann@iom.int", None],
                "contact_text": "Ann ann@iom.int",
            },
            {"doc_id": "d2", "text": "nothing", "emails": None},
        ]
    )
    first, second = redact(DOCUMENTS, docs, salt="s").to_pylist()
    assert first["text"] == f"Call {PHONE_MASK} now" and first["contact_text"] is None
    assert first["emails"][0].startswith("h:") and first["emails"][1] is None and second["emails"] is None


def test_csv_ready_turns_nested_columns_into_json():
    docs = DOCUMENTS.conform([{"doc_id": "d1", "emails": ["a@b.org"]}])
    assert _csv_ready(docs).column("emails").to_pylist() == ['["a@b.org"]']
