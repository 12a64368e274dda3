"""The learned template model: groups (site, registered domain, or leading-line fingerprint), the bounded
order-independent page sample per group, line counts, the template lines known across groups, and cleaning a
page under them."""

from __future__ import annotations

import bisect
import functools
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import pyarrow as pa

from schemas import BOILERPLATE_PAGES, reasons
from tasks._stage import content_hash, sha256_hex, url_site
from tasks.strip_boilerplate.config import BoilerplateConfig
from tasks.strip_boilerplate.copies import DocBody, PageGrams, documents, intern_body
from tasks.strip_boilerplate.lines import (
    is_trivial,
    keys_of,
    line_hash,
    line_keys,
    page_line_hashes,
    page_sketch,
    strip_lines,
)

# a pseudo-line's fingerprint (no text line normalises to it) that `clean_page` reads when it does not look for the
# page's copies: then no count below `_GroupModel.least_read` is told from zero, nor whose page carries such a line
NO_COPY_CHECK = line_hash("\x00no copy check")
# the same for the variant walk of each model a page is stripped with (`lines_in_doubt` left none for it): then
# nothing but its lines' counts was read of that model (neither which documents carry a line, nor a merged count)
NO_SITE_WALK = line_hash("\x00no variants looked for in the site's model")
NO_DOMAIN_WALK = line_hash("\x00no variants looked for in the domain's model")
WALK_MARKS = (NO_SITE_WALK, NO_DOMAIN_WALK)  # indexed by side: 0 the site's model, 1 the domain's
# stored by every cleaning that keeps its "seen twice" look-ups apart (`twice_key`): a document stored without it
# (an earlier docpipe's) is read as having asked it of every line it looked up
TWICE_KEYED = line_hash("\x00seen-twice look-ups kept apart")
# a walk that found fewer than two of the page's variants in that model (so merged none, having looked at no
# more than the threshold plus one of the documents carrying each of its lines in doubt, stored as `doubt_key`)
NO_SITE_MERGE = line_hash("\x00no variants merged in the site's model")
NO_DOMAIN_MERGE = line_hash("\x00no variants merged in the domain's model")
MERGE_MARKS = (NO_SITE_MERGE, NO_DOMAIN_MERGE)  # indexed by side: 0 the site's model, 1 the domain's
# a copy check that found no copies (so read of the lines counted above 2 nothing but their counts)
NO_COPIES = line_hash("\x00no copies found")
MARKS = frozenset({NO_COPY_CHECK, NO_SITE_WALK, NO_DOMAIN_WALK, TWICE_KEYED, NO_SITE_MERGE, NO_DOMAIN_MERGE, NO_COPIES})
_TWICE = line_hash("\x00seen twice")
_DOUBT = {False: line_hash("\x00in doubt in the site's model"), True: line_hash("\x00in doubt in the domain's model")}


def twice_key(h: int) -> int:
    """What a page stores when its cleaning asked whether line `h` is on two sampled documents (a navigation
    block's evidence, `nav_shape.line_evidence`): `h` with a constant folded in, so that a line whose count only
    crosses 2 reaches the pages that asked, not every page that looked up its count (changed.py)."""
    return h ^ _TWICE


def doubt_key(h: int, domain: bool) -> int:
    """What a page stores for a line it looked for its variants on in its site's (its domain's) model: which
    documents carry the line, in key order, was read (`_GroupModel.variants`)."""
    return h ^ _DOUBT[domain]


_SECOND_LEVEL = {"co", "com", "org", "gov", "ac", "edu", "net", "or", "go"}


def domain_of(site: str) -> str:
    """Template group of the registered domain: `domain:iom.int` for mongolia.iom.int and iom.int alike."""
    parts = site.split(".")
    keep = 3 if len(parts) >= 3 and parts[-2] in _SECOND_LEVEL and len(parts[-1]) == 2 else 2
    return "domain:" + ".".join(parts[-keep:])


