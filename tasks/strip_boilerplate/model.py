"""The learned template model: groups (site, registered domain, or leading-line fingerprint), the bounded
order-independent page sample per group, line counts, the template lines known across groups, and cleaning a
page under them."""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa

from schemas import reasons
from tasks._stage import normalise_text, sha256_hex
from tasks.strip_boilerplate.config import BoilerplateConfig
from tasks.strip_boilerplate.lines import (
    _is_trivial,
    _line_keys,
    _page_line_hashes,
    _strip_lines,
    page_sketch,
    sketch_similarity,
)

_SECOND_LEVEL = {"co", "com", "org", "gov", "ac", "edu", "net", "or", "go"}


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


def _group_of(site: str | None, lines: list[str], cfg: BoilerplateConfig) -> str:
    """The site; for a page without URL, a fingerprint of its first lines, long ones by their first words (menu
    teasers vary at the end), so pages carrying one template share a group even when a title or date follows
    it closely."""
    if site:
        return site
    text_lines = (x for x in lines[: cfg.max_head_lines] if not _is_trivial(x))
    lead = [_line_keys(x, cfg)[-1] for x in islice(text_lines, cfg.lead_fingerprint_lines)]
    return "lead:" + sha256_hex(" ".join(map(str, lead)))[:16]


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


def _copies(a: dict[str, Any], b: dict[str, Any], cfg: BoilerplateConfig) -> bool:
    """Two sampled pages are copies of one document (mirrored, re-wrapped, a few words edited) when their word
    3-gram sketches agree on at least `min_copy_similarity`; rows stored without a sketch fall back to their
    line sets (Jaccard above `max_copy_jaccard`)."""
    if a.get("body_sketch") is not None and b.get("body_sketch") is not None:
        return sketch_similarity(a["body_sketch"], b["body_sketch"], cfg.sketch_size) >= cfg.min_copy_similarity
    lines_a, lines_b = set(a["line_hashes"]), set(b["line_hashes"])
    return len(lines_a & lines_b) > cfg.max_copy_jaccard * len(lines_a | lines_b)


def _documents(rows: list[dict[str, Any]], cfg: BoilerplateConfig) -> list[list[dict[str, Any]]]:
    """The sampled pages (in page_key order) grouped into documents: a page joins the first document whose first
    page it copies, else starts one. A line shared only by copies of one document is no evidence that it is
    template, so line counts go by document. Comparing with the first page only (no chains of copies) keeps
    pages that merely share a large template apart."""
    docs: list[list[dict[str, Any]]] = []
    for row in rows:
        doc = next((d for d in docs if _copies(d[0], row, cfg)), None)
        if doc is None:
            docs.append([row])
        else:
            doc.append(row)
    return docs


@dataclass(frozen=True, slots=True)
class TemplateModels:
    """The models of every group, and the template lines known across groups: a line frequent on at least
    `min_known_pages` distinct pages of some group is template on any page (inside its leading/trailing run),
    so a lone page, a page of a new host or one without URL loses a template learned elsewhere."""

    groups: dict[str, _GroupModel]
    known: frozenset[int]


def _known_lines(models: dict[str, _GroupModel], cfg: BoilerplateConfig) -> frozenset[int]:
    return frozenset(
        h
        for model in models.values()
        for h, n in model.counts.items()
        if n >= cfg.min_known_pages and model.frequent(h, cfg.min_known_pages, cfg.min_site_share)
    )


def _build_models(samples: Iterable[dict[str, Any]], cfg: BoilerplateConfig) -> TemplateModels:
    """Per group: line counts over the documents of the `max_sample_pages` sampled pages with the smallest
    page_key (each line counted once per document, copies of one document being one); and the lines known as
    template across groups."""
    by_group: dict[str, dict[str, dict[str, Any]]] = {}
    for row in samples:
        by_group.setdefault(row["site"], {})[row["page_key"]] = row
    models = {}
    for group, pages in by_group.items():
        chosen = [pages[key] for key in sorted(pages)[: cfg.max_sample_pages]]
        documents = {
            doc[0]["page_key"]: frozenset(h for row in doc for h in row["line_hashes"])
            for doc in _documents(chosen, cfg)
        }
        counts: Counter[int] = Counter()
        for lines in documents.values():
            counts.update(lines)
        models[group] = _GroupModel(counts, len(documents), documents)
    return TemplateModels(models, _known_lines(models, cfg))


def _strip_with(
    lines: list[str], site: _GroupModel, domain: _GroupModel, known: frozenset[int], cfg: BoilerplateConfig
) -> tuple[list[str], list[str], int, int, Counter[str]]:
    def reason_of(h: int) -> str | None:
        if site.frequent(h, cfg.min_site_pages, cfg.min_site_share) or domain.frequent(
            h, cfg.min_domain_pages, cfg.min_domain_share
        ):
            return reasons.BOILERPLATE_REPEATED
        return reasons.BOILERPLATE_KNOWN_TEMPLATE if h in known else None

    def seen_twice(h: int) -> bool:
        return site.counts.get(h, 0) >= 2 or domain.counts.get(h, 0) >= 2

    return _strip_lines(lines, reason_of, seen_twice, cfg)


