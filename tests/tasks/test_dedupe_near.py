"""dedupe_pages, near duplicates: the real corpus through ingest and strip_boilerplate, planted variants of a page
(other host, other site's navigation, re-wrapped, a changed paragraph), in one run and split across two runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from helpers import NOW, clean, corpus_labels, corpus_pages, ingest, write_jsonl_dump

from schemas import STG_CLEAN
from tasks.dedupe import (
    DedupeConfig,
    DedupeIndex,
    dedupe_pages,
    doc_id_for,
    history_from_files,
    near,
    published_history,
    sketch_pages,
)
from tasks.dedupe.minhash import jaccard, shingle_sets

CFG = DedupeConfig()
_HIST = pa.schema([("doc_id", pa.string()), ("content_hash", pa.string())])
NO_HISTORY = pa.table({"doc_id": [], "content_hash": []}, schema=_HIST)
LABELS = corpus_labels()
PAGES = corpus_pages()


def _body(i: int) -> list[str]:
    drop = set(LABELS[i]["boilerplate"]) | set(LABELS[i]["contact"] or [])
    return [line for j, line in enumerate(LABELS[i]["lines"]) if j not in drop]


def _source() -> int:
    """An iom.int news page with a long body and site navigation (so 'another site's navigation' is real)."""
    for i, lab in enumerate(LABELS):
        if lab["site"] == "iom.int" and lab["boilerplate"] and len(" ".join(_body(i)).split()) > 250:
            return i
    raise AssertionError("no suitable corpus page")


SRC = _source()
NAV_SITE = next(i for i, lab in enumerate(LABELS) if lab["site"] == "mongolia.iom.int" and len(lab["boilerplate"]) >= 5)


def _variants() -> list[dict]:
    body = _body(SRC)
    nav = [LABELS[NAV_SITE]["lines"][j] for j in LABELS[NAV_SITE]["boilerplate"]]
    paragraphs = "\n".join(body).split("\n")
    longest = max(range(len(paragraphs)), key=lambda k: len(paragraphs[k]))
    sentence = paragraphs[longest].split(". ")
    sentence[0] = " ".join(sentence[0].split()[:-3] + ["changed", "in", "copy"])
    changed = paragraphs[:longest] + [". ".join(sentence)] + paragraphs[longest + 1 :]
    rewrapped = "\n".join(textwrap.fill(p, 57) for p in paragraphs)
    return [
        {"url": "https://mongolia.iom.int/news/copied-story", "text": "\n".join(nav + body)},
        {"url": "https://mirror.example.org/rewrapped", "text": rewrapped},
        {"url": "https://copies.example.net/changed", "text": "\n".join(changed)},
    ]


def _raw(tmp_path: Path, name: str, records: list[dict]) -> Path:
    return write_jsonl_dump(tmp_path / name, records)


def _index(result) -> DedupeIndex:
    return DedupeIndex.of_documents(result.outputs["dedupe_bands"], result.kept)


def _by_url(result) -> dict[str, dict]:
    return {d["url"]: d for d in result.outputs["duplicates"].to_pylist()}


@pytest.fixture(scope="module")
def corpus_clean(tmp_path_factory) -> pa.Table:
    raw = _raw(tmp_path_factory.mktemp("corpus"), "raw", PAGES + _variants())
    return clean(ingest(raw).kept).kept


def _url_of(doc_id: str) -> str:
    return next(u for u in [lab["url"] for lab in LABELS] + [v["url"] for v in _variants()] if _id(u) == doc_id)


def _id(url: str) -> str:
    return doc_id_for(url, "", hex_chars=CFG.id_hex_chars)


def _check_variants(dups: dict[str, dict]) -> None:
    """The source page and its three variants form one cluster; its canonical is the first by the rule."""
    src = next(iter({d["duplicate_of"] for u, d in dups.items() if u in {v["url"] for v in _variants()}}))
    assert {u for u, d in dups.items() if d["duplicate_of"] == src} | {_url_of(src)} == {
        LABELS[SRC]["url"],
        *(v["url"] for v in _variants()),
    }
    # re-wrapping changes only line breaks, but stripping sees other lines, so the bodies may differ slightly
    assert dups["https://mirror.example.org/rewrapped"]["duplicate_of"] == src
    assert dups["https://mirror.example.org/rewrapped"]["similarity"] >= 0.9
    changed = dups.get("https://copies.example.net/changed")
    if changed:  # not the canonical: a near duplicate below 1
        assert changed["kind"] == "near" and 0.8 <= changed["similarity"] < 1.0
    # other duplicates: only the corpus's own dup_group (one URL at www. and bare host: superseded)
    assert all(d["duplicate_of"] == src for d in dups.values() if d["kind"] != "superseded")


def test_corpus_and_variants_in_one_run(corpus_clean):
    result = dedupe_pages(corpus_clean, NO_HISTORY, CFG)
    dups = _by_url(result)
    _check_variants(dups)
    # nothing else in the corpus is a near duplicate: pages of one site share navigation, not bodies
    assert result.stats["duplicates.near"] + result.stats["duplicates.exact"] == 3
    assert result.stats["in"] == result.kept.num_rows + result.stats["duplicates"] + result.stats["unchanged"]
    # band rows: every kept document's keys, then its menu-free keys that differ from them (menu_run.py)
    n_bands = result.outputs["dedupe_bands"].num_rows
    n_docs = int((result.outputs["dedupe_signatures"].column("n_shingles").to_numpy() > 0).sum())
    sk = sketch_pages(result.kept, CFG)
    has = np.flatnonzero(sk.menu_of >= 0)
    n_menu = int((sk.menu_keys[sk.menu_of[has]] != sk.band_keys[has]).sum())
    assert n_menu > 0 and n_bands == CFG.bands * n_docs + n_menu


def test_variants_split_across_two_runs(corpus_clean):
    urls = corpus_clean.column("url").to_pylist()
    variant_urls = {v["url"] for v in _variants()}
    second_mask = [u in variant_urls for u in urls]
    first_pages = corpus_clean.filter(pa.array([not m for m in second_mask]))
    second_pages = corpus_clean.filter(pa.array(second_mask))
    first = dedupe_pages(first_pages, NO_HISTORY, CFG)
    assert first.stats["duplicates.near"] == 0
    history = published_history(first.kept)
    second = dedupe_pages(second_pages, history, CFG, _index(first))
    _check_variants(_by_url(second))
    assert second.kept.num_rows == 0  # every variant folds into the published source page
    assert second.stats["in"] == second.kept.num_rows + second.stats["duplicates"] + second.stats["unchanged"]


def test_pages_sharing_only_navigation_are_not_duplicates(tmp_path):
    nav = [LABELS[NAV_SITE]["lines"][j] for j in LABELS[NAV_SITE]["boilerplate"]]
    others = [i for i, lab in enumerate(LABELS) if lab["site"] == "iom.int" and i != SRC][:4]
    records = [{"url": f"https://mongolia.iom.int/news/p{i}", "text": "\n".join(nav + _body(i))} for i in others]
    records += [{"url": f"https://mongolia.iom.int/news/q{k}", "text": "\n".join(nav + _body(SRC))} for k in range(1)]
    pages = clean(ingest(_raw(tmp_path, "raw", records)).kept).kept
    first = dedupe_pages(pages.slice(0, 2), NO_HISTORY, CFG)
    second = dedupe_pages(pages.slice(2), published_history(first.kept), CFG, _index(first))
    assert first.stats["duplicates"] == 0 and second.stats["duplicates"] == 0
    assert first.kept.num_rows + second.kept.num_rows == len(records)


def _row(url: str, text: str, source_uri: str, run_id: str = "r1") -> dict:
    return {
        "record_id": source_uri,
        "source_uri": source_uri,
        "source_sha256": "0" * 64,
        "size_bytes": len(text),
        "format": "jsonl",
        "url": url,
        "ingested_at": NOW,
        "run_id": run_id,
        "text": text,
        "n_boilerplate_lines": 0,
    }


def test_dup_group_same_page_at_two_hosts_is_one_document():
    """labels.jsonl dup_group (www. and bare host): one doc_id, in one run and across two runs."""
    group = [i for i, lab in enumerate(LABELS) if lab["dup_group"]]
    rows = [_row(PAGES[i]["url"], PAGES[i]["text"], f"d.jsonl#line={i}") for i in group]
    one = dedupe_pages(STG_CLEAN.conform(rows), NO_HISTORY, CFG)
    assert one.kept.num_rows == 1 and one.stats["duplicates"] == 1
    first = dedupe_pages(STG_CLEAN.conform(rows[:1]), NO_HISTORY, CFG)
    second = dedupe_pages(STG_CLEAN.conform(rows[1:]), published_history(first.kept), CFG, _index(first))
    assert second.stats["unchanged"] + second.stats["updates"] == 1 and second.stats["duplicates"] == 0


def test_near_match_with_own_published_version_is_an_update():
    text = " ".join(_body(SRC))
    row = _row(LABELS[SRC]["url"], text, "a.jsonl#line=1")
    first = dedupe_pages(STG_CLEAN.conform([row]), NO_HISTORY, CFG)
    edited = {**row, "source_uri": "b.jsonl#line=1", "run_id": "r2", "text": text + " One more sentence at the end."}
    second = dedupe_pages(STG_CLEAN.conform([edited]), published_history(first.kept), CFG, _index(first))
    assert second.kept.column("is_update").to_pylist() == [True]
    assert second.stats["duplicates"] == 0
    assert second.outputs["dedupe_signatures"].column("doc_id").to_pylist() == first.kept.column("doc_id").to_pylist()


def test_exact_jaccard_of_word_trigrams():
    a, b = shingle_sets(CFG.sketcher, pa.array(["One, two three four five.", "one two three four six"]))
    assert jaccard(a, b) == pytest.approx(2 / 4)


def test_variants_against_a_history_read_from_parquet_files(corpus_clean, tmp_path):
    """The second run reads its history through history_from_files (DuckDB over Parquet), as the bench does."""
    variant_urls = {v["url"] for v in _variants()}
    second_mask = pa.array([u in variant_urls for u in corpus_clean.column("url").to_pylist()])
    first = dedupe_pages(corpus_clean.filter(pc.invert(second_mask)), NO_HISTORY, CFG)
    pq.write_table(first.kept.select(["doc_id", "content_hash", "text"]), tmp_path / "documents.parquet")
    pq.write_table(first.outputs["dedupe_bands"], tmp_path / "dedupe_bands.parquet")
    second_pages = corpus_clean.filter(second_mask)
    sk = sketch_pages(second_pages, CFG)
    history, index = history_from_files(
        [str(tmp_path / "documents.parquet")], [str(tmp_path / "dedupe_bands.parquet")], sk
    )
    second = dedupe_pages(second_pages, history, CFG, index, sk)
    _check_variants(_by_url(second))
    assert second.kept.num_rows == 0


def test_numpy_engine_folds_the_same_records(corpus_clean):
    """Both MinHash engines (different signatures) end in the same duplicates: verification is exact."""
    rensa = dedupe_pages(corpus_clean, NO_HISTORY, CFG).outputs["duplicates"]
    numpy = dedupe_pages(corpus_clean, NO_HISTORY, DedupeConfig(engine="numpy")).outputs["duplicates"]
    _check_variants({d["url"]: d for d in rensa.to_pylist()})  # the planted variants are found by both, not none
    cols = ["source_uri", "duplicate_of", "kind", "similarity"]
    assert rensa.select(cols).sort_by("source_uri").equals(numpy.select(cols).sort_by("source_uri"))


def test_shingles_keep_letters_of_every_script():
    """Accented and non-Latin words are words (RE2's ASCII \\w once dropped them: Arabic text had no shingles)."""
    a, b, c = shingle_sets(
        CFG.sketcher, pa.array(["l'été à Genève, déjà", "lété à genève déjà", "مرحبا بالعالم يا صديقي"])
    )
    assert jaccard(a, b) == 1.0 and len(a) == 2
    assert len(c) == 2
    (ascii_only,) = shingle_sets(CFG.sketcher, pa.array(["lt  Genve dj"]))
    assert jaccard(a, ascii_only) == 0.0


def test_history_texts_read_a_segment_at_a_time_from_many_files_give_the_same_duplicates(
    corpus_clean, tmp_path, monkeypatch
):
    """Published texts read from several files of 5-row groups, 3 texts a segment (`PublishedTexts`, `NodeStore`),
    fold the same records as the texts held in memory."""
    variant_urls = {v["url"] for v in _variants()}
    second_mask = pa.array([u in variant_urls for u in corpus_clean.column("url").to_pylist()])
    first = dedupe_pages(corpus_clean.filter(pc.invert(second_mask)), NO_HISTORY, CFG)
    documents = first.kept.select(["doc_id", "content_hash", "text"])
    half = documents.num_rows // 2
    doc_files = [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]
    pq.write_table(documents.slice(0, half), doc_files[0], row_group_size=5)
    pq.write_table(documents.slice(half), doc_files[1], row_group_size=5)
    pq.write_table(first.outputs["dedupe_bands"], tmp_path / "dedupe_bands.parquet")
    second_pages = corpus_clean.filter(second_mask)
    sk = sketch_pages(second_pages, CFG)
    in_memory = dedupe_pages(
        second_pages,
        published_history(first.kept),
        CFG,
        DedupeIndex.of_documents(first.outputs["dedupe_bands"], first.kept),
        sk,
    )
    monkeypatch.setattr(near, "MAX_SEGMENT_TEXTS", 3)
    history, index = history_from_files(doc_files, [str(tmp_path / "dedupe_bands.parquet")], sk)
    from_files = dedupe_pages(second_pages, history, CFG, index, sk)
    stats = from_files.stats
    assert stats["near_verified"] >= 1 and stats["duplicates.near"] + stats["duplicates.contained"] >= 1, stats
    cols = ["source_uri", "duplicate_of", "kind", "similarity"]
    got, expected = (r.outputs["duplicates"].select(cols).sort_by("source_uri") for r in (from_files, in_memory))
    assert got.equals(expected) and from_files.stats == in_memory.stats


def test_node_store_gives_back_each_nodes_shingles_and_text(tmp_path):
    """Sets and texts written a segment at a time come back per node: empty, null and non-ASCII texts too, and
    texts of a sliced Arrow array."""
    nodes = [0, 1, "doc-a", 2, "doc-b"]
    texts = ["première page", None, "", "مرحبا بالعالم", "x" * 10_000]
    sets = [np.array(list(range(i)), np.uint64) for i in (3, 0, 0, 5, 2)]
    with (tmp_path / "store").open("w+b") as file:
        store = near.NodeStore(file, nodes)
        store.add(nodes[:2], sets[:2], pa.array(texts[:2], pa.string()))
        store.add(nodes[2:], sets[2:], pa.array(["left out", *texts[2:]], pa.string()).slice(1))  # an offset
        for node, values, text in zip(nodes, sets, texts, strict=True):
            assert store.shingles(node).tolist() == values.tolist()
            assert store.text(node) == (text or "")
