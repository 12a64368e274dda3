"""Strip site boilerplate (menus, banners, template headers) and cut contact blocks from page text.

In: stg_pages (schemas/stg_pages.py). Out: stg_clean — same rows plus `site`, `text`, `contact_text`,
`n_boilerplate_lines`, `title_hint`. Quarantines: boilerplate.empty_body.
State: `boilerplate_pages`, a bounded sample of pages per template group (read; new sample rows returned), and
the published documents of groups whose sample changed tonight (read; returned re-stripped when their text
changes, so the first pages of a new site lose their template once enough pages are seen).

Text dumps: a line is *frequent* when it appears on enough sampled pages of the page's site (host without
www.), or of its registered domain (IOM country sites share variants of one menu). Pages without URL are
grouped by a fingerprint of their leading lines. Boilerplate is the leading run of frequent (or
letter-free) lines and, after the contact block is cut, the trailing run: position keeps repeated field
labels inside the body ("Start Date") and common short lines. The sample per group is the `max_sample_pages`
pages with the smallest page_key (content hash), so the model does not depend on input order or on how
pages are spread over runs. A group with fewer than `min_site_pages` (2) pages strips nothing; with two
pages, the lines both share in the leading/trailing run are template, unless the two are copies of one story
(`copies_of`).
HTML pages: main content by trafilatura (precision-favouring), title from its metadata; no line learning.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import trafilatura
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas import BOILERPLATE_PAGES, DOCUMENTS, STG_CLEAN, reasons
from tasks._stage import StageResult, normalise_text, quarantine_row, quarantine_table, sha256_hex
from tasks._warehouse import read_current, read_current_where

STAGE = "strip_boilerplate"


@dataclass(frozen=True, slots=True)
class BoilerplateConfig:
    min_site_pages: int = 2  # a line must recur on this many sampled pages of one site
    min_site_share: float = 0.05  # … and on this share of them
    min_domain_pages: int = 3  # or on this many pages of the registered domain
    min_domain_share: float = 0.03
    max_gap_short_lines: int = 8  # short page-specific lines tolerated between template lines of one run
    max_short_line_words: int = 4
    prefix_words: int = 5  # long lines also match by their first words (menu teasers vary at the end)
    max_sample_pages: int = 200  # pages kept per group in the learned model
    max_copy_jaccard: float = 0.9  # pages sharing more of their lines are one page for the line counts
    max_gutted_share: float = 0.1  # a page keeping no more than this share of its lines is re-checked for copies
    min_copy_shared: float = 0.5  # … a copy shares this share of the page's lines through lines found nowhere else
    max_head_lines: int = 150  # only the first/last lines of a page can be template
    max_tail_lines: int = 60
    lead_fingerprint_lines: int = 3  # pages without URL are grouped by their first lines


# "For more information please contact: …" opens a contact block that runs to the end of the page (the corpus
# labels' rule); "For further information, please consult: <links>" is body text.
_CONTACT = re.compile(
    r"^\W*(for more information|pour plus d'informations?|para (más|mas|mais) informa(ción|cion|ções|coes)|"
    r"per maggiori informazioni|media contacts?\W*$|press contacts?\W*$)",
    re.IGNORECASE,
)
_HAS_WORD = re.compile(r"\w", re.UNICODE)
_SECOND_LEVEL = {"co", "com", "org", "gov", "ac", "edu", "net", "or", "go"}


def line_hash(line: str) -> int:
    """Signed 64-bit fingerprint of a normalised line (Delta Lake has no unsigned integers)."""
    digest = hashlib.blake2b(normalise_text(line).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def site_of(url: str | None) -> str | None:
    if not url:
        return None
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host or None


def domain_of(site: str) -> str:
    """Template group of the registered domain: `domain:iom.int` for mongolia.iom.int and iom.int alike."""
    parts = site.split(".")
    keep = 3 if len(parts) >= 3 and parts[-2] in _SECOND_LEVEL and len(parts[-1]) == 2 else 2
    return "domain:" + ".".join(parts[-keep:])


def _is_trivial(line: str) -> bool:
    return not _HAS_WORD.search(line)


def _group_of(site: str | None, lines: list[str], cfg: BoilerplateConfig) -> str:
    if site:
        return site
    lead = [normalise_text(x) for x in lines if not _is_trivial(x)][: cfg.lead_fingerprint_lines]
    return "lead:" + sha256_hex("\n".join(lead))[:16]


def prefix_hash(line: str, n_words: int) -> int | None:
    """Fingerprint of a long line's first words: menus carry teaser lines whose tail varies by page."""
    words = normalise_text(line).split(" ")
    return line_hash("\x00prefix " + " ".join(words[:n_words])) if len(words) >= 2 * n_words else None


