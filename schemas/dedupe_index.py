"""`dedupe_signatures` and `dedupe_bands`: the near-duplicate index of every published document (state)."""

from __future__ import annotations

import pyarrow as pa

from schemas._table import Column, Table

DEDUPE_SIGNATURES = Table(
    name="dedupe_signatures",
    grain="one row per published version (doc_id, content_hash) of a document",
    key=("doc_id", "content_hash"),
    description="MinHash signature of each published document text; band keys can be re-derived from it when the "
    "banding changes, without re-reading texts.",
    columns=(
        Column("doc_id", pa.string(), "Document (documents.doc_id).", nullable=False),
        Column("content_hash", pa.string(), "content_hash of the text the signature was computed on.", nullable=False),
        Column(
            "signature",
            pa.binary(),
            "MinHash signature: num_perm little-endian uint32 minima over the text's word-n-gram hashes.",
            nullable=False,
        ),
        Column(
            "n_shingles",
            pa.int32(),
            "Word n-grams of the text, repeats included (0: fewer words than one n-gram).",
            nullable=False,
        ),
        Column("run_id", pa.string(), "Run that published this version.", nullable=False),
    ),
)

DEDUPE_BANDS = Table(
    name="dedupe_bands",
    grain="one row per LSH band key of a published document",
    key=("band_key", "doc_id"),
    description="LSH band keys (hash of band number and its rows of the signature); documents sharing a key are "
    "near-duplicate candidates. A document whose text starts with a large menu-shaped run also has the keys of its "
    "text from the end of that run (menu-free keys, those differing from its own). Insert-only: keys of a "
    "document's earlier text stay and only add candidates, which verification against the current text rejects. "
    "Rows written before menu-free keys existed lack them (their documents are still found through their own keys; "
    "an update of the document adds them).",
    columns=(
        Column(
            "band_key", pa.int64(), "Hash of the band number and the signature values of that band.", nullable=False
        ),
        Column("doc_id", pa.string(), "Document (documents.doc_id).", nullable=False),
        Column("run_id", pa.string(), "Run that added the key.", nullable=False),
    ),
)
