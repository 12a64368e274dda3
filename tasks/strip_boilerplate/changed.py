"""Which published documents are stripped again tonight: those of the groups whose model changed in what stripping
reads of it, and of those only the documents carrying a line whose evidence changed.

Stripping a page reads of its group's model the frequency thresholds (from the number of sampled documents: as
a site, as a registered domain, for known lines) and, per line, which side of a few boundaries its count is on:
one document (never template), two (a line `seen twice`; a copy's rare lines are those on at most two), at least
`min_known_pages`, at least a threshold (frequent); and, for frequent lines, the count itself up to twice the
highest threshold (merging a page's variants lowers it by a few). So a group's *signature* is its thresholds and,
per line on two or more documents, its count class: 2, 3 up to the lowest threshold, the exact count up to twice
the highest, then "many". When a group's
sample changes (a page with a smaller page_key enters, the largest leaves) and its signature does not, each page
of the group strips as before and its published documents are not read again. This is what keeps an
incremental night over a large warehouse cheap: a full sample of a big template group takes new pages every
night without any change to its template lines.

Of a group whose signature changed, a published document can strip differently only through what it reads
(`RestripScope`): of its site's and its domain's models, the document count (the thresholds, also at the fewer
documents left once its variants are merged or its copies left out) and, for each fingerprint of its own lines
(`page_keys`), the count, the documents carrying it (its variants and copies are found among them) and whether it
is known in another group. When a group's document count stays, those can change only for the lines of the
documents that entered, left or changed in its sample; of these lines, those counted "many" (at least twice the
highest threshold) on both sides are read only as frequent, as the signature reads them. So a document of the
group is a *candidate* when its group's document count changed, or one of its fingerprints is such a *touched*
line with a count below "many" on either side, or a line whose known groups changed; the others strip as they
were published and are not stripped again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.strip_boilerplate.config import BoilerplateConfig
from tasks.strip_boilerplate.lines import is_trivial, keys_of
from tasks.strip_boilerplate.model import PageSample, TemplateModels, domain_of, sample_models


def _needs(model, cfg: BoilerplateConfig) -> tuple[int, int, int]:
    """The group's thresholds: as a site, as a registered domain, for known lines."""
    return (
        model.need(cfg.min_site_pages, cfg.min_site_share),
        model.need(cfg.min_domain_pages, cfg.min_domain_share),
        model.need(cfg.min_known_pages, cfg.min_site_share),
    )


def _signature(models: TemplateModels, group: str, cfg: BoilerplateConfig) -> tuple | None:
    """What stripping reads of a group's model (module docstring): its thresholds (as a site, as a registered
    domain, for known lines) and its lines' count classes."""
    model = models.groups.get(group)
    if model is None:
        return None
    needs = _needs(model, cfg)
    bounds, top = sorted({2, cfg.min_known_pages, *needs}), 2 * max(needs)

    def count_class(n: int) -> int:
        if n >= min(needs):
            return min(n, top)  # exact from the lowest threshold, "many" from twice the highest
        return max(b for b in bounds if b <= n)

    return needs, frozenset((h, count_class(n)) for h, n in model.counts.items() if n >= 2)


def _touched_lines(before, after, cfg: BoilerplateConfig) -> frozenset[int] | None:
    """Fingerprints whose evidence may have changed in a group's model (module docstring); None when every page
    of the group may strip differently (no model on one side, or another document count)."""
    if before is None or after is None or before.n_pages != after.n_pages:
        return None
    top = 2 * max(_needs(after, cfg))
    moved: set[int] = set()
    for key in before.pages.keys() | after.pages.keys():
        lines_before, lines_after = before.pages.get(key), after.pages.get(key)
        if lines_before != lines_after or before.members.get(key) != after.members.get(key):
            moved.update(lines_before or (), lines_after or ())
    return frozenset(h for h in moved if min(before.counts.get(h, 0), after.counts.get(h, 0)) < top)


def page_keys(lines: list[str], cfg: BoilerplateConfig) -> set[int]:
    """Every fingerprint stripping can read of a page (each text line's, and its first words' when long)."""
    return {k for x in lines if not is_trivial(x) for k in keys_of(x, cfg.prefix_words)}


