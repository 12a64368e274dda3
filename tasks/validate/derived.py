"""Derived check columns: values GX cannot compute from one column (a title stripped from its own page, a title
shared across a site, the row count recent runs lead us to expect)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from schemas.documents import VOUCHED_TITLE_SOURCES
from tasks.validate.config import ValidateConfig, ValidationHistory

# Columns of the hashed form the night-wide checks read (shards write them, the reduce holds ~18 bytes a row).
KEY_HASH, PAIR_HASH, PAIR_NULL = "key_hash", "site_title_hash", "site_title_has_null"


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


def hash64(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A 64-bit hash of each string, null where null: pandas' SipHash with its fixed key, the same in every
    process (the shards hash, the reduce compares)."""
    valid = pc.is_valid(values)
    text = np.asarray(pc.fill_null(values, "").to_numpy(zero_copy_only=False), dtype=object)
    mask = pc.invert(valid).to_numpy(zero_copy_only=False)
    return pa.array(pd.util.hash_array(text, categorize=False), pa.uint64(), mask=np.asarray(mask, dtype=bool))


def pair_hash(site: pa.Array | pa.ChunkedArray, title: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """A 64-bit hash of each (site, title) pair (a null part is a value of its own), and whether a part is null."""

    def tagged(part: pa.Array | pa.ChunkedArray) -> pa.Array:
        return pc.fill_null(pc.binary_join_element_wise("v", part, ""), "n")

    joined = pc.binary_join_element_wise(tagged(site), tagged(title), "\x00")
    return hash64(joined), pc.or_(pc.is_null(site), pc.is_null(title))


def hashed_titles(documents: pa.Table, column: str) -> pa.Table:
    """KEY_HASH, PAIR_HASH and PAIR_NULL of documents given as doc_id, site and `column` (the published ones)."""
    pair, has_null = pair_hash(documents.column("site"), documents.column(column))
    return pa.table({KEY_HASH: hash64(documents.column("doc_id")), PAIR_HASH: pair, PAIR_NULL: has_null})


def _repeated_in_site(data: pa.Table, column: str, history: ValidationHistory, cfg: ValidateConfig) -> pa.Array:
    """True where (site, `column`) is shared by `min_docs_repeated_title`+ distinct documents, batch + published;
    null (not judged: GX's share leaves nulls out) where the document is published with that very pair, so its
    title was judged on the night it came. A night of documents stripped again judges only the titles that
    changed (the 1M bench's catch-up after a week of deferred nights, 57,917 documents with repeated titles
    sharing template lines, failed the share before: NOTES.md, session 47). `data` holds hashes (KEY_HASH of
    doc_id, PAIR_HASH/PAIR_NULL of site and `column`): 17 bytes a row. A row with a null part is flagged when any
    common pair has a null part (as a null join key matches a null)."""
    pairs = data.select([KEY_HASH, PAIR_HASH, PAIR_NULL])
    published = None
    if history.published_titles is not None and history.published_titles.num_rows:
        published = hashed_titles(history.published_titles, column).cast(pairs.schema)
        pairs = pa.concat_tables([pairs, published])
    common = _common_pairs(pairs, cfg.min_docs_repeated_title)
    if not len(common):
        flags = pa.array(np.zeros(data.num_rows, dtype=bool))
    else:
        nulls = pairs[PAIR_NULL].to_numpy()
        any_null = pa.scalar(bool(np.any(nulls & np.isin(pairs[PAIR_HASH].to_numpy(), common))))
        flags = pc.if_else(data[PAIR_NULL], any_null, pa.array(np.isin(data[PAIR_HASH].to_numpy(), common)))
    if published is None:
        return flags
    return pc.if_else(_as_published(data, published), pa.scalar(None, pa.bool_()), flags)


def _as_published(data: pa.Table, published: pa.Table) -> pa.Array:
    """Which rows of `data` are published with the same doc_id and (site, title) pair (by their hashes)."""
    rows = pa.table({"row": np.arange(data.num_rows), KEY_HASH: data[KEY_HASH], PAIR_HASH: data[PAIR_HASH]})
    same = rows.join(published.select([KEY_HASH, PAIR_HASH]), [KEY_HASH, PAIR_HASH], join_type="left semi")
    found = np.zeros(data.num_rows, dtype=bool)
    found[same["row"].to_numpy()] = True
    return pa.array(found)


def _common_pairs(pairs: pa.Table, min_docs: int) -> np.ndarray:
    """PAIR_HASH values with `min_docs`+ distinct KEY_HASH values (null ones not counted), by sorting: numpy
    arrays of 8 bytes a row (Arrow's count_distinct group-by took ~110 bytes a row)."""
    valid = pairs.filter(pc.is_valid(pairs[KEY_HASH]))
    pair, key = valid[PAIR_HASH].to_numpy(), valid[KEY_HASH].to_numpy()
    order = np.lexsort((key, pair))
    pair, key = pair[order], key[order]
    del order
    first = np.ones(len(pair), dtype=bool)
    first[1:] = (pair[1:] != pair[:-1]) | (key[1:] != key[:-1])
    distinct, counts = np.unique(pair[first], return_counts=True)
    return distinct[counts >= min_docs]


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
# Columns a row-level derived check reads besides the declared column (title_source where the table has it).
DERIVED_INPUTS = {"template_line": ("text", "raw_text", "n_boilerplate_lines", "title_source")}
DERIVED_COLUMNS: dict[str, Callable[[pa.Table, str, ValidationHistory, ValidateConfig], pa.Array]] = {
    "template_line": _template_line,
    "repeated_in_site": _repeated_in_site,
}