def is_domain_group(group: str) -> bool:
    """Whether a template group is a registered domain's (`domain_of`): its model is read as a page's domain's."""
    return group.startswith("domain:")


def _group_of(site: str | None, lines: list[str], cfg: BoilerplateConfig) -> str:
    """The site; for a page without URL, a fingerprint of its first lines, long ones by their first words (menu
    teasers vary at the end), so pages carrying one template share a group even when a title or date follows
    it closely."""
    if site:
        return site
    text_lines = (x for x in lines[: cfg.max_head_lines] if not is_trivial(x))
    lead = [line_keys(x, cfg)[-1] for x in islice(text_lines, cfg.lead_fingerprint_lines)]
    return "lead:" + sha256_hex(" ".join(map(str, lead)))[:16]


@dataclass(slots=True)
class _GroupModel:
    """Line counts of a group's sampled documents (copies of one page are one document, keyed by its first page)."""

    counts: Counter[int]
    n_pages: int
    pages: dict[str, frozenset[int]]  # document -> its line fingerprints
    members: dict[str, frozenset[str]] = field(default_factory=dict)  # document -> page_keys of its pages
    bodies: dict[str, DocBody] = field(default_factory=dict)  # document -> its lines and its pages' sketches
    carrying: dict[int, list[str]] = field(default_factory=dict)  # line fingerprint -> documents, in key order
    derived: bool = False  # made by `without`/`merged`: counts and lines only (no members, bodies or carriers)

    def need(self, min_pages: int, min_share: float) -> int:
        """Documents a line must be on to be frequent (a group of fewer than `min_pages` learns nothing)."""
        return max(min_pages, math.ceil(min_share * self.n_pages)) if self.n_pages >= min_pages else 1 << 30

    def strip_need(self, cfg: BoilerplateConfig, domain: bool) -> int:
        """The threshold a page is stripped with under this model: as its site's, or as its registered domain's."""
        if domain:
            return self.need(cfg.min_domain_pages, cfg.min_domain_share)
        return self.need(cfg.min_site_pages, cfg.min_site_share)

    def needs(self, cfg: BoilerplateConfig) -> tuple[int, int, int]:
        """The thresholds stripping reads of the model: as a site, as a registered domain, for known lines."""
        return (
            self.strip_need(cfg, False),
            self.strip_need(cfg, True),
            self.need(cfg.min_known_pages, cfg.min_site_share),
        )

    def least_read(self, cfg: BoilerplateConfig) -> int:
        """The lowest count cleaning tells from zero outside the copy check: its thresholds, and "seen twice".
        Lines counted less are only ever read by the copy check (`copies_of`: which pages carry them)."""
        return min(2, *self.needs(cfg))

    def max_variants(self, cfg: BoilerplateConfig) -> int:
        """The most documents merged as one page's variants (`_without_variants`): one more than the highest
        threshold. A body carried by more sampled documents is the group's template, not one story's copies."""
        return max(self.needs(cfg)) + 1

    def many(self, cfg: BoilerplateConfig, domain: bool) -> int:
        """The count from which a line is frequent in this model as stripping reads it (a site's threshold, or a
        registered domain's), whatever the page: merging a page's variants (at most `max_variants`) or leaving
        out its copies (at most 2 / `min_copy_shared`: each line they share is on at most two documents) lowers
        a count by less than the difference."""
        return self.strip_need(cfg, domain) + max(self.max_variants(cfg) - 1, math.floor(2 / cfg.min_copy_shared))

    def count_class(self, h: int, cfg: BoilerplateConfig, domain: bool) -> tuple[bool, ...]:
        """Which of the counts a look-up compares a line's with it reaches ("seen twice", the threshold the model
        is read with, `many`): a page that reads only the line's count (no copy check, no variant walk in this
        model) reads the same answers for it under two models where the class is the same."""
        count = self.counts.get(h, 0)
        return count >= 2, count >= self.strip_need(cfg, domain), count >= self.many(cfg, domain)

    def in_doubt(self, lines: set[int], cfg: BoilerplateConfig, domain: bool) -> set[int]:
        """Of `lines`, those frequent in this model (as stripping reads it) but counted less than `many`: the only
        ones a merge of the page's variants can make infrequent, so the only ones its variants are looked for on."""
        need, many, count = self.strip_need(cfg, domain), self.many(cfg, domain), self.counts.get
        return {h for h in lines if need <= count(h, 0) < many}

    def frequent(self, h: int, min_pages: int, min_share: float) -> bool:
        return self.counts.get(h, 0) >= self.need(min_pages, min_share)

    def copies_of(self, lines: frozenset[int], own_key: str, min_shared: float) -> list[str]:
        """Sampled pages sharing at least `min_shared` of `lines` through lines found on no third page: other
        copies of the same story (same page at two hosts), not pages sharing a template. The rare lines' carriers
        are looked up (`carrying`, of a model `_group_model` built: a line counted 2 or less is on at most two of
        its documents), not every document's lines (a re-strip of 6,518 documents at 1M pages: 5.6 s of 41)."""
        self._built("copies_of")
        need = min_shared * len(lines)
        if need <= 0:  # no lines: every other document shares enough
            return [key for key in self.pages if key != own_key]
        rare = Counter(key for h in lines if self.counts[h] <= 2 for key in self.carrying.get(h, ()))
        return [key for key in self.pages if key != own_key and rare[key] >= need] if rare else []

    def without(self, keys: list[str]) -> _GroupModel:
        counts = Counter(self.counts)
        for key in keys:
            counts.subtract(self.pages.get(key, ()))
        pages = {k: v for k, v in self.pages.items() if k not in keys}
        return _GroupModel(counts, len(pages), pages, derived=True)

    def _built(self, asked: str) -> None:
        """Refuse a look-up of carriers on a derived model: it has none, and would find nothing, silently."""
        if self.derived:
            raise ValueError(f"{asked} reads the carriers of a model _group_model built, not of a derived one")

    def merged(self, keys: list[str]) -> _GroupModel:
        """The model with the documents `keys` counted as one (variants of one body)."""
        union = frozenset().union(*(self.pages[k] for k in keys))
        model = self.without(keys)
        model.counts.update(union)
        model.pages[min(keys)] = union
        model.n_pages += 1
        return model

    def variants(
        self, carries: Callable[[DocBody], bool], own_key: str, lines: set[int], cfg: BoilerplateConfig, domain: bool
    ) -> list[str] | None:
        """The documents carrying the page's body (`carries`: `PageGrams.body_containment` at least
        `min_variant_containment`; its own document too) among those carrying `lines` (`in_doubt`: each counted
        at least the threshold the model is read with, `strip_need`): enough to tell, line by line, whether the
        line stays on that many documents once the page's variants count as one. Documents are looked at in key
        order and a line's search stops at that many other documents, so the cost follows the threshold, not the
        group's size (and the documents looked at do not depend on the lines' order). Empty when more than
        `max_variants` of the documents looked at carry the body (then it is the group's template, not one
        story's copies), None when they are fewer than two (the page's own document at most: then no more than
        `strip_need` + 1 documents carrying each line were looked at, which changed.py relies on)."""
        self._built("variants")
        need, most = self.strip_need(cfg, domain), self.max_variants(cfg)
        verdict: dict[str, bool] = {}
        found_variants = 0
        for h in lines:
            others = 0
            for key in self.carrying.get(h, ()):
                found = verdict.get(key)
                if found is None:
                    found = verdict[key] = own_key in self.members[key] or carries(self.bodies[key])
                    found_variants += found
                    if found_variants > most:
                        return []
                if not found:
                    others += 1
                    if others >= need:
                        break
        found = sorted(k for k, v in verdict.items() if v)
        return found if len(found) >= 2 else None


