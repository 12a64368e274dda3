"""Validate stage settings, the history it reads, and the error that stops a run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa


class TableExpectationFailed(RuntimeError):
    """A table-level expectation failed: the run must not publish. `.stats` holds the report and failures."""

    def __init__(self, message: str, stats: dict[str, Any]):
        super().__init__(message)
        self.stats = stats

    def __reduce__(self) -> tuple[type, tuple[str, dict[str, Any]]]:  # raised in another process, re-raised here
        return type(self), (str(self), self.stats)


@dataclass(frozen=True, slots=True)
class ValidateConfig:
    max_examples: int = 5  # offending values quoted in the error of a failed table expectation
    min_rows_for_share: int = 20  # `mostly` checks need this many rows
    min_history_runs: int = 3  # row-count check needs this many earlier succeeded runs
    max_history_runs: int = 14  # … and looks at this many (median)
    min_row_share_of_recent: float = 0.2  # fail below 20% of the recent median (a 90% drop fails)
    min_docs_repeated_title: int = 3  # a title shared by this many documents of a site is template
    max_template_chars: int = 2000  # head of raw_text/text searched for the title as a line


@dataclass(frozen=True, slots=True)
class ValidationHistory:
    """What validation needs from earlier runs, read by the task wrapper."""

    recent_counts: tuple[int, ...] = ()  # n_new + n_updated of recent succeeded runs, newest first
    # doc_id, site, title of published documents, or the Parquet files of `documents` (narrowed to the rows
    # tonight's titles can meet before use: history.history_for_night)
    published_titles: pa.Table | tuple[str, ...] | None = None
