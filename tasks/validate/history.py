"""What validation reads of earlier runs: recent runs' document counts, and the published (doc_id, site, title)
rows tonight's repeated-title check can meet: those sharing a (site, title) with tonight's documents, plus those
with a null part (a null part is matched by any null part: `derived._repeated_in_site`). A row of any other pair
changes no flag of tonight's, so the whole table is never read into memory; DuckDB filters the published files,
holding one 64-bit hash per distinct pair of tonight's."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from schemas import DOCUMENTS, RUNS
from tasks._spill import Rows, Spill
from tasks._warehouse import query_arrow, sql_list
from tasks.history import History
from tasks.validate.config import ValidateConfig, ValidationHistory

TITLE_COLUMNS = ["doc_id", "site", "title"]
# Tonight's pairs as DuckDB hashes (a hash collision only lets an unneeded published row through).
_FILTER = """
WITH tonight AS (SELECT DISTINCT hash(site, title) AS pair FROM {tonight})
SELECT doc_id, site, title FROM {published} p
WHERE p.site IS NULL OR p.title IS NULL OR hash(p.site, p.title) IN (SELECT pair FROM tonight)
"""


def load_history(history: History, cfg: ValidateConfig) -> ValidationHistory:
    """Recent succeeded runs' published document counts, and the `documents` files of the run's history (read
    later, filtered to tonight's titles: `history_for_night`)."""
    runs = history.read(RUNS, ["started_at", "status", "n_new", "n_updated"])
    runs = runs.filter(pc.equal(runs["status"], "succeeded")).sort_by([("started_at", "descending")])
    counts = pc.add(runs["n_new"], runs["n_updated"]).to_pylist()[: cfg.max_history_runs]
    files = history.files(DOCUMENTS)
    return ValidationHistory(tuple(counts), tuple(files) if history.version(DOCUMENTS) is not None else None)


def history_for_night(history: ValidationHistory, documents: Rows) -> ValidationHistory:
    """The history with `published_titles` narrowed to the rows tonight's `documents` can meet (see above)."""
    published = history.published_titles
    if published is None or not len(published) or not documents.num_rows:
        return dataclasses.replace(history, published_titles=None)
    return dataclasses.replace(history, published_titles=published_titles_for(documents, published))


def published_titles_for(documents: Rows, published: pa.Table | Sequence[str]) -> pa.Table:
    """Published (doc_id, site, title) rows sharing a (site, title) with `documents` or having a null part;
    `published` is a table of those columns or the Parquet files of `documents`."""
    registered: dict[str, pa.Table] = {}
    tonight = _relation(registered, "tonight_rows", documents)
    source = _relation(registered, "published_rows", published)
    found = query_arrow(_FILTER.format(tonight=tonight, published=source), **registered)
    return found.cast(pa.schema([(c, pa.string()) for c in TITLE_COLUMNS]))


def _relation(registered: dict[str, pa.Table], name: str, rows: Rows | Sequence[str]) -> str:
    """A FROM item over rows in memory (added to `registered` as `name`), a spill's files or a list of Parquet
    files."""
    if isinstance(rows, pa.Table):
        registered[name] = rows.select([c for c in TITLE_COLUMNS if c in rows.column_names])
        return name
    files = [str(f) for f in rows.files] if isinstance(rows, Spill) else list(rows)
    return f"read_parquet([{sql_list(files)}])"