@dataclass(frozen=True, slots=True)
class TemplateModels:
    """The models of every group, and the template lines known across groups: a line frequent on at least
    `min_known_pages` distinct pages of some group is template on any page (inside its leading/trailing run),
    so a lone page, a page of a new host or one without URL loses a template learned elsewhere."""

    groups: dict[str, _GroupModel]
    known: frozenset[int]
    known_in: dict[int, frozenset[str]] = field(default_factory=dict)  # known line -> the groups it is known in

    def of(self, group: str) -> tuple[_GroupModel, _GroupModel]:
        """The models a page of `group` is stripped with: its group's and its registered domain's (empty ones when
        there are none; a group of pages without URL has no domain)."""
        empty = _GroupModel(Counter(), 0, {})
        domain = self.groups.get(domain_of(group), empty) if not group.startswith("lead:") else empty
        return self.groups.get(group, empty), domain

    def known_elsewhere(self, h: int, own: tuple[str, ...]) -> bool:
        """Known from a group other than `own` (a line known in the page's own groups is frequent there)."""
        return h in self.known and not self.known_in.get(h, frozenset()).issubset(own)


def _known_lines(models: dict[str, _GroupModel], cfg: BoilerplateConfig) -> dict[int, frozenset[str]]:
    known: dict[int, set[str]] = {}
    for group, model in models.items():
        for h, n in model.counts.items():
            if n >= cfg.min_known_pages and model.frequent(h, cfg.min_known_pages, cfg.min_site_share):
                known.setdefault(h, set()).add(group)
    return {h: frozenset(groups) for h, groups in known.items()}


