"""`boilerplate_pages`: the learned template model, a bounded sample of pages per site."""

from __future__ import annotations

import pyarrow as pa

from schemas._table import Column, Table

BOILERPLATE_PAGES = Table(
    name="boilerplate_pages",
    grain="one row per sampled page per template group",
    key=("site", "page_key"),
    description="Line fingerprints of up to N pages per site (bottom-N by page_key, so order-independent); "
    "line frequencies over this sample decide what is boilerplate in the group, and lines frequent in any "
    "group are known template lines on every page.",
    columns=(
        Column("site", pa.string(), "Template group.", nullable=False),
        Column("page_key", pa.string(), "SHA-256 of the page's raw text.", nullable=False),
        Column(
            "line_hashes", pa.list_(pa.int64()), "Fingerprints of the page's distinct normalised lines.", nullable=False
        ),
        Column(
            "body_sketch",
            pa.list_(pa.int64()),
            "Bottom-k fingerprints of the page's word 3-grams: copies of one document (mirrored, re-wrapped, "
            "edited) are told from pages sharing a template by their estimated Jaccard; null in rows written "
            "before it existed (their line sets are compared instead).",
        ),
        Column("run_id", pa.string(), "Run that added the page.", nullable=False),
    ),
)
