"""Gate before publish: run each table's Great Expectations suite (declared in schemas/) on the real rows.

In: the tables about to be published (documents, projects, contacts, duplicates; `quarantine` only counts).
Out: the same tables without the offending rows. Quarantines: validate.<table>.<column>.<check> for each row a
row-level expectation rejects, message = expectation + offending value (a rejected document takes its projects
and contacts rows with it). Table-level expectations (null shares with `mostly`, column types, row count against
recent runs) raise TableExpectationFailed: nothing of the run is published. State: none; history is an input.

Suites: one per published table, plus one per list column with expectations (exploded to a child frame
`<table>.<column>`, key = parent key). GX sees slim frames: key + checked scalar columns + derived check
columns, never the page text (text columns an expectation reads are cut to their first 80 characters; the
row-level derived columns are computed from the texts a chunk at a time, so a spilled night is never whole in
memory). Derived inputs (registry DERIVED):
- `template_line`: the title is a line of raw_text (its first `max_template_chars`) that is not in the body,
  i.e. a line the boilerplate stage stripped from that very page (a nav line picked as title) — unless the page
  vouches for it (title_source url_slug or heading: "Press Releases" titling a listing page).
- `repeated_in_site`: the title is the title of `min_docs_repeated_title`+ distinct documents of one site,
  counting this batch and published documents; table-level with `mostly` (listing pages repeat a title; most
  titles repeating means a scraper or template change).
- `recent_row_counts`: documents (= new + updated tonight) ≥ `min_row_share_of_recent` × median of the last
  `max_history_runs` succeeded runs' n_new + n_updated. Skipped while fewer than `min_history_runs` runs exist,
  and on a night that brought nothing (no documents, duplicates or quarantine rows: a no-op rerun).
`mostly` checks are skipped on batches under `min_rows_for_share` rows (a share of 3 rows says nothing). An
expectation with `where` (schemas/_table.py) checks only the rows where that column is set (GX row_condition):
the null share of documents.site is measured over pages with a URL, so a dump without URLs passes and a site
lost on pages that have one still fails the night.

Shards (`ValidateConfig.shard_rows` rows of one table each; `validate_stage` maps them on the flow's task runner,
`validate_tables` runs them in this process): each runs the row-level expectations except key uniqueness on its
own rows in an ephemeral GX context and writes its rejects and the narrow columns the night-wide checks read
(key; documents: site, title, has a URL) as part files. Once a night: key uniqueness by an Arrow group-by on the
key columns (~32 bytes a row: the one per-row structure held whole), the table-level suite of documents on an
int32 row index and set/null markers (plus the repeated-title flags from site and title), the quarantine rows
in suite, expectation and row order, the tables without the rejected rows (streamed).

With a warehouse, GX uses a file context in <warehouse>/_gx (results accumulate) and builds Data Docs into
<warehouse>/_reports/gx/index.html (the row-level suites as a summary under their names: rows each expectation
rejected, expected 0; the table-level suite as `documents.table`); stats["report"] is that path,
stats["failed_expectations"] the failed expectations' reason codes (also on TableExpectationFailed.stats). GX
files a run's results under the run name `docpipe-<run id>` (GX reads a bare run id as a date: reports.py) and
the validation's run_time, given explicitly.

Modules: config (settings, history, the stopping error), derived (derived check columns), suites (slim frames, GX
suites, context and checkpoint runs), shards (one shard's row-level checks), reduce (the night-wide checks and
the quarantine rows), reports (GX run names, offline index of the Data Docs), stage (the stage functions).
"""

from tasks.validate.config import TableExpectationFailed, ValidateConfig, ValidationHistory
from tasks.validate.stage import load_history, validate_stage, validate_tables, validate_tables_task

__all__ = [
    "TableExpectationFailed",
    "ValidateConfig",
    "ValidationHistory",
    "load_history",
    "validate_stage",
    "validate_tables",
    "validate_tables_task",
]
