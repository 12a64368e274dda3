"""Which groups' published documents must be stripped again tonight: those whose model changed in what stripping
reads of it, not every group whose sample took a page.

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
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from tasks.strip_boilerplate.config import BoilerplateConfig
from tasks.strip_boilerplate.model import PageSample, TemplateModels, sample_models


def _signature(models: TemplateModels, group: str, cfg: BoilerplateConfig) -> tuple | None:
    """What stripping reads of a group's model (module docstring): its thresholds (as a site, as a registered
    domain, for known lines) and its lines' count classes."""
    model = models.groups.get(group)
    if model is None:
        return None
    needs = (
        model.need(cfg.min_site_pages, cfg.min_site_share),
        model.need(cfg.min_domain_pages, cfg.min_domain_share),
        model.need(cfg.min_known_pages, cfg.min_site_share),
    )
    bounds, top = sorted({2, cfg.min_known_pages, *needs}), 2 * max(needs)

    def count_class(n: int) -> int:
        if n >= min(needs):
            return min(n, top)  # exact from the lowest threshold, "many" from twice the highest
        return max(b for b in bounds if b <= n)

    return needs, frozenset((h, count_class(n)) for h, n in model.counts.items() if n >= 2)


def groups_to_restrip(
    stored: pa.Table, sample: PageSample, night_models: Callable[[], TemplateModels], cfg: BoilerplateConfig
) -> set[str]:
    """The groups whose sample changed tonight (`PageSample.changed_groups`) and whose model changed with it;
    `stored`: the sample as it was before tonight (`boilerplate_pages`); `night_models`: tonight's models (the
    re-strip uses them too: called only when a group's sample changed)."""
    changed = sample.changed_groups()
    if not changed:
        return set()
    before = sample_models(stored.filter(pc.is_in(stored["site"], pa.array(sorted(changed), pa.string()))), cfg)
    after = night_models()
    return {g for g in changed if _signature(before, g, cfg) != _signature(after, g, cfg)}
