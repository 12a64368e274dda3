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
  titles repeating means a scraper or template change), over the documents not published with that title
  already (a night that strips published documents again judges only the titles that changed).
- `recent_row_counts`: documents (= new + updated tonight) ≥ `min_row_share_of_recent` × median of the last
  `max_history_runs` succeeded runs' n_new + n_updated. Skipped while fewer than `min_history_runs` runs exist,
  and on a night that brought nothing (no documents, duplicates or quarantine rows: a no-op rerun).
`mostly` checks are skipped on batches under `min_rows_for_share` rows (a share of 3 rows says nothing). An
expectation with `where` (schemas/_table.py) checks only the rows where that column is set (GX row_condition):
the null share of documents.site is measured over pages with a URL, so a dump without URLs passes and a site
lost on pages that have one still fails the night.

Shards (consecutive shards of a table, `Sizes.check_rows` rows at most together; `validate_stage` maps
them on the flow's task runner, `validate_tables` runs them in this process): each runs the row-level
expectations except key uniqueness on its own rows, in an ephemeral GX context each process (thread) builds once
with its suites (GX is asked for success first, then for the rows of the failed expectations only), and writes
its rejects and what the night-wide checks read (the key and its 64-bit hash; documents: has a URL, has a site,
a 64-bit hash of site + title) as part files. Once a night: key uniqueness by an Arrow group-by on the key hashes
(the keys of repeated hashes read back and compared exactly), the table-level suite of documents on an int32 row
index and set/null markers (plus the repeated-title flags from the hashes: two titles colliding in 64 bits
would count as one), the quarantine rows in suite, expectation and row order, the tables without the rejected
rows (streamed). The reduce holds ~20 bytes a document whole, ~8 a project or contact.

With a warehouse, GX uses a file context in <warehouse>/_gx (results accumulate) and builds Data Docs into
<warehouse>/_reports/gx/index.html, once after the night's checkpoints (the row-level suites as a summary under
their names: rows each expectation rejected, expected 0; the table-level suite as `documents.table`);
stats["report"] is that path, stats["failed_expectations"] the failed expectations' reason codes (also on
TableExpectationFailed.stats). GX files a run's results under the run name `docpipe-<run id>` (GX reads a bare
run id as a date: reports.py) and the validation's run_time, given explicitly.

Modules: config (settings, history, the stopping error), derived (derived check columns), suites (slim frames, GX
suites, contexts, checkpoint runs), shards (one shard group's row-level checks), reduce (the night-wide checks and
the quarantine rows), reports (GX run names, offline index of the Data Docs), history (what is read of earlier
runs: counts, the published titles tonight's can meet), stage (the stage functions).
"""

from tasks._stage import lazy_exports
from tasks.validate.config import TableExpectationFailed, ValidateConfig, ValidationHistory
from tasks.validate.history import load_history

# stage.py's names are imported on first use (tasks/_stage.lazy_exports)
__getattr__ = lazy_exports(__name__, "stage", ("validate_stage", "validate_tables"))

__all__ = [
    "TableExpectationFailed",
    "ValidateConfig",
    "ValidationHistory",
    "load_history",
    "validate_stage",
    "validate_tables",
]
