"""Pages as stg_clean rows: a chunk of the night's pages stripped under the night's models (counted, the empty
ones quarantined), and published documents stripped again under them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from schemas import STG_CLEAN, reasons
from schemas.runs import DUPLICATES, RESTRIPPED, UNCHANGED
from tasks._stage import quarantine_row, sha256_hex, url_site
from tasks.strip_boilerplate.changed import RestripScope
from tasks.strip_boilerplate.config import BoilerplateConfig
from tasks.strip_boilerplate.html import html_to_text
from tasks.strip_boilerplate.lines import sorted_ints, split_contact
from tasks.strip_boilerplate.model import (
    MARKS,
    MERGE_MARKS,
    NO_COPIES,
    NO_COPY_CHECK,
    TWICE_KEYED,
    WALK_MARKS,
    TemplateModels,
    clean_page,
    page_group,
    twice_key,
)

# A cleaning that skipped a step found nothing there: one that did not check for copies found none, one that did
# not walk a model for variants merged none. A document stored as having done the step and found nothing read a
# superset of what it reads (`_covered`).
_IMPLIED_MARKS = ((NO_COPY_CHECK, NO_COPIES), *zip(WALK_MARKS, MERGE_MARKS, strict=True))

STAGE = "strip_boilerplate"
COUNTERS = ("boilerplate_lines", "contact_blocks", *reasons.REMOVED_LINE_REASONS)  # summed over chunks and shards
RESTRIP_COLUMNS = (  # what `restrip` reads of a published document
    "doc_id",
    "line_keys",
    "url",
    "site",
    "source_uri",
    "source_sha256",
    "format",
    "raw_title",
    "raw_text",
    "text",
    "fetched_at",
    "ingested_at",
)


def strip_rows(
    pages: pa.Table | pa.RecordBatch,
    models: TemplateModels,
    cfg: BoilerplateConfig,
    counts: Counter[str],
    rejects: list[dict[str, Any]],
) -> pa.Table:
    """The pages as stg_clean rows (quarantine rows of the empty ones added to `rejects`); `counts` gets the
    chunk's COUNTERS."""
    out_rows = [r for r in (_strip_row(row, models, cfg, rejects, counts) for row in pages.to_pylist()) if r]
    counts["boilerplate_lines"] += sum(r["n_boilerplate_lines"] for r in out_rows)
    counts["contact_blocks"] += sum(1 for r in out_rows if r["contact_text"])
    return STG_CLEAN.conform(out_rows)


def _strip_row(
    row: dict[str, Any],
    models: TemplateModels,
    cfg: BoilerplateConfig,
    rejects: list[dict[str, Any]],
    removed_by_reason: Counter[str],
) -> dict[str, Any] | None:
    """The page as a stg_clean row, or None (and a quarantine row in `rejects`) when no body is left; the kept
    page's removed lines are counted by reason code in `removed_by_reason`."""
    why: Counter[str] = Counter()
    keys = None
    if row["raw_html"] and not row["raw_text"]:
        text, title = html_to_text(row["raw_html"], row["url"])
        body, contact = split_contact(text.splitlines())
        n_removed, n_head, title_hint, group = 0, None, row["raw_title"] or title, url_site(row["url"])
    else:
        lines = (row["raw_text"] or "").splitlines()
        group = page_group(row["url"], lines, cfg)
        read: set[int] = set()
        body, contact, n_removed, n_head, why = clean_page(lines, group, models, cfg, read)
        title_hint = row["raw_title"]
        keys = sorted_ints(read)
    text = "\n".join(body).strip()
    if not text:
        message = "no body text left after boilerplate removal"
        reason = reasons.BOILERPLATE_EMPTY_BODY
        rejects.append(quarantine_row(row["source_uri"], STAGE, reason, message, row["run_id"], row["record_id"]))
        return None
    removed_by_reason.update(why)
    return {
        **row,
        "site": group or None,
        "text": text,
        "contact_text": "\n".join(contact) or None,
        "n_boilerplate_lines": n_removed,
        "n_header_lines": n_head,
        "title_hint": title_hint,
        "line_keys": keys,
    }