def _line_keys(line: str, cfg: BoilerplateConfig) -> list[int]:
    keys = [line_hash(line)]
    prefix = prefix_hash(line, cfg.prefix_words)
    return keys if prefix is None else [*keys, prefix]


def _page_line_hashes(lines: list[str], cfg: BoilerplateConfig) -> list[int]:
    window = lines[: cfg.max_head_lines] + lines[-cfg.max_tail_lines :]
    return sorted({k for x in window if not _is_trivial(x) for k in _line_keys(x, cfg)})


@dataclass(slots=True)
class _GroupModel:
    counts: Counter[int]
    n_pages: int
    pages: dict[str, frozenset[int]]

    def frequent(self, h: int, min_pages: int, min_share: float) -> bool:
        need = max(min_pages, math.ceil(min_share * self.n_pages))
        return self.n_pages >= min_pages and self.counts.get(h, 0) >= need

    def copies_of(self, lines: frozenset[int], own_key: str, min_shared: float) -> list[str]:
        """Sampled pages sharing at least `min_shared` of `lines` through lines found on no third page: other
        copies of the same story (same page at two hosts), not pages sharing a template."""
        out = []
        for key, other in self.pages.items():
            if key == own_key:
                continue
            rare = sum(1 for h in lines & other if self.counts[h] <= 2)
            if rare >= min_shared * len(lines):
                out.append(key)
        return out

    def without(self, keys: list[str]) -> _GroupModel:
        counts = Counter(self.counts)
        for key in keys:
            counts.subtract(self.pages.get(key, ()))
        pages = {k: v for k, v in self.pages.items() if k not in keys}
        return _GroupModel(counts, len(pages), pages)


def _distinct_pages(pages: dict[str, list[int]], keys: list[str], max_jaccard: float) -> list[str]:
    """Keys of the pages that are not near-copies of an earlier one (line-set Jaccard > max_jaccard): an edited
    re-scrape or a copy of a page is no evidence that its lines are template."""
    kept: list[tuple[str, set[int]]] = []
    for key in keys:
        lines = set(pages[key])
        if not any(len(lines & other) > max_jaccard * len(lines | other) for _, other in kept):
            kept.append((key, lines))
    return [key for key, _ in kept]


def _build_models(samples: Iterable[dict[str, Any]], cfg: BoilerplateConfig) -> dict[str, _GroupModel]:
    """Per group: line counts over the `max_sample_pages` sampled pages with the smallest page_key, near-copies
    counted once."""
    by_group: dict[str, dict[str, list[int]]] = {}
    for row in samples:
        by_group.setdefault(row["site"], {})[row["page_key"]] = row["line_hashes"]
    models = {}
    for group, pages in by_group.items():
        chosen = _distinct_pages(pages, sorted(pages)[: cfg.max_sample_pages], cfg.max_copy_jaccard)
        counts: Counter[int] = Counter()
        for key in chosen:
            counts.update(pages[key])
        models[group] = _GroupModel(counts, len(chosen), {key: frozenset(pages[key]) for key in chosen})
    return models


def _leading_run(flags: list[bool], lines: list[str], cfg: BoilerplateConfig) -> int:
    """Number of leading lines that are template: up to the last frequent line of the prefix in which frequent
    lines are separated only by letter-free lines, or by at most `max_gap_short_lines` short lines (menu items
    of a language variant too rare to be frequent yet)."""
    end, gap = 0, 0
    for i, line in enumerate(lines):
        if flags[i]:
            end, gap = i + 1, 0
        elif not _is_trivial(line):
            gap += 1
            if gap > cfg.max_gap_short_lines or len(line.split()) > cfg.max_short_line_words:
                break
    return end


def _trailing_run(flags: list[bool], lines: list[str], cfg: BoilerplateConfig) -> int:
    return _leading_run(flags[::-1], lines[::-1], cfg)


def split_contact(lines: list[str]) -> tuple[list[str], list[str]]:
    """(body, contact block): the block runs from a 'For more information…' line to the end."""
    for i, line in enumerate(lines):
        if i > 0 and _CONTACT.match(line):
            return lines[:i], lines[i:]
    return lines, []


