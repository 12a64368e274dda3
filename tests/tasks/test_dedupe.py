"""dedupe_pages: exact duplicates in the batch and against published history; updates by URL."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from helpers import clean, ingest

from schemas import DOCUMENTS
from schemas.documents import VERSION_COLUMNS
from tasks._stage import normalise_text, sha256_hex
from tasks.dedupe import (
    DedupeConfig,
    canonical_url,
    content_hash,
    dedupe_pages,
    doc_id_for,
    doc_ids,
    history_from_files,
    published_history,
    sketch_pages,
)
from tasks.dedupe.history import published_versions

NO_HISTORY = DOCUMENTS.empty().select(["doc_id", "content_hash"])


def _dedupe(pages, history=NO_HISTORY):
    return dedupe_pages(pages, history, DedupeConfig())


def _with_column(table: pa.Table, name: str, values: list) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, pa.array(values, table.schema.field(name).type))


def test_copy_under_another_name_is_an_exact_duplicate(seeds_raw):
    original = sorted(seeds_raw.iterdir())[1]
    shutil.copy(original, seeds_raw / "zz_copy.txt")
    result = _dedupe(clean(ingest(seeds_raw).kept).kept)
    assert result.kept.num_rows == 5
    dups = result.outputs["duplicates"].to_pylist()
    assert [(d["source_uri"], d["kind"], d["similarity"]) for d in dups] == [("zz_copy.txt", "exact", 1.0)]
    kept_ids = dict(
        zip(result.kept.column("source_uri").to_pylist(), result.kept.column("doc_id").to_pylist(), strict=True)
    )
    assert dups[0]["duplicate_of"] == kept_ids[original.name]
    assert result.stats["in"] == 6 and result.stats["duplicates"] == 1


def test_history_makes_unchanged_pages_and_duplicates(seeds_raw):
    first = _dedupe(clean(ingest(seeds_raw).kept).kept)
    history = published_history(first.kept)
    shutil.copy(sorted(seeds_raw.iterdir())[0], seeds_raw / "tonight_copy.txt")
    second = _dedupe(clean(ingest(seeds_raw).kept).kept, history)
    assert second.kept.num_rows == 0
    assert second.stats["unchanged"] == 5
    assert [d["source_uri"] for d in second.outputs["duplicates"].to_pylist()] == ["tonight_copy.txt"]


def test_same_url_with_new_text_is_an_update_not_a_duplicate(seeds_raw):
    pages = clean(ingest(seeds_raw).kept).kept.slice(0, 1)
    pages = _with_column(pages, "url", ["https://www.iom.int/news/a"])
    first = _dedupe(pages)
    changed = _with_column(pages, "text", [pages.column("text")[0].as_py() + "\nA correction."])
    changed = _with_column(changed, "url", ["https://iom.int/news/a/"])
    second = _dedupe(changed, published_history(first.kept))
    assert second.kept.num_rows == 1
    assert second.kept.column("is_update").to_pylist() == [True]
    assert second.kept.column("doc_id").to_pylist() == first.kept.column("doc_id").to_pylist()


def test_a_published_page_given_another_pages_text_is_an_update_not_a_duplicate(seeds_raw):
    """A published document's file re-delivered with the body of another published page: its document is updated
    (folding it would leave its old text published beside a `duplicates` row for the same record)."""
    first = _dedupe(clean(ingest(seeds_raw).kept).kept)
    files = sorted(seeds_raw.iterdir())
    shutil.copy(files[0], files[1])
    second = _dedupe(clean(ingest(seeds_raw).kept).kept, published_history(first.kept))
    assert second.outputs["duplicates"].num_rows == 0
    kept = second.kept.select(["source_uri", "is_update"]).to_pylist()
    assert kept == [{"source_uri": files[1].name, "is_update": True}]
    assert second.stats["unchanged"] == 4
    # a new file with that body is still an exact duplicate of the first document that has it
    shutil.copy(files[0], seeds_raw / "zz_copy.txt")
    third = _dedupe(clean(ingest(seeds_raw).kept).kept, published_history(first.kept))
    dups = third.outputs["duplicates"].select(["source_uri", "kind"]).to_pylist()
    assert dups == [{"source_uri": "zz_copy.txt", "kind": "exact"}]
    assert third.kept.column("source_uri").to_pylist() == [files[1].name]


def test_two_copies_of_one_url_in_a_batch_keep_the_latest(seeds_raw):
    pages = clean(ingest(seeds_raw).kept).kept.slice(0, 2)
    pages = _with_column(pages, "url", ["https://iom.int/news/a", "https://www.iom.int/news/a"])
    result = _dedupe(pages)
    assert result.kept.num_rows == 1
    assert pc.sum(pc.equal(result.outputs["duplicates"].column("kind"), "superseded")).as_py() == 1


def test_canonical_url_folds_host_and_trailing_slash():
    assert canonical_url("https://WWW.iom.int/news/x/#top") == canonical_url("https://iom.int/news/x")
    assert canonical_url("https://iom.int/news/x?page=2") != canonical_url("https://iom.int/news/x")


def test_vectorised_identity_matches_the_row_rule():
    """doc_ids (Arrow fast path for simple URLs) and content_hash agree with doc_id_for / normalise_text."""
    urls = [
        "https://WWW.iom.int/news/x/#top",
        "http://iom.int:8080/a//?q=1&r=2#f",
        "HTTPS://Example.org",
        "https://example.org/?",
        "https://www./a",
        "https://user@iom.int/a",
        " https://iom.int/b ",
        "https://[::1]/c",
        "https://iom.int/é",
        "mailto:x@iom.int",
        None,
        None,
    ]
    uris = ["a.jsonl#line=1"] * 10 + ["site/page.html", "b.jsonl#line=2"]
    texts = ["Café  ﬁne\tÉTÉ\u2028straße\x1c end ", "x"] * 6
    cfg = DedupeConfig()
    hashes = [content_hash(t) for t in texts]
    assert hashes == [sha256_hex(normalise_text(t)) for t in texts]
    expected = [doc_id_for(u, h, s, cfg.id_hex_chars) for u, h, s in zip(urls, hashes, uris, strict=True)]
    assert doc_ids(pa.array(urls, pa.string()), hashes, pa.array(uris), cfg.id_hex_chars) == expected


OLD_PHONE, NEW_PHONE = "Tel: +976 7014 3100", "Tel: +976 7014 3199"  # in seed 004's contact block


def _edit_after_contact_block(raw) -> str:
    """Correct the phone number in one seed's contact block (after "For more information…"); its file name."""
    (page,) = [p for p in sorted(raw.iterdir()) if OLD_PHONE in p.read_text()]
    page.write_text(page.read_text().replace(OLD_PHONE, NEW_PHONE))
    return page.name


