"""Publish a run's tables as new Delta Lake versions in the warehouse (the only package that writes it).

In: the validated tables and state rows of a run, plus its `runs` row. Out: one new version of each table
the run changes, each commit tagged with the run id (commit metadata `docpipe.run_id`); tables the run does
not change get no commit. State: every warehouse table.

Writes are merges keyed on each table's declared key (config.py: one rule per table; merge.py: the Delta writes);
into a table with data, rows whose keys it does not hold (or rows of an insert-only table) are appended as a
stream instead, found by reading only the table's key columns a batch at a time (deltalake's merge reads every
column of every file whose key statistics do not rule it out). The page-text table's files (`documents`) are
written by pyarrow's Parquet writer and committed with deltalake's statistics (files.py: one row group held,
not the whole load), and its updates rewrite only the files holding a changed row, in one remove + add commit
(rewrite.py). Rows tonight's documents replace go in the same commit (config.py `replaced_by_documents`): the
contacts and mentions of a re-published document are replaced together, by rewriting the files holding one of
them (merge.replace_by_rewrite: deltalake's merge read the whole table); the `duplicates` row of a record
published now is deleted in the merge.
So a rerun on the same input changes nothing and
commits nothing, and a rerun after a kill mid-publish re-merges
what was committed without duplicating a row. Atomic per run: tables are written in the fixed PLAN order, each
commit tagged with the run id, then the `runs` row (merged on run_id) is the last commit and the marker of a
complete version. Readers pin each table to the version listed in the last succeeded `runs` row
(`handoff.versions.complete_runs`, the analysts' DuckDB views), so a version committed by an incomplete run is
never seen and is superseded by that run's rerun. `ingested_files` is written after the data tables: a run killed
before it committed re-reads its files.
"""

from tasks._warehouse import RUN_ID_KEY  # tests/flows/test_rerun.py reads it from here
from tasks.publish.config import PLAN
from tasks.publish.stage import (
    changed_tables,
    publish_run_row,
    publish_run_summary,
    publish_tables,
    publish_tables_task,
    versions,
)

__all__ = [
    "PLAN",
    "RUN_ID_KEY",
    "changed_tables",
    "publish_run_row",
    "publish_run_summary",
    "publish_tables",
    "publish_tables_task",
    "versions",
]
