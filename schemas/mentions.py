"""`mentions`: money amounts, counts of people and years found in documents, with where to verify them."""

from __future__ import annotations

import pyarrow as pa

from schemas._table import Column, Table, between, in_set, unique

MENTION_KINDS = ("money", "people", "year")

MENTIONS = Table(
    name="mentions",
    grain="one row per amount, people count or year written in a document's text",
    key=("mention_id",),
    description="Numbers in the text, typed: `USD 210 million` → money, 210000000, USD.",
    columns=(
        Column(
            "mention_id",
            pa.string(),
            "Hash of doc_id, kind and offset.",
            nullable=False,
            expect=(unique("mention_id"),),
        ),
        Column("doc_id", pa.string(), "Document the mention is in (documents.doc_id).", nullable=False),
        Column("kind", pa.string(), "money, people or year.", nullable=False, expect=(in_set("kind", MENTION_KINDS),)),
        Column("text", pa.string(), "The mention as written.", nullable=False),
        Column(
            "value",
            pa.float64(),
            "Numeric value (amount in currency units, number of people, year).",
            nullable=False,
            expect=(between("value", 0),),
        ),
        Column("unit", pa.string(), "Currency code (money) or who is counted (people: migrants, officials…)."),
        Column("sentence_index", pa.int32(), "Index of the sentence in documents.text (from 0).", nullable=False),
        Column("char_start", pa.int32(), "Start offset in documents.text.", nullable=False),
        Column("char_end", pa.int32(), "End offset in documents.text.", nullable=False),
        Column("sentence", pa.string(), "The sentence holding the mention, whitespace-normalised."),
        Column("run_id", pa.string(), "Run that published this version of the row.", nullable=False),
    ),
)