def _group_model(rows: list[dict[str, Any]], cfg: BoilerplateConfig, seen: dict[Any, DocBody]) -> _GroupModel:
    """Line counts over the documents of the sampled `rows` (each line counted once per document); `seen`: the
    documents of the groups built before (`intern_body`)."""
    model = _GroupModel(Counter(), 0, {})
    for doc in documents(rows, cfg):
        key = doc[0]["page_key"]
        lines = frozenset(h for row in doc for h in row["line_hashes"])
        model.pages[key] = lines
        model.members[key] = frozenset(row["page_key"] for row in doc)
        sketches = [row["body_sketch"] for row in doc if row.get("body_sketch") is not None]
        model.bodies[key] = intern_body(lines, sketches, cfg.sketch_size, seen)
        model.counts.update(lines)
        for h in lines:
            model.carrying.setdefault(h, []).append(key)
    model.n_pages = len(model.pages)
    return model


def _build_models(samples: Iterable[dict[str, Any]], cfg: BoilerplateConfig) -> TemplateModels:
    """Per group: line counts over the documents of the `max_sample_pages` sampled pages with the smallest
    page_key (copies of one document being one); and the lines known as template across groups."""
    by_group: dict[str, dict[str, dict[str, Any]]] = {}
    for row in samples:
        by_group.setdefault(row["site"], {})[row["page_key"]] = row
    seen: dict[Any, DocBody] = {}
    models = {
        group: _group_model([pages[key] for key in sorted(pages)[: cfg.max_sample_pages]], cfg, seen)
        for group, pages in by_group.items()
    }
    known_in = _known_lines(models, cfg)
    return TemplateModels(models, frozenset(known_in), known_in)