def restrip(
    published: pa.Table | None,
    run_id: str | None,
    models: TemplateModels,
    cfg: BoilerplateConfig,
    tonight: set[str],
    scope: RestripScope | None = None,
    counts: Counter[str] | None = None,
) -> pa.Table:
    """The published documents whose text changes under tonight's models, as stg_clean rows of run `run_id`, and
    those whose text stays but whose stored `line_keys` lack a fingerprint tonight's cleaning read (published
    again with them, `_covered`); documents of `tonight`'s pages (source_uri) are skipped: they were stripped
    as pages of the night. With
    `scope`, only its candidates among those it reads are stripped (changed.py: the others strip as they were
    published); `counts` gets the documents stripped again ("candidates") and, with `scope`, those read ("read")."""
    if published is None or published.num_rows == 0 or run_id is None:
        return STG_CLEAN.empty()
    keep = _restrippable(published, tonight)
    if scope is not None:  # one filter: the page texts are copied once, of the candidates only
        read = scope.read(published.column("site"))
        if counts is not None:
            counts["read"] += pc.sum(read).as_py() or 0
        keep = pc.and_(pc.and_(keep, read), scope.candidates(published))
    docs = published.filter(keep)
    out = []
    for doc in docs.to_pylist():
        lines = doc["raw_text"].splitlines()
        group = page_group(doc["url"], lines, cfg)
        if scope is not None and doc["line_keys"] is None and not scope.may_change(group, lines, cfg):
            continue
        if counts is not None:
            counts["candidates"] += 1
        read: set[int] = set()
        body, contact, n_removed, n_head, _ = clean_page(lines, group, models, cfg, read)
        text = "\n".join(body).strip()
        if text and (text != doc["text"] or not _covered(read, doc["line_keys"])):
            if counts is not None and text == doc["text"]:
                counts["rekeyed"] += 1
            out.append(_restrip_row(doc, run_id, body, contact, n_removed, n_head, sorted_ints(read)))
    return STG_CLEAN.conform(out)


def _covered(read: set[int], stored: list[int] | None) -> bool:
    """Whether a document's stored `line_keys` hold every fingerprint its cleaning read tonight (none stored: its
    lines stand for them, `RestripScope.may_change`). When they do not, the same text is published again with
    tonight's: a later night's model may change the answer for a fingerprint only tonight's cleaning read. The
    marks (`model.MARKS`: no copy check, no variant walk in the site's or the domain's model) are the other way
    round: stored without one, the document is read as checked for copies (walking that model), which covers a
    cleaning with or without the check; stored with it, only a cleaning without the check is covered. A step not
    done found nothing (`_IMPLIED_MARKS`): a document stored as walking a model and merging nothing there (or
    checking for copies and finding none) covers a cleaning that did not walk it (or check): after a week of
    deferred nights, the 1M bench's catch-up published 52,857 documents again for their keys alone, 1,469 with
    this (NOTES.md, session 47)."""
    if stored is None:
        return True
    held = set(stored)
    if TWICE_KEYED not in held:  # stored before "seen twice" was kept apart: read as asked of every line held
        held.update(map(twice_key, stored))
    done = read | {found for skipped, found in _IMPLIED_MARKS if skipped in read}
    return read.issubset(held | MARKS) and (held & MARKS).issubset(done)


def _restrippable(docs: pa.Table, tonight: Collection[str]) -> pa.Array:
    """Documents that can be stripped again: with a raw_text, not among the night's pages (`tonight`: stripped as
    such) and not identified by their body (no URL inside a multi-record dump: a new text would be a new id)."""
    not_tonight = pc.invert(pc.is_in(docs["source_uri"], pa.array(list(tonight), pa.string())))
    by_url = pc.or_(_non_empty(docs["url"]), pc.invert(pc.match_substring(docs["source_uri"], "#")))
    return pc.and_(pc.and_(_non_empty(docs["raw_text"]), not_tonight), by_url)


def _non_empty(strings: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Neither null nor empty (Python's truth of the value; its length in bytes: no page text is scanned)."""
    return pc.fill_null(pc.greater(pc.binary_length(strings), 0), False)


def _restrip_row(
    doc: dict[str, Any],
    run_id: str,
    body: list[str],
    contact: list[str],
    n_removed: int,
    n_head: int,
    keys: list[int],
) -> dict[str, Any]:
    """A published document as a stg_clean row again, with its text stripped under tonight's model and the
    fingerprints that cleaning read (`keys`)."""
    raw = doc["raw_text"]
    return {
        "record_id": sha256_hex(doc["source_uri"]),
        "source_uri": doc["source_uri"],
        "source_sha256": doc["source_sha256"] or sha256_hex(raw),
        "size_bytes": len(raw.encode()),
        "format": doc["format"] or "txt",
        "url": doc["url"],
        "fetched_at": doc["fetched_at"],
        "raw_title": doc["raw_title"],
        "raw_text": raw,
        "ingested_at": doc["ingested_at"],
        "run_id": run_id,
        "site": doc["site"],
        "text": "\n".join(body).strip(),
        "contact_text": "\n".join(contact) or None,
        "n_boilerplate_lines": n_removed,
        "n_header_lines": n_head,
        "title_hint": doc["raw_title"],
        "line_keys": keys,
    }


def stage_stats(counts: Counter[str], restripped: int, unchanged: int = 0, duplicates: int = 0) -> dict[str, int]:
    """The stage's counters from the summed COUNTERS, the re-stripped documents and the records that left as
    unchanged or as a recorded duplicate (unchanged.py)."""
    left = {UNCHANGED: unchanged, DUPLICATES: duplicates}
    return {**{name: counts[name] for name in COUNTERS}, RESTRIPPED: restripped, **left}
