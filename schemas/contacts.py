"""`contacts`: one row per person or office in a page's contact block."""

from __future__ import annotations

import pyarrow as pa

from schemas._table import Column, Table, matches, unique
from schemas.documents import EMAIL_REGEX

CONTACTS = Table(
    name="contacts",
    grain="one row per person or office named in a contact block",
    key=("contact_id",),
    description="People and offices to contact, from 'For more information please contact' blocks.",
    columns=(
        Column(
            "contact_id",
            pa.string(),
            "Hash of doc_id and the contact's position in the block.",
            nullable=False,
            expect=(unique("contact_id"),),
        ),
        Column("doc_id", pa.string(), "Document the contact comes from (documents.doc_id).", nullable=False),
        Column("name", pa.string(), "Person's name, when given.", pii=True),
        Column("organisation", pa.string(), "Office or organisation (e.g. IOM Beijing)."),
        Column(
            "email",
            pa.string(),
            "E-mail address, lower-cased.",
            pii=True,
            expect=(matches("email", EMAIL_REGEX),),
        ),
        Column(
            "phone",
            pa.string(),
            "Phone in E.164 when the country code is given, else null.",
            pii=True,
            expect=(matches("phone", r"^\+[1-9][0-9]{6,14}$"),),
        ),
        Column("phone_raw", pa.string(), "Phone as written on the page (with extension).", pii=True),
        Column("run_id", pa.string(), "Run that published this version of the row.", nullable=False),
    ),
)
