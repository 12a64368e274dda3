"""Derived check columns: values GX cannot compute from one column (a title stripped from its own page, a title
shared across a site, the row count recent runs lead us to expect)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from schemas.documents import VOUCHED_TITLE_SOURCES
from tasks.validate.config import ValidateConfig, ValidationHistory


def _norm(line: str) -> str:
    return " ".join(line.split())


def _template_line(data: pa.Table, column: str, history: ValidationHistory, cfg: ValidateConfig) -> pa.Array:
    """True where `column` is a line of the page's raw head that the body no longer has (stripped boilerplate)."""
    # Vectorised first pass: most titles are the body's first line, and pages with nothing stripped are clean.
    head = pc.utf8_slice_codeunits(pc.fill_null(data.column("text"), ""), 0, cfg.max_template_chars)
    first_line = pc.utf8_trim_whitespace(pc.list_element(pc.split_pattern(head, "\n", max_splits=1), 0))
    suspect = pc.and_(
        pc.invert(pc.fill_null(pc.equal(first_line, data.column(column)), False)),
        pc.fill_null(pc.greater(data.column("n_boilerplate_lines"), 0), False),
    )
    if "title_source" in data.column_names:  # titles the page vouches for (URL slug, listing heading) are exempt
        vouched = pc.is_in(data.column("title_source"), pa.array(VOUCHED_TITLE_SOURCES))
        suspect = pc.and_(suspect, pc.invert(pc.fill_null(vouched, False)))
    out = [False] * data.num_rows
    rows = pc.indices_nonzero(suspect).to_pylist()
    if not rows:
        return pa.array(out, pa.bool_())
    picked = data.take(rows)
    titles = picked.column(column).to_pylist()
    raws = pc.utf8_slice_codeunits(picked.column("raw_text"), 0, cfg.max_template_chars).to_pylist()
    texts = pc.take(head, rows).to_pylist()
    for i, title, raw, text in zip(rows, titles, raws, texts, strict=True):
        if not title or not raw or title in text:  # the title is (inside) a body line
            continue
        out[i] = title not in {_norm(x) for x in text.splitlines()} and title in {_norm(x) for x in raw.splitlines()}
    return pa.array(out, pa.bool_())


def _repeated_in_site(data: pa.Table, column: str, history: ValidationHistory, cfg: ValidateConfig) -> pa.Array:
    """True where (site, `column`) is shared by `min_docs_repeated_title`+ distinct documents, batch + published."""
    pairs = data.select(["doc_id", "site", column])
    if history.published_titles is not None and history.published_titles.num_rows:
        pairs = pa.concat_tables(
            [pairs, history.published_titles.select(["doc_id", "site", column]).cast(pairs.schema)]
        )
    counts = pairs.group_by(["site", column]).aggregate([("doc_id", "count_distinct")])
    common = counts.filter(pc.greater_equal(counts["doc_id_count_distinct"], cfg.min_docs_repeated_title))
    if not common.num_rows:
        return pa.array([False] * data.num_rows, pa.bool_())
    keys = pc.binary_join_element_wise(data["site"], data[column], "\x00")
    common_keys = pc.binary_join_element_wise(common["site"], common[column], "\x00")
    return pc.fill_null(pc.is_in(keys, common_keys), False)


def recent_row_counts(
    data: pa.Table, n_other: int, history: ValidationHistory, cfg: ValidateConfig
) -> dict[str, Any] | None:
    """min_value for the row count, or None to skip the check (too little history, or nothing came in)."""
    recent = history.recent_counts[: cfg.max_history_runs]
    if len(recent) < cfg.min_history_runs or (data.num_rows == 0 and n_other == 0):
        return None
    return {"min_value": int(cfg.min_row_share_of_recent * statistics.median(recent)), "max_value": None}


# Derived from each row's own texts: computed chunk by chunk before the frames are built (tasks/validate), so the
# texts never need to be in memory all at once.
ROW_DERIVED = frozenset({"template_line"})
DERIVED_COLUMNS: dict[str, Callable[[pa.Table, str, ValidationHistory, ValidateConfig], pa.Array]] = {
    "template_line": _template_line,
    "repeated_in_site": _repeated_in_site,
}