@dataclass(frozen=True, slots=True)
class RestripScope:
    """The published documents to strip again tonight: those of `groups` (signature changed), and of them the
    candidates (`may_change`). `whole`: groups any page of which may strip differently; `touched`: per other
    group whose sample changed, its touched lines; `known`: lines whose known groups changed."""

    groups: frozenset[str]
    whole: frozenset[str]
    touched: dict[str, frozenset[int]]
    known: frozenset[int]

    def may_change(self, group: str, lines: list[str], cfg: BoilerplateConfig) -> bool:
        """Whether a page of `group` (its `lines`) may strip differently tonight; its lines are fingerprinted only
        when some line of its groups is touched."""
        own = (group, domain_of(group))
        if not self.whole.isdisjoint(own):
            return True
        touched = [found for g in own if (found := self.touched.get(g))] + ([self.known] if self.known else [])
        if not touched:
            return False
        keys = page_keys(lines, cfg)
        return any(not keys.isdisjoint(found) for found in touched)

    def candidates(self, docs: pa.Table) -> pa.Array:
        """`may_change` over published documents (`site`, `line_keys`) as one Arrow test on their stored
        fingerprints, the stored site being the page's group (pages._strip_row writes both); a document without
        them is kept (True), for `may_change` to decide on its lines."""
        keys, sites = docs["line_keys"].combine_chunks(), docs["site"].combine_chunks()
        unknown = pc.or_(pc.is_null(keys), pc.is_null(sites))
        out = np.array(unknown.to_numpy(zero_copy_only=False), dtype=bool)
        for site in pc.unique(sites.filter(pc.invert(unknown))).to_pylist():
            own = (site, domain_of(site))
            rows = np.flatnonzero(~out & pc.fill_null(pc.equal(sites, site), False).to_numpy(zero_copy_only=False))
            if not self.whole.isdisjoint(own):
                out[rows] = True
                continue
            found = set(self.known).union(*(self.touched.get(g, ()) for g in own))
            if found:
                part = keys.take(pa.array(rows, pa.int64()))
                hit = pc.is_in(pc.list_flatten(part), pa.array(sorted(found), pa.int64()))
                out[rows[np.unique(pc.list_parent_indices(part).filter(hit).to_numpy())]] = True
        return pa.array(out, pa.bool_())


def _known_changed(before: TemplateModels, after: TemplateModels, changed: set[str]) -> frozenset[int]:
    """Lines whose known groups changed: `before` holds the models of the `changed` groups only, the others'
    contributions are the same on both sides."""
    lines = before.known_in.keys() | after.known_in.keys()
    empty: frozenset[str] = frozenset()
    return frozenset(h for h in lines if before.known_in.get(h, empty) != after.known_in.get(h, empty) & changed)


NOTHING_TO_RESTRIP = RestripScope(frozenset(), frozenset(), {}, frozenset())


def restrip_scope(
    stored: pa.Table, sample: PageSample, night_models: Callable[[], TemplateModels], cfg: BoilerplateConfig
) -> RestripScope:
    """What to strip again tonight; `stored`: the sample as it was before tonight (`boilerplate_pages`);
    `night_models`: tonight's models (the re-strip uses them too: called only when a group's sample changed)."""
    return scope_of_changed(stored, sample.changed_groups(), night_models, cfg)


def scope_of_changed(
    stored: pa.Table, changed: set[str], night_models: Callable[[], TemplateModels], cfg: BoilerplateConfig
) -> RestripScope:
    """`restrip_scope` from the groups whose sample changed tonight (`PageSample.changed_groups`): what a process
    of its own needs to be sent (tasks/_shards.apart), not the whole sample."""
    if not changed:
        return NOTHING_TO_RESTRIP
    before = sample_models(stored.filter(pc.is_in(stored["site"], pa.array(sorted(changed), pa.string()))), cfg)
    after = night_models()
    groups = frozenset(g for g in changed if _signature(before, g, cfg) != _signature(after, g, cfg))
    touched = {g: _touched_lines(before.groups.get(g), after.groups.get(g), cfg) for g in changed}
    whole = frozenset(g for g, lines in touched.items() if lines is None)
    lines = {g: found for g, found in touched.items() if found is not None}
    return RestripScope(groups, whole, lines, _known_changed(before, after, changed))


def groups_to_restrip(
    stored: pa.Table, sample: PageSample, night_models: Callable[[], TemplateModels], cfg: BoilerplateConfig
) -> set[str]:
    """The groups whose sample changed tonight (`PageSample.changed_groups`) and whose model changed with it
    (`restrip_scope`'s groups)."""
    return set(restrip_scope(stored, sample, night_models, cfg).groups)
