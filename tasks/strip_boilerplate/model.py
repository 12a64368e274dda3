"""The learned template model: groups (site, registered domain, or leading-line fingerprint), the bounded
order-independent page sample per group, line counts, and cleaning a page under them."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa

from tasks._stage import normalise_text, sha256_hex
from tasks.strip_boilerplate.config import BoilerplateConfig
from tasks.strip_boilerplate.lines import _is_trivial, _page_line_hashes, _strip_lines

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
    if site:
        return site
    lead = [normalise_text(x) for x in lines if not _is_trivial(x)][: cfg.lead_fingerprint_lines]
    return "lead:" + sha256_hex("\n".join(lead))[:16]


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


def _clean_page(
    lines: list[str], group: str, models: dict[str, _GroupModel], cfg: BoilerplateConfig
) -> tuple[list[str], list[str], int, int]:
    """(body, contact block, lines removed, header lines) of one text page under the learned models."""
    empty = _GroupModel(Counter(), 0, {})
    site_model = models.get(group, empty)
    domain_model = models.get(domain_of(group), empty) if not group.startswith("lead:") else empty
    body, contact, n_removed, n_head = _strip_with(lines, site_model, domain_model, cfg)
    if _gutted(lines, body, cfg):
        key, line_keys = _page_key(lines), frozenset(_page_line_hashes(lines, cfg))
        copies = site_model.copies_of(line_keys, key, cfg.min_copy_shared) + domain_model.copies_of(
            line_keys, key, cfg.min_copy_shared
        )
        if copies:
            body, contact, n_removed, n_head = _strip_with(
                lines, site_model.without(copies), domain_model.without(copies), cfg
            )
    return body, contact, n_removed, n_head


def _page_key(lines: list[str]) -> str:
    """Content hash of a page's text: its sample key (orders the bottom-k sample)."""
    return sha256_hex(normalise_text("\n".join(lines)))


def _page_identity(row: dict[str, Any], cfg: BoilerplateConfig) -> tuple[str, str, list[int]]:
    """(group, page_key, line fingerprints) of a text page."""
    lines = (row["raw_text"] or "").splitlines()
    return _group_of(site_of(row["url"]), lines, cfg), _page_key(lines), _page_line_hashes(lines, cfg)


def page_group(row: dict[str, Any], cfg: BoilerplateConfig) -> str:
    """Template group of a text page (site, else leading-line fingerprint)."""
    return _group_of(site_of(row["url"]), (row["raw_text"] or "").splitlines(), cfg)


def new_sample_rows(pages: pa.Table, samples: pa.Table, cfg: BoilerplateConfig) -> list[dict[str, Any]]:
    """`boilerplate_pages` rows of the text pages in `pages` that `samples` lacks (site group and, with a URL,
    domain group)."""
    known = {(r["site"], r["page_key"]) for r in samples.select(["site", "page_key"]).to_pylist()}
    out = []
    for row in pages.to_pylist():
        if row["raw_html"] and not row["raw_text"]:
            continue
        group, key, hashes = _page_identity(row, cfg)
        for g in {group, domain_of(group)} if site_of(row["url"]) else {group}:
            if (g, key) not in known:
                known.add((g, key))
                out.append({"site": g, "page_key": key, "line_hashes": hashes, "run_id": row["run_id"]})
    return out


def changed_groups(new_rows: list[dict[str, Any]], samples: pa.Table, cfg: BoilerplateConfig) -> set[str]:
    """Template groups whose sample (the `max_sample_pages` smallest page keys) gains one of `new_rows`: the
    groups whose already-published documents must be stripped again."""
    keys_by_group: dict[str, list[str]] = {}
    for row in samples.select(["site", "page_key"]).to_pylist():
        keys_by_group.setdefault(row["site"], []).append(row["page_key"])
    cutoff = {
        g: sorted(keys)[cfg.max_sample_pages - 1]
        for g, keys in keys_by_group.items()
        if len(keys) >= cfg.max_sample_pages
    }
    return {r["site"] for r in new_rows if r["site"] not in cutoff or r["page_key"] < cutoff[r["site"]]}