def _strip_with(
    lines: list[str],
    site: _GroupModel,
    domain: _GroupModel,
    is_known: Callable[[int], bool],
    cfg: BoilerplateConfig,
    read: set[int] | None = None,
) -> tuple[list[str], list[str], int, int, Counter[str]]:
    """`strip_lines` under the two models; every fingerprint it looks up goes into `read`."""
    site_need, site_count = site.strip_need(cfg, False), site.counts.get
    domain_need, domain_count = domain.strip_need(cfg, True), domain.counts.get
    note = (set() if read is None else read).add

    def reason_of(h: int) -> str | None:  # frequent in the site's or the domain's model, or known
        note(h)
        if site_count(h, 0) >= site_need or domain_count(h, 0) >= domain_need:
            return reasons.BOILERPLATE_REPEATED
        return reasons.BOILERPLATE_KNOWN_TEMPLATE if is_known(h) else None

    def seen_twice(h: int) -> bool:
        note(twice_key(h))
        return site_count(h, 0) >= 2 or domain_count(h, 0) >= 2

    return strip_lines(lines, reason_of, seen_twice, cfg)


def _gutted(lines: list[str], body: list[str], cfg: BoilerplateConfig) -> bool:
    """True when stripping left (almost) nothing of the page: worth checking whether copies of the page itself,
    rather than a template, made its lines frequent."""
    total = sum(1 for x in lines if not is_trivial(x))
    kept = sum(1 for x in body if not is_trivial(x))
    return kept <= cfg.max_gutted_share * total


def _removed_keys(lines: list[str], cleaned: tuple[list[str], list[str], int, int, Counter[str]], cfg) -> set[int]:
    """Fingerprints of the lines a strip removed (its leading run, and the trailing run above the contact block)."""
    _, contact, n_removed, n_head, _ = cleaned
    end = len(lines) - len(contact)
    removed = lines[:n_head] + lines[end - (n_removed - n_head) : end]
    return {k for x in removed if not is_trivial(x) for k in keys_of(x, cfg.prefix_words)}


def lines_in_doubt(
    removed: set[int], site: _GroupModel, domain: _GroupModel, cfg: BoilerplateConfig
) -> tuple[set[int], set[int]]:
    """The removed lines a merge of the page's variants in its site's model, and in its domain's, could make
    infrequent (`in_doubt`), but for those counted `many` in the other model: stripping reads a line as frequent
    when either model has it so, so those stay frequent whatever either merge (a subsite's menu line counted on
    every page of the site and on a few percent of its domain's)."""
    site_many, domain_many = site.many(cfg, False), domain.many(cfg, True)
    site_doubt = {h for h in site.in_doubt(removed, cfg, False) if domain.counts.get(h, 0) < domain_many}
    domain_doubt = {h for h in domain.in_doubt(removed, cfg, True) if site.counts.get(h, 0) < site_many}
    return site_doubt, domain_doubt


def _without_variants(
    lines: list[str],
    group: str,
    site: _GroupModel,
    domain: _GroupModel,
    models: TemplateModels,
    cfg,
    doubt: tuple[set[int], set[int]],
    read: set[int],
):
    """The page stripped again with its variants (documents carrying its body) counted as one document in its
    site's and domain's models, or None when that changes no count: lines shared only by variants of one body
    are no template evidence. Variants are looked for only on the removed lines in doubt (`lines_in_doubt`): a
    line counted `many` or more stays frequent whatever they are, and most pages remove no other (~2/3 of the
    pages of a generated night; ~0.4 ms a page then instead of ~1.1, measured). `read` gets the lines looked
    for variants on (`doubt_key`) and the mark of each model walked that found fewer than two (`NO_SITE_MERGE`,
    `NO_DOMAIN_MERGE`)."""
    site_doubt, domain_doubt = doubt
    if not site_doubt and not domain_doubt:
        return None
    grams = functools.cache(lambda: PageGrams.of(lines, cfg))
    carries = functools.cache(lambda body: grams().body_containment(body) >= cfg.min_variant_containment)
    key = content_hash("\n".join(lines))
    site_variants = site.variants(carries, key, site_doubt, cfg, False) if site_doubt else None
    domain_variants = domain.variants(carries, key, domain_doubt, cfg, True) if domain_doubt else None
    for domain_side, in_doubt, found in ((False, site_doubt, site_variants), (True, domain_doubt, domain_variants)):
        read.update(doubt_key(h, domain_side) for h in in_doubt)
        if in_doubt and found is None:
            read.add(MERGE_MARKS[domain_side])
    if not site_variants and not domain_variants:  # fewer than two, or the group's template: nothing merged
        return None
    site = site.merged(site_variants) if site_variants else site
    domain = domain.merged(domain_variants) if domain_variants else domain
    own = (group, domain_of(group))
    return _strip_with(lines, site, domain, lambda h: models.known_elsewhere(h, own), cfg, read)


