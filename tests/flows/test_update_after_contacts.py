"""The real `nightly` flow on the seeds, delivered again: an edit after a page's contact block (which strip cuts
aside, so the normalised body and content_hash stay the same) is an update that republishes the page; a
byte-identical re-delivery is unchanged and adds no table version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pytest
from helpers import seed_dir

from flows.ledger import RunSummary
from flows.nightly import nightly
from handoff.diff import diff_runs
from handoff.versions import resolve_as_of
from schemas import CONTACTS, DOCUMENTS, RUNS
from tasks._warehouse import read_current
from tasks.publish import versions

OLD_PHONE, NEW_PHONE = "Tel: +976 7014 3100", "Tel: +976 7014 3199"  # in seed 004's contact block


@dataclass
class Night:
    summary: RunSummary
    before: dict[str, int | None]  # table versions before the run
    after: dict[str, int | None]
    documents: dict[str, dict]  # published documents by source_uri, after the run


def _night(raw: Path, warehouse: Path, run_id: str, full: bool = False) -> Night:
    before = versions(warehouse)
    summary = nightly(str(raw), str(warehouse), run_id, full)
    docs = {d["source_uri"]: d for d in read_current(warehouse, DOCUMENTS).to_pylist()}
    return Night(summary, before, versions(warehouse), docs)


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> dict[str, Night | str]:
    """first load; the same files again (--full); one page edited after its contact block; the same again."""
    base = tmp_path_factory.mktemp("redelivery")
    raw, warehouse = seed_dir(base), base / "warehouse"
    out: dict[str, Night | str] = {"first": _night(raw, warehouse, "first")}
    out["identical"] = _night(raw, warehouse, "identical", full=True)
    (page,) = [p for p in sorted(raw.iterdir()) if OLD_PHONE in p.read_text()]
    text = page.read_text()
    assert text.index("For more information") < text.index(OLD_PHONE)
    page.write_text(text.replace(OLD_PHONE, NEW_PHONE))
    out["page"] = page.name
    out["edited"] = _night(raw, warehouse, "edited")
    out["identical_again"] = _night(raw, warehouse, "identical-again", full=True)
    out["warehouse"] = warehouse
    return out


def _counts(night: Night) -> tuple[int, int, int, int]:
    row = night.summary.row
    return row["n_read"], row["n_new"], row["n_updated"], row["n_unchanged"]


def test_byte_identical_redelivery_is_unchanged_and_commits_nothing(nights):
    for name in ("identical", "identical_again"):
        night = nights[name]
        assert night.summary.status == "succeeded", name
        assert _counts(night) == (5, 0, 0, 5), name
        assert night.summary.changed_tables == [] and night.after == night.before, name


def test_edit_after_the_contact_block_is_republished(nights):
    first, edited, page = nights["first"], nights["edited"], nights["page"]
    assert edited.summary.status == "succeeded"
    assert _counts(edited) == (1, 0, 1, 0)
    assert edited.after["documents"] == edited.before["documents"] + 1
    old, new = first.documents[page], edited.documents[page]
    assert (new["doc_id"], new["content_hash"], new["text"]) == (old["doc_id"], old["content_hash"], old["text"])
    assert NEW_PHONE in new["raw_text"] and OLD_PHONE not in new["raw_text"] and OLD_PHONE in old["raw_text"]
    assert NEW_PHONE in new["contact_text"] and new["run_id"] == "edited"
    others = {uri: d["run_id"] for uri, d in edited.documents.items() if uri != page}
    assert len(others) == 4 and set(others.values()) == {"first"}
    contacts = read_current(nights["warehouse"], CONTACTS)
    phones = contacts.filter(pc.equal(contacts["doc_id"], new["doc_id"])).column("phone_raw").to_pylist()
    assert phones == [NEW_PHONE.removeprefix("Tel: ")]
    (row,) = [r for r in read_current(nights["warehouse"], RUNS).to_pylist() if r["run_id"] == "edited"]
    assert (row["n_updated"], row["n_unchanged"]) == (1, 0)


def test_diff_lists_the_edit_after_the_contact_block_as_updated(nights):
    warehouse = nights["warehouse"]
    changes = diff_runs(warehouse, resolve_as_of(warehouse, "first"), resolve_as_of(warehouse, "edited")).to_pylist()
    assert [(c["change"], c["source_uri"]) for c in changes] == [("updated", nights["page"])]