def test_edit_after_the_contact_block_is_an_update(seeds_raw):
    first = _dedupe(clean(ingest(seeds_raw).kept).kept)
    edited = _edit_after_contact_block(seeds_raw)
    second = _dedupe(clean(ingest(seeds_raw).kept).kept, published_history(first.kept))
    assert second.stats["unchanged"] == 4 and second.stats["updates"] == 1 and second.stats["duplicates"] == 0
    (row,) = second.kept.to_pylist()
    assert row["source_uri"] == edited and row["is_update"] is True
    before = first.kept.filter(pc.equal(first.kept.column("source_uri"), edited)).to_pylist()[0]
    assert (row["doc_id"], row["content_hash"], row["text"]) == (
        before["doc_id"],
        before["content_hash"],
        before["text"],
    )
    assert NEW_PHONE in row["contact_text"] and NEW_PHONE in row["raw_text"] and OLD_PHONE in before["contact_text"]


def test_case_only_body_edit_is_an_update_and_duplicates_still_go_by_body(seeds_raw):
    """The normalised body (content_hash) ignores case; what is published does not. A copy of the edited page
    under another name is still an exact duplicate of it."""
    first = _dedupe(clean(ingest(seeds_raw).kept).kept)
    page = sorted(seeds_raw.iterdir())[4]
    page.write_text(page.read_text().replace("national consultation", "National Consultation"))
    shutil.copy(page, seeds_raw / "zz_copy.txt")
    second = _dedupe(clean(ingest(seeds_raw).kept).kept, published_history(first.kept))
    assert second.stats["unchanged"] == 4 and second.stats["updates"] == 1
    assert second.kept.column("source_uri").to_pylist() == [page.name]
    dups = second.outputs["duplicates"].to_pylist()
    assert [(d["source_uri"], d["kind"]) for d in dups] == [("zz_copy.txt", "exact")]