def clean_page(
    lines: list[str], group: str, models: TemplateModels, cfg: BoilerplateConfig, read: set[int] | None = None
) -> tuple[list[str], list[str], int, int, Counter[str]]:
    """(body, contact block, lines removed, header lines, removed lines by reason code) of one text page under
    the learned models; lines made frequent by variants of the page's own body are not template.

    `read` receives every fingerprint whose evidence the cleaning looked at (its count, its carriers, whether it
    is known): the page's `line_keys`. Cleaning is a function of those look-ups (and of its groups' document
    counts), so under another model whose answers for them are the same it strips the page the same way
    (changed.py: which published documents are stripped again). A page not checked for copies also gets
    `NO_COPY_CHECK`: of its lines counted below `least_read`, nothing but the count being below was read; and one
    that looked for no variants in its site's (domain's) model gets `NO_SITE_WALK` (`NO_DOMAIN_WALK`): of that
    model, nothing but its lines' counts was read. Whether a line is on two sampled documents is read as the line's
    `twice_key` (with `TWICE_KEYED`, which every cleaning stores); which documents carry a line the page looked for
    its variants on as its `doubt_key`, with `NO_SITE_MERGE` (`NO_DOMAIN_MERGE`) when that walk found fewer than
    two; a copy check that found no copies stores `NO_COPIES`."""
    read = set() if read is None else read
    read.add(TWICE_KEYED)
    site_model, domain_model = models.of(group)
    cleaned = _strip_with(lines, site_model, domain_model, models.known.__contains__, cfg, read)
    doubt: tuple[set[int], set[int]] = (set(), set())
    if cleaned[4].get(reasons.BOILERPLATE_REPEATED):
        removed = _removed_keys(lines, cleaned, cfg)
        read |= removed  # their counts decide whether variants are looked for, and on whose carriers
        doubt = lines_in_doubt(removed, site_model, domain_model, cfg)
        cleaned = _without_variants(lines, group, site_model, domain_model, models, cfg, doubt, read) or cleaned
    read.update(mark for mark, walked in zip(WALK_MARKS, doubt, strict=True) if not walked)
    if _gutted(lines, cleaned[0], cfg):
        key, line_keys = content_hash("\n".join(lines)), frozenset(page_line_hashes(lines, cfg))
        read |= line_keys  # a copy shares them with the page (their counts and carriers)
        copies = site_model.copies_of(line_keys, key, cfg.min_copy_shared) + domain_model.copies_of(
            line_keys, key, cfg.min_copy_shared
        )
        if copies:
            known = models.known.__contains__
            cleaned = _strip_with(lines, site_model.without(copies), domain_model.without(copies), known, cfg, read)
        else:
            read.add(NO_COPIES)
    else:
        read.add(NO_COPY_CHECK)
    return cleaned


def page_group(url: str | None, lines: list[str], cfg: BoilerplateConfig) -> str:
    """Template group of a text page (site, else leading-line fingerprint)."""
    return _group_of(url_site(url), lines, cfg)