def _gutted(lines: list[str], body: list[str], cfg: BoilerplateConfig) -> bool:
    """True when stripping left (almost) nothing of the page: worth checking whether copies of the page itself,
    rather than a template, made its lines frequent."""
    total = sum(1 for x in lines if not _is_trivial(x))
    kept = sum(1 for x in body if not _is_trivial(x))
    return kept <= cfg.max_gutted_share * total


def clean_page(
    lines: list[str], group: str, models: TemplateModels, cfg: BoilerplateConfig
) -> tuple[list[str], list[str], int, int, Counter[str]]:
    """(body, contact block, lines removed, header lines, removed lines by reason code) of one text page under
    the learned models."""
    empty = _GroupModel(Counter(), 0, {})
    site_model = models.groups.get(group, empty)
    domain_model = models.groups.get(domain_of(group), empty) if not group.startswith("lead:") else empty
    cleaned = _strip_with(lines, site_model, domain_model, models.known, cfg)
    if _gutted(lines, cleaned[0], cfg):
        key, line_keys = _page_key(lines), frozenset(_page_line_hashes(lines, cfg))
        copies = site_model.copies_of(line_keys, key, cfg.min_copy_shared) + domain_model.copies_of(
            line_keys, key, cfg.min_copy_shared
        )
        if copies:
            cleaned = _strip_with(lines, site_model.without(copies), domain_model.without(copies), models.known, cfg)
    return cleaned


def _page_key(lines: list[str]) -> str:
    """Content hash of a page's text: its sample key (orders the bottom-k sample)."""
    return sha256_hex(normalise_text("\n".join(lines)))


def page_group(url: str | None, lines: list[str], cfg: BoilerplateConfig) -> str:
    """Template group of a text page (site, else leading-line fingerprint)."""
    return _group_of(site_of(url), lines, cfg)


class PageSample:
    """The bottom-k sample of every template group: the `max_sample_pages` pages with the smallest page_key,
    seeded with the stored sample and fed tonight's pages chunk by chunk. Memory is k pages per group, not the
    night's pages; line fingerprints are computed only for pages that enter a sample."""

    def __init__(self, stored: pa.Table, cfg: BoilerplateConfig):
        self.cfg = cfg
        self.keys: dict[str, list[str]] = {}  # group -> its sample's page keys, sorted
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}  # (group, key) -> boilerplate_pages row
        self.stored: set[tuple[str, str]] = set()
        for row in stored.to_pylist():
            if self._admit(row["site"], row["page_key"]):
                self.rows[(row["site"], row["page_key"])] = row
                self.stored.add((row["site"], row["page_key"]))

    def _admit(self, group: str, key: str) -> bool:
        """Put `key` in the group's sample when it belongs there (evicting the largest); False otherwise."""
        keys = self.keys.setdefault(group, [])
        k = self.cfg.max_sample_pages
        if (group, key) in self.rows or (len(keys) >= k and key >= keys[-1]):
            return False
        bisect.insort(keys, key)
        if len(keys) > k:
            self.rows.pop((group, keys.pop()), None)
        return True

    def add(self, pages: pa.Table) -> None:
        """Offer every text page of `pages` to its site's (and registered domain's) sample."""
        cols = pages.select(["url", "raw_text", "raw_html", "run_id"]).to_pylist()
        for row in cols:
            if row["raw_html"] and not row["raw_text"]:
                continue
            lines = (row["raw_text"] or "").splitlines()
            group, key = page_group(row["url"], lines, self.cfg), _page_key(lines)
            hashes = None
            for g in (group, domain_of(group)) if site_of(row["url"]) else (group,):
                if self._admit(g, key):
                    hashes = hashes or (_page_line_hashes(lines, self.cfg), page_sketch(lines, self.cfg))
                    self.rows[(g, key)] = {
                        "site": g,
                        "page_key": key,
                        "line_hashes": hashes[0],
                        "body_sketch": hashes[1],
                        "run_id": row["run_id"],
                    }

    def new_rows(self) -> list[dict[str, Any]]:
        """`boilerplate_pages` rows that entered a sample tonight and are still in it."""
        return [row for gk, row in self.rows.items() if gk not in self.stored]

    def changed_groups(self) -> set[str]:
        """Groups whose sample changed tonight: their published documents must be stripped again."""
        return {row["site"] for row in self.new_rows()}

    def models(self) -> TemplateModels:
        return _build_models(self.rows.values(), self.cfg)