def test_history_read_from_parquet_hashes_versions_like_python(seeds_raw, tmp_path):
    """DuckDB's version hash of the published columns (history_from_files) equals tonight's Python one: a
    byte-identical re-delivery is unchanged (also pages without contact block: null contact_text), an edit after
    the contact block is an update."""
    first = _dedupe(clean(ingest(seeds_raw).kept).kept)
    assert first.kept.column("contact_text").null_count >= 1
    columns = ["doc_id", "content_hash", *VERSION_COLUMNS, "line_keys"]
    pq.write_table(first.kept.select(columns), tmp_path / "documents.parquet")
    docs = [str(tmp_path / "documents.parquet")]
    python = published_history(first.kept).to_pydict()
    expected = dict(zip(python["doc_id"], zip(python["version_hash"], python["keys_hash"], strict=True), strict=True))
    assert all(keys for _, keys in expected.values())
    assert published_versions(docs, python["doc_id"]) == expected
    for edit, unchanged in ((False, 5), (True, 4)):
        if edit:
            _edit_after_contact_block(seeds_raw)
        pages = clean(ingest(seeds_raw).kept).kept
        sk = sketch_pages(pages, DedupeConfig())
        history, index = history_from_files(docs, [], sk)
        second = dedupe_pages(pages, history, DedupeConfig(), index, sk)
        assert second.stats["unchanged"] == unchanged and second.stats["updates"] == 5 - unchanged


def test_same_text_cleaned_through_other_fingerprints_is_an_update(seeds_raw, tmp_path):
    """Issue #14: a page re-delivered with its published text is unchanged only when its document stores every
    line fingerprint tonight's cleaning read (strip_boilerplate/changed.py tests stored keys only), else it is
    published again with them; a table written before documents stored fingerprints holds none: any match."""
    first = _dedupe(clean(ingest(seeds_raw).kept).kept)
    keys = first.kept.column("line_keys").to_pylist()
    stale = pa.array([k[1:] if i == 0 else k for i, k in enumerate(keys)], pa.list_(pa.int64()))
    at = first.kept.schema.get_field_index("line_keys")
    written = {
        "stale": first.kept.set_column(at, "line_keys", stale),
        "older": first.kept.drop_columns(["line_keys"]),
    }
    pages = clean(ingest(seeds_raw).kept).kept
    sk = sketch_pages(pages, DedupeConfig())
    for name, table in written.items():
        path = tmp_path / f"{name}.parquet"
        kept = ["doc_id", "content_hash", *VERSION_COLUMNS, "line_keys"]
        pq.write_table(table.select([c for c in kept if c in table.column_names]), path)
        history, index = history_from_files([str(path)], [], sk)
        second = dedupe_pages(pages, history, DedupeConfig(), index, sk)
        updated = second.kept.column("doc_id").to_pylist()
        if name == "stale":
            assert updated == [first.kept.column("doc_id")[0].as_py()] and second.stats["unchanged"] == 4
            assert second.kept.column("line_keys").to_pylist() == keys[:1]
        else:
            assert updated == [] and second.stats["unchanged"] == 5


def test_history_without_version_hashes_is_refused(seeds_raw):
    first = _dedupe(clean(ingest(seeds_raw).kept).kept)
    with pytest.raises(ValueError, match="version_hash"):
        _dedupe(clean(ingest(seeds_raw).kept).kept, first.kept.select(["doc_id", "content_hash"]))