class PageSample:
    """The bottom-k sample of every template group: the `max_sample_pages` pages with the smallest page_key,
    seeded with the stored sample and fed tonight's pages chunk by chunk. Memory is k pages per group, not the
    night's pages; line fingerprints are computed only for pages that enter a sample."""

    def __init__(self, stored: pa.Table, cfg: BoilerplateConfig):
        self.cfg = cfg
        self.keys: dict[str, list[str]] = {}  # group -> its sample's page keys, sorted
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}  # (group, key) -> boilerplate_pages row
        self.stored: set[tuple[str, str]] = set(self.merge(stored))

    def merge(self, rows: pa.Table) -> list[tuple[str, str]]:
        """Offer ready `boilerplate_pages` rows (the stored sample, or a shard's sample) in their order; returns
        the (group, key) of those admitted. The bottom-k of a union is the bottom-k of its parts' bottom-k, and a
        key keeps the first row offered for it, so merging the shards' samples in shard order gives the sample
        one pass over the night would."""
        admitted = []
        for row in rows.to_pylist():
            if self._admit(row["site"], row["page_key"]):
                self.rows[(row["site"], row["page_key"])] = row
                admitted.append((row["site"], row["page_key"]))
        return admitted

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

    def add(self, pages: pa.Table, first_row: int | None = None) -> None:
        """Offer every text page of `pages` to its site's (and registered domain's) sample. With `first_row` (the
        position of the first of `pages` in its file), an admitted row carries its page's position (`row`)
        instead of its fingerprints, which `fill` adds once the night's sample is known: of a night's pages, only
        those in that sample are fingerprinted."""
        cols = pages.select(["url", "raw_text", "raw_html", "run_id"]).to_pylist()
        for i, row in enumerate(cols):
            if row["raw_html"] and not row["raw_text"]:
                continue
            lines = (row["raw_text"] or "").splitlines()
            group, key = page_group(row["url"], lines, self.cfg), content_hash("\n".join(lines))
            found: dict[str, Any] | None = None
            for g in (group, domain_of(group)) if url_site(row["url"]) else (group,):
                if self._admit(g, key):
                    found = found or (fingerprints(lines, self.cfg) if first_row is None else {"row": first_row + i})
                    self.rows[(g, key)] = {"site": g, "page_key": key, **found, "run_id": row["run_id"]}

    def unfilled(self) -> list[dict[str, Any]]:
        """Rows admitted by position (`add` with `first_row`, or `merge` of such rows) still without fingerprints."""
        return [row for row in self.rows.values() if "row" in row]

    def fill(self, found: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Give every unfilled row its page's fingerprints: `found(row)`, from the row's position fields, which
        are dropped."""
        for row in self.unfilled():
            place = {name: row.pop(name) for name in [n for n in row if n not in _SAMPLE_FIELDS]}
            row.update(found(place))

    def new_rows(self) -> list[dict[str, Any]]:
        """`boilerplate_pages` rows that entered a sample tonight and are still in it."""
        return [row for gk, row in self.rows.items() if gk not in self.stored]

    def changed_groups(self) -> set[str]:
        """Groups whose sample changed tonight: their published documents must be stripped again."""
        return {row["site"] for row in self.new_rows()}

    def all_rows(self) -> pa.Table:
        """The whole sample (stored rows still in it and tonight's) as a `boilerplate_pages` table: what the
        night's models are built from (`sample_models`)."""
        return BOILERPLATE_PAGES.conform(list(self.rows.values()))

    def models(self) -> TemplateModels:
        return _build_models(self.rows.values(), self.cfg)


_SAMPLE_FIELDS = ("site", "page_key", "run_id")  # what a row admitted by position holds besides its position


def fingerprints(lines: list[str], cfg: BoilerplateConfig) -> dict[str, list[int]]:
    """What the sample keeps of a page besides its group and key: its line fingerprints and its body sketch."""
    return {"line_hashes": page_line_hashes(lines, cfg), "body_sketch": page_sketch(lines, cfg)}


def sample_models(sample: pa.Table, cfg: BoilerplateConfig) -> TemplateModels:
    """The template models of a sample table (`PageSample.all_rows`), as `PageSample.models` builds them."""
    return _build_models(sample.to_pylist(), cfg)
