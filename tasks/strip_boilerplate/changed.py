"""Which groups' published documents must be stripped again tonight: those whose model changed in what stripping
reads of it, not every group whose sample took a page.

Stripping a page reads of its group's model the number of sampled documents (the frequency threshold) and the
counts of the lines found on at least two of them (frequent lines, lines `seen_twice`, the variant and copy
checks on removed lines); a line on one sampled document only is never template. So when a group's sample
changes (a page with a smaller page_key enters, the largest leaves) but the document count and every count of
two or more stay the same, each page of the group strips as before and its published documents are not read
again. This is what keeps an incremental night over a large warehouse cheap: a full sample of a big template
group takes new pages every night without any change to its template lines.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from tasks.strip_boilerplate.config import BoilerplateConfig
from tasks.strip_boilerplate.model import PageSample, TemplateModels, sample_models


def _signature(models: TemplateModels, group: str) -> tuple[int, frozenset[tuple[int, int]]] | None:
    """What stripping reads of a group's model: its document count and the counts of its repeated lines."""
    model = models.groups.get(group)
    if model is None:
        return None
    return model.n_pages, frozenset((h, n) for h, n in model.counts.items() if n >= 2)


def _models_of(rows: pa.Table, groups: pa.Array, cfg: BoilerplateConfig) -> TemplateModels:
    return sample_models(rows.filter(pc.is_in(rows["site"], groups)), cfg)


def groups_to_restrip(stored: pa.Table, sample: PageSample, cfg: BoilerplateConfig) -> set[str]:
    """The groups whose sample changed tonight (`PageSample.changed_groups`) and whose model changed with it;
    `stored`: the sample as it was before tonight (`boilerplate_pages`)."""
    changed = sample.changed_groups()
    if not changed:
        return set()
    names = pa.array(sorted(changed), pa.string())
    before, after = _models_of(stored, names, cfg), _models_of(sample.all_rows(), names, cfg)
    return {g for g in changed if _signature(before, g) != _signature(after, g)}
