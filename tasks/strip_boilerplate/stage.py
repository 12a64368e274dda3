"""The strip_boilerplate stage proper: each page stripped under the night's template models, published documents
of changed groups stripped again, and the task. The contract is in tasks/strip_boilerplate/__init__.py."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas import BOILERPLATE_PAGES, DOCUMENTS, STG_CLEAN, reasons
from tasks._spill import Rows, SpillWriter, chunks
from tasks._stage import StageResult, quarantine_row, quarantine_table, sha256_hex
from tasks._warehouse import iter_current_where, read_current
from tasks.strip_boilerplate.config import BoilerplateConfig
from tasks.strip_boilerplate.html import html_to_text
from tasks.strip_boilerplate.lines import split_contact
from tasks.strip_boilerplate.model import PageSample, TemplateModels, clean_page, domain_of, page_group, site_of

STAGE = "strip_boilerplate"


def _restrip_row(
    doc: dict[str, Any], run_id: str, body: list[str], contact: list[str], n_removed: int, n_head: int
) -> dict[str, Any]:
    """A published document as a stg_clean row again, with its text stripped under tonight's model."""
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
    }


def strip_boilerplate(
    pages: pa.Table, samples: pa.Table, cfg: BoilerplateConfig, published: pa.Table | None = None
) -> StageResult:
    """Remove template lines learned from `samples` plus this batch; cut contact blocks.

    `published`: documents of the groups whose model changed tonight (`PageSample.changed_groups`). Those
    whose text comes out different under the new model are returned again (kept, counted in
    stats["restripped"]) so the rest of the run republishes them: results do not depend on how pages were
    spread over runs. Documents identified by their body (no URL, inside a multi-record dump) keep their text,
    since a new text would give them a new id.
    """
    sample = PageSample(samples, cfg)
    sample.add(pages)
    return strip_chunks([pages], sample, cfg, published)


def strip_chunks(
    parts: Iterable[pa.Table],
    sample: PageSample,
    cfg: BoilerplateConfig,
    published: pa.Table | Iterable[pa.Table] | None = None,
    out: Path | None = None,
) -> StageResult:
    """`strip_boilerplate` over pages arriving in parts, under the models of a sample that has seen them all.
    With `out`, kept rows are written to the spill `out/kept.parquet` as they come; `published` may come in
    parts too (one per data file)."""
    models = sample.models()
    writer = SpillWriter(Path(out) / "kept.parquet", STG_CLEAN) if out is not None else None
    kept_parts: list[pa.Table] = []
    emit = writer.write if writer is not None else kept_parts.append
    rejects: list[dict[str, Any]] = []
    tonight: set[str] = set()
    stats = {"boilerplate_lines": 0, "contact_blocks": 0}
    removed_by_reason: Counter[str] = Counter()
    n_in, run_id = 0, None
    for pages in parts:
        n_in += pages.num_rows
        rows = pages.to_pylist()
        out_rows = [r for r in (_strip_row(row, models, cfg, rejects, removed_by_reason) for row in rows) if r]
        tonight.update(r["source_uri"] for r in rows)
        run_id = run_id or (rows[0]["run_id"] if rows else None)
        stats["boilerplate_lines"] += sum(r["n_boilerplate_lines"] for r in out_rows)
        stats["contact_blocks"] += sum(1 for r in out_rows if r["contact_text"])
        emit(STG_CLEAN.conform(out_rows))
    stats.update({code: removed_by_reason[code] for code in reasons.REMOVED_LINE_REASONS})
    stats["restripped"] = 0
    for docs in [published] if isinstance(published, pa.Table) else published or ():
        part = STG_CLEAN.conform(_restrip(docs, run_id, models, cfg, tonight))
        stats["restripped"] += part.num_rows
        emit(part)
    if writer is not None:
        kept: Rows = writer.close()
    else:
        kept = pa.concat_tables(kept_parts) if kept_parts else STG_CLEAN.empty()
    return StageResult(
        kept,
        quarantine_table(rejects),
        stats,
        outputs={"boilerplate_pages": BOILERPLATE_PAGES.conform(sample.new_rows())},
        n_in=n_in + stats["restripped"],
    )


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
    if row["raw_html"] and not row["raw_text"]:
        text, title = html_to_text(row["raw_html"], row["url"])
        body, contact = split_contact(text.splitlines())
        n_removed, n_head, title_hint, group = 0, None, row["raw_title"] or title, site_of(row["url"])
    else:
        lines = (row["raw_text"] or "").splitlines()
        group = page_group(row["url"], lines, cfg)
        body, contact, n_removed, n_head, why = clean_page(lines, group, models, cfg)
        title_hint = row["raw_title"]
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
    }


def _restrip(
    published: pa.Table | None,
    run_id: str | None,
    models: TemplateModels,
    cfg: BoilerplateConfig,
    tonight: set[str],
) -> list[dict[str, Any]]:
    if published is None or published.num_rows == 0 or run_id is None:
        return []
    out = []
    for doc in published.to_pylist():
        if doc["source_uri"] in tonight or not doc["raw_text"] or (not doc["url"] and "#" in doc["source_uri"]):
            continue
        lines = doc["raw_text"].splitlines()
        body, contact, n_removed, n_head, _ = clean_page(lines, page_group(doc["url"], lines, cfg), models, cfg)
        text = "\n".join(body).strip()
        if text and text != doc["text"]:
            out.append(_restrip_row(doc, run_id, body, contact, n_removed, n_head))
    return out


@task(name="strip-boilerplate", cache_policy=NO_CACHE)
def strip_boilerplate_task(pages: Rows, warehouse, cfg: BoilerplateConfig, out: Path | None = None) -> StageResult:
    """Two passes over the night's pages: the first feeds the template sample, the second strips each chunk."""
    sample = PageSample(read_current(warehouse, BOILERPLATE_PAGES), cfg)
    for part in chunks(pages, columns=["url", "raw_text", "raw_html", "run_id"]):
        sample.add(part)
    published = read_documents_of_groups(warehouse, sample.changed_groups(), cfg)
    return strip_chunks(chunks(pages), sample, cfg, published, out)


RESTRIP_COLUMNS = (
    "doc_id",
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


def read_documents_of_groups(warehouse, groups: set[str], cfg: BoilerplateConfig) -> Iterator[pa.Table]:
    """Published documents whose site (or registered domain) is one of `groups`, one data file at a time."""
    if not groups:
        return iter(())
    sites = read_current(warehouse, DOCUMENTS, ["site"]).column("site").unique().to_pylist()
    wanted = [s for s in sites if s and (s in groups or domain_of(s) in groups)]
    return iter_current_where(warehouse, DOCUMENTS, RESTRIP_COLUMNS, "site", wanted) if wanted else iter(())
