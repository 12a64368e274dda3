"""Strip site boilerplate (menus, banners, template headers) and cut contact blocks from page text.

In: stg_pages (schemas/stg_pages.py). Out: stg_clean — same rows plus `site`, `text`, `contact_text`,
`n_boilerplate_lines`, `title_hint`. Quarantines: boilerplate.empty_body.
State: `boilerplate_pages`, a bounded sample of pages per template group (read; new sample rows returned), and the
published documents of groups whose model changed tonight (changed.py; read; returned re-stripped when their text
changes, so the first pages of a new site lose their template once enough pages are seen; `restrip` in
BoilerplateConfig, `docpipe run --restrip`: none on a night that defers; on the next run that does not, those the
change since the sample each was stripped under may move, stage.py `_night_restrip`, with `runs.table_versions` and
the `boilerplate_pages` versions they name); `documents` (doc_id, raw_text hash) of tonight's records (unchanged.py:
a record re-delivered as published is counted `unchanged` and goes no further); on a night that defers, `duplicates`
(source_uri, doc_id, url, raw_key, decision) and `runs` (started_at): a record re-delivered as its recorded
duplicate is counted `duplicates` and goes no further either, and one re-delivered at another source_uri gets its
recorded decision as a new `duplicates` row (outputs, which the ledger joins to dedupe's); `runs.restrip` of the
last runs (whether they deferred).

Text dumps: a line is *frequent* when it appears on enough sampled pages of the page's site (host without
www.), or of its registered domain (IOM country sites share variants of one menu), or when it is a *known*
template line: frequent on at least `min_known_pages` distinct pages of any group, so a lone page, a page of a new
host or one without URL loses a template learned elsewhere, tonight or on an earlier night. Pages without URL are
grouped by a fingerprint of their first two text lines (long ones by their first words). Boilerplate is the
leading run of frequent (or letter-free) lines and, after the contact block is cut, the trailing run: position
keeps repeated field labels inside the body ("Start Date") and common short lines. A key/value block (`-` /
label / value, or bullet label / value, three units in a row) is page data: it ends a run, and the line right
above it (the title) is never template. The sample per group is the `max_sample_pages` pages with the smallest
page_key (content hash), so the model does not depend on input order or on how pages are spread over runs. A
group with fewer than `min_site_pages` (2) pages learns nothing itself; with two pages, the lines both share in
the leading/trailing run are template, unless the two are copies of one story (`copies_of`). Copies of one page
count as one document (copies.py: sketch Jaccard ≥ `min_copy_similarity`), and so do, for a page being cleaned,
the sampled documents carrying its body (`min_variant_containment` of its 3-grams outside the lines they share,
e.g. a copy with 20 words edited): lines shared only by variants of one body are no template.
Navigation shape (nav_shape.py): with nothing learned, the leading/trailing block of label-shaped lines is still
navigation when page text follows it and it holds an anchor (navigation vocabulary, a separator bar or breadcrumb,
a label glued to its teaser, a dropdown label printed twice, a line on two sampled pages, a template line); the
last plain label before the prose is the page's heading and stays. Removed lines are counted by reason code
(schemas/reasons.py REMOVED_LINE_REASONS) in the stage stats.
HTML pages: main content by html.py (trafilatura, readability-lxml as second opinion and fill, cleanup), title
from the page's metadata; no line learning.

Shards (#14): `strip_stage` maps a shard task that samples each shard (bottom-k page keys per group), merges the
samples with the stored one into the night's sample, maps a shard task that fingerprints the night's sampled pages
where they are (only those: a page outside the night's sample is never fingerprinted), writes the sample to the
model file (`model.parquet` in the stage's folder), maps a shard task that strips each shard under it, then
re-strips published documents; the same rows and stats for any shard size.

Modules: config (thresholds), lines (fingerprints, template runs, contact block), nav_shape (navigation-shaped
blocks), copies (copies and variants of one body), model (groups, the page sample, line counts, cleaning a
page), pages (a chunk of pages stripped, published documents re-stripped), unchanged (records re-delivered as
published), changed (the published documents to strip again), shards (the map tasks), stage (the pure function, the
one-process task and the sharded stage); this file re-exports only.
"""

from tasks._stage import lazy_exports
from tasks.strip_boilerplate.config import BoilerplateConfig
from tasks.strip_boilerplate.model import PageSample
from tasks.strip_boilerplate.pages import STAGE

# stage.py's names are imported on first use (tasks/_stage.lazy_exports)
__getattr__ = lazy_exports(
    __name__,
    "stage",
    ("read_documents_in_scope", "strip_boilerplate", "strip_boilerplate_task", "strip_chunks", "strip_stage"),
)

__all__ = [
    "STAGE",
    "BoilerplateConfig",
    "PageSample",
    "read_documents_in_scope",
    "strip_boilerplate",
    "strip_boilerplate_task",
    "strip_chunks",
    "strip_stage",
]
