"""`quarantine`: one row per raw record (or published row) held back, with a reason code."""

from __future__ import annotations

import pyarrow as pa

from schemas._table import Column, Table

QUARANTINE = Table(
    name="quarantine",
    grain="one row per record held back by a stage, per reason",
    key=("quarantine_id",),
    description="Records that did not make it into the published tables, and why.",
    columns=(
        Column("quarantine_id", pa.string(), "Hash of source_uri, stage and reason.", nullable=False),
        Column("source_uri", pa.string(), "Raw record (path relative to raw/, plus locator).", nullable=False),
        Column("stage", pa.string(), "Stage that held the record back.", nullable=False),
        Column(
            "reason", pa.string(), "Machine-readable reason code, <stage>.<cause> (schemas/reasons.py).", nullable=False
        ),
        Column("message", pa.string(), "Human-readable explanation, with the offending value when any."),
        Column("record_id", pa.string(), "stg_pages.record_id of the record, when it got that far."),
        Column("run_id", pa.string(), "Run that quarantined the record.", nullable=False),
    ),
)