def _strip_lines(lines: list[str], is_frequent, cfg: BoilerplateConfig) -> tuple[list[str], list[str], int, int]:
    """(body, contact block, lines removed, header lines removed)."""
    flags = [not _is_trivial(x) and any(is_frequent(k) for k in _line_keys(x, cfg)) for x in lines]
    head = _leading_run(flags, lines, cfg)
    body, contact = split_contact(lines[head:])
    body_flags = flags[head : head + len(body)]
    tail = _trailing_run(body_flags, body, cfg)
    kept = body[: len(body) - tail] if tail else body
    return kept, contact, head + tail, head


def _strip_with(lines: list[str], site: _GroupModel, domain: _GroupModel, cfg: BoilerplateConfig):
    def is_frequent(h: int) -> bool:
        return site.frequent(h, cfg.min_site_pages, cfg.min_site_share) or domain.frequent(
            h, cfg.min_domain_pages, cfg.min_domain_share
        )

    return _strip_lines(lines, is_frequent, cfg)


def _gutted(lines: list[str], body: list[str], cfg: BoilerplateConfig) -> bool:
    """True when stripping left (almost) nothing of the page: worth checking whether copies of the page itself,
    rather than a template, made its lines frequent."""
    total = sum(1 for x in lines if not _is_trivial(x))
    kept = sum(1 for x in body if not _is_trivial(x))
    return kept <= cfg.max_gutted_share * total


def _html_to_text(html: str, url: str | None) -> tuple[str, str | None]:
    doc = trafilatura.bare_extraction(html, url=url, favor_precision=True, with_metadata=True, include_comments=False)
    if doc is None:
        return "", None
    return doc.text or "", doc.title or None


def _clean_page(
    lines: list[str],
    group: str,
    key: str,
    line_keys: frozenset[int],
    models: dict[str, _GroupModel],
    cfg: BoilerplateConfig,
) -> tuple[list[str], list[str], int, int]:
    """(body, contact block, lines removed, header lines) of one text page under the learned models."""
    empty = _GroupModel(Counter(), 0, {})
    site_model = models.get(group, empty)
    domain_model = models.get(domain_of(group), empty) if not group.startswith("lead:") else empty
    body, contact, n_removed, n_head = _strip_with(lines, site_model, domain_model, cfg)
    if _gutted(lines, body, cfg):
        copies = site_model.copies_of(line_keys, key, cfg.min_copy_shared) + domain_model.copies_of(
            line_keys, key, cfg.min_copy_shared
        )
        if copies:
            body, contact, n_removed, n_head = _strip_with(
                lines, site_model.without(copies), domain_model.without(copies), cfg
            )
    return body, contact, n_removed, n_head


def _page_identity(row: dict[str, Any], cfg: BoilerplateConfig) -> tuple[str, str, list[int]]:
    """(group, page_key, line fingerprints) of a text page."""
    lines = (row["raw_text"] or "").splitlines()
    return (
        _group_of(site_of(row["url"]), lines, cfg),
        sha256_hex(normalise_text(row["raw_text"] or "")),
        _page_line_hashes(lines, cfg),
    )


def _sample_rows(rows: list[dict[str, Any]], known: set[tuple[str, str]], cfg: BoilerplateConfig) -> list[dict]:
    """New `boilerplate_pages` rows of the text pages in `rows` (site group and, with a URL, domain group)."""
    out = []
    for row in rows:
        if row["raw_html"] and not row["raw_text"]:
            continue
        group, key, hashes = _page_identity(row, cfg)
        for g in {group, domain_of(group)} if site_of(row["url"]) else {group}:
            if (g, key) not in known:
                known.add((g, key))
                out.append({"site": g, "page_key": key, "line_hashes": hashes, "run_id": row["run_id"]})
    return out


