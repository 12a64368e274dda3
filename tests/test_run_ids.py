"""Run ids (issue 17): unique by construction, never an all-digit suffix, stable for one flow run."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from flows.settings import new_run_id, run_id_suffix

SHAPE = re.compile(r"^\d{8}T\d{6}Z-[a-z][a-z0-9]{5}$")


def test_a_thousand_ids_made_in_the_same_second_are_unique_and_well_formed():
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    ids = [new_run_id(now) for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(SHAPE.match(i) for i in ids), [i for i in ids if not SHAPE.match(i)][:5]


def test_flow_runs_created_together_get_distinct_ids_and_a_retry_keeps_its_id():
    """Prefect's flow-run UUIDs are time-ordered: runs the scheduler creates in one second share their first hex
    digits, which is what made scheduled nights share one id."""
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    base = uuid.uuid4().hex
    runs = [uuid.UUID(base[:8] + f"{i:04x}" + base[12:]) for i in range(200)]
    ids = [new_run_id(now, run.bytes) for run in runs]
    assert len(set(ids)) == len(ids)
    assert new_run_id(now, runs[0].bytes) == ids[0]


def test_the_suffix_always_starts_with_a_letter():
    suffixes = [run_id_suffix(i.to_bytes(4, "big")) for i in range(5000)]
    assert all(s[0].isalpha() and not s.isdigit() and len(s) == 6 for s in suffixes)
    assert len({s[0] for s in suffixes}) == 26  # the whole alphabet is used, not a constant prefix
