"""The reduce's numpy form (keys.py, near.py) decides on 64-bit hashes, band-key buckets and text segments; none of
them may change a result. Real corpus pages with planted exact, near and contained copies, then a second night
against that history (unchanged re-deliveries, an update, copies of published documents): the same documents,
duplicates, index rows and counters when every string hash collides, and when buckets and segments are tiny."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from helpers import clean, corpus_labels, corpus_pages, ingest, night_two_of, with_column, write_jsonl_dump

from schemas import STG_CLEAN
from tasks.dedupe import DedupeConfig, DedupeIndex, decide, dedupe_pages, keys, near, published_history

CFG = DedupeConfig()
LABELS = corpus_labels()
PAGES = corpus_pages()


def _records() -> list[dict]:
    """40 corpus pages, the corpus's own duplicate pair, exact copies (under another URL, without URL), a page
    delivered twice, near copies of a long page and a copy under the corpus's largest menu."""
    pages = PAGES[:40] + [PAGES[i] for i, lab in enumerate(LABELS) if lab["dup_group"]]
    source = max(PAGES[40:], key=lambda p: len(p["text"]))
    lines = source["text"].splitlines()
    menu_page = max(range(len(LABELS)), key=lambda i: len(LABELS[i]["boilerplate"]))
    nav = [LABELS[menu_page]["lines"][j] for j in LABELS[menu_page]["boilerplate"]]
    return [
        *pages,
        source,
        {"url": PAGES[7]["url"], "text": PAGES[7]["text"] + "\nA line added on the second fetch."},
        {"url": "https://copies.example.org/exact", "text": PAGES[3]["text"]},
        {"text": PAGES[5]["text"]},
        {"url": "https://mirror.example.net/rewrapped", "text": "\n".join(" ".join(lines).split(". "))},
        {"url": "https://mirror.example.net/changed", "text": "\n".join([*lines[:-1], lines[-1] + " Added."])},
        {"url": "https://other.example.com/under-a-menu", "text": "\n".join(nav + lines)},
    ]


@pytest.fixture(scope="module")
def night_one(tmp_path_factory) -> pa.Table:
    return clean(ingest(write_jsonl_dump(tmp_path_factory.mktemp("reduce") / "raw", _records())).kept).kept


def _night_two(night_one: pa.Table) -> pa.Table:
    """Night one's first 30 pages again (one edited: an update), and its mirror copies under new URLs."""
    again, copies = night_two_of(night_one, 30, 4, "example")
    copies = with_column(copies, "url", [u.replace("example", "elsewhere") for u in copies.column("url").to_pylist()])
    return pa.concat_tables([STG_CLEAN.conform(again), STG_CLEAN.conform(copies)])


def _both_nights(night_one: pa.Table) -> list:
    first = dedupe_pages(night_one, _no_history(), CFG)
    kept = first.kept
    index = DedupeIndex.of_documents(first.outputs["dedupe_bands"].select(["band_key", "doc_id"]), kept)
    second = dedupe_pages(_night_two(night_one), published_history(kept), CFG, index)
    return [first, second]


def _no_history() -> pa.Table:
    return pa.table({"doc_id": pa.array([], pa.string()), "content_hash": pa.array([], pa.string())})


def _assert_same(got: list, expected: list) -> None:
    for a, b in zip(got, expected, strict=True):
        assert a.kept.equals(b.kept)
        assert a.stats == b.stats
        for name in ("duplicates", "dedupe_signatures", "dedupe_bands"):
            assert a.outputs[name].equals(b.outputs[name]), name


@pytest.fixture(scope="module")
def expected(night_one) -> list:
    results = _both_nights(night_one)
    first, second = results
    kinds = set(first.outputs["duplicates"].column("kind").to_pylist())
    assert {"exact", "superseded", "near", "contained"} <= kinds, kinds  # every kind, not none
    assert second.stats["unchanged"] >= 25 and second.stats["updates"] >= 1, second.stats
    assert second.stats["duplicates"] >= 3, second.stats  # copies of published documents
    return results


def test_colliding_string_hashes_never_merge_documents(night_one, expected, monkeypatch):
    """Every doc_id and content_hash hashed to one of three values: identities and history joins fall back to
    the strings, so nothing merges that did not."""

    def colliding(values: pa.Array) -> np.ndarray:
        return np.asarray(pc.utf8_length(pc.fill_null(values, "")), np.uint64) % np.uint64(3)

    for module in (keys, decide, near):
        monkeypatch.setattr(module, "string_hashes", colliding)
    _assert_same(_both_nights(night_one), expected)


def test_tiny_key_buckets_and_text_segments_change_nothing(night_one, expected, monkeypatch):
    """Band keys sorted a small slice of the key space at a time (many buckets), candidate texts shingled three at
    a time and verified in blocks of three: the same pairs, verdicts and clusters."""
    monkeypatch.setattr(near, "MAX_BUCKET_KEYS", 16)
    monkeypatch.setattr(near, "MAX_SEGMENT_TEXTS", 3)
    _assert_same(_both_nights(night_one), expected)