def changed_groups(pages: pa.Table, samples: pa.Table, cfg: BoilerplateConfig) -> set[str]:
    """Template groups whose sample (the `max_sample_pages` smallest page keys) gains a page from `pages`: the
    groups whose already-published documents must be stripped again."""
    known = {(r["site"], r["page_key"]) for r in samples.select(["site", "page_key"]).to_pylist()}
    new = _sample_rows(pages.to_pylist(), set(known), cfg)
    keys_by_group: dict[str, list[str]] = {}
    for group, key in known:
        keys_by_group.setdefault(group, []).append(key)
    changed = set()
    for row in new:
        existing = sorted(keys_by_group.get(row["site"], []))
        if len(existing) < cfg.max_sample_pages or row["page_key"] < existing[cfg.max_sample_pages - 1]:
            changed.add(row["site"])
    return changed


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

    `published`: documents of the groups whose model changed tonight (see `changed_groups`). Those whose text
    comes out different under the new model are returned again (kept, counted in stats["restripped"]) so the
    rest of the run republishes them: results do not depend on how pages were spread over runs. Documents
    identified by their body (no URL, inside a multi-record dump) keep their text, since a new text would
    give them a new id.
    """
    rows = pages.to_pylist()
    known = {(r["site"], r["page_key"]) for r in samples.select(["site", "page_key"]).to_pylist()}
    new_samples = _sample_rows(rows, known, cfg)
    models = _build_models(samples.to_pylist() + new_samples, cfg)
    out, rejects = [], []
    for row in rows:
        if row["raw_html"] and not row["raw_text"]:
            text, title = _html_to_text(row["raw_html"], row["url"])
            body, contact = split_contact(text.splitlines())
            n_removed, n_head, title_hint, group = 0, None, row["raw_title"] or title, site_of(row["url"])
        else:
            group, key, hashes = _page_identity(row, cfg)
            lines = (row["raw_text"] or "").splitlines()
            body, contact, n_removed, n_head = _clean_page(lines, group, key, frozenset(hashes), models, cfg)
            title_hint = row["raw_title"]
        text = "\n".join(body).strip()
        if not text:
            rejects.append(
                quarantine_row(
                    row["source_uri"],
                    STAGE,
                    reasons.BOILERPLATE_EMPTY_BODY,
                    "no body text left after boilerplate removal",
                    row["run_id"],
                    row["record_id"],
                )
            )
            continue
        out.append(
            {
                **row,
                "site": group or None,
                "text": text,
                "contact_text": "\n".join(contact) or None,
                "n_boilerplate_lines": n_removed,
                "n_header_lines": n_head,
                "title_hint": title_hint,
            }
        )
    restripped = _restrip(published, rows, models, cfg, {r["source_uri"] for r in rows})
    kept = STG_CLEAN.conform(out + restripped)
    stats = {
        "boilerplate_lines": sum(r["n_boilerplate_lines"] for r in out),
        "contact_blocks": sum(1 for r in out if r["contact_text"]),
        "restripped": len(restripped),
    }
    return StageResult(
        kept,
        quarantine_table(rejects),
        stats,
        outputs={"boilerplate_pages": BOILERPLATE_PAGES.conform(new_samples)},
        n_in=pages.num_rows + len(restripped),
    )


def _restrip(
    published: pa.Table | None,
    rows: list[dict],
    models: dict[str, _GroupModel],
    cfg: BoilerplateConfig,
    tonight: set[str],
) -> list[dict[str, Any]]:
    if published is None or published.num_rows == 0 or not rows:
        return []
    run_id = rows[0]["run_id"]
    out = []
    for doc in published.to_pylist():
        if doc["source_uri"] in tonight or not doc["raw_text"] or (not doc["url"] and "#" in doc["source_uri"]):
            continue
        group, key, hashes = _page_identity(doc, cfg)
        lines = doc["raw_text"].splitlines()
        body, contact, n_removed, n_head = _clean_page(lines, group, key, frozenset(hashes), models, cfg)
        text = "\n".join(body).strip()
        if text and text != doc["text"]:
            out.append(_restrip_row(doc, run_id, body, contact, n_removed, n_head))
    return out


@task(name="strip-boilerplate", cache_policy=NO_CACHE)
def strip_boilerplate_task(pages: pa.Table, warehouse, cfg: BoilerplateConfig) -> StageResult:
    samples = read_current(warehouse, BOILERPLATE_PAGES)
    published = read_documents_of_groups(warehouse, changed_groups(pages, samples, cfg), cfg)
    return strip_boilerplate(pages, samples, cfg, published)


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


def read_documents_of_groups(warehouse, groups: set[str], cfg: BoilerplateConfig) -> pa.Table | None:
    """Published documents whose site (or registered domain) is one of `groups`, read with a filter."""
    if not groups:
        return None
    sites = read_current(warehouse, DOCUMENTS, ["site"]).column("site").unique().to_pylist()
    wanted = [s for s in sites if s and (s in groups or domain_of(s) in groups)]
    if not wanted:
        return None
    return read_current_where(warehouse, DOCUMENTS, RESTRIP_COLUMNS, "site", wanted)
