"""Sizes: the run's one setting of how much work a task takes and how many rows a stage holds at once (not a
stage). `RunConfig.sizes` carries it to every stage; a stage called without one (tests, bench scripts) gets
`DEFAULT_SIZES`, declared here and nowhere else. Results do not depend on it (tests/tasks/test_*_shards.py cut
the same night into shards of 1 row to 10,000 and compare); speed and memory do (bench/bench_pipeline.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sizes:
    shard_rows: int = 4_000  # pages one shard task processes (extract: ~10 s of one core; Prefect ~0.2 s a task)
    shard_bytes: int = 256 << 20  # raw bytes one ingest shard reads (~70k pages of JSON Lines, ~10 s of one core)
    chunk_rows: int = 2_000  # rows a stage holds at once when it walks a spill or a shard (page texts: ~40 KB a row)
    check_rows: int = 20_000  # rows one validate task checks together (GX costs ~0.3 s a run, by the run)
    local_dedupe_rows: int = 50_000  # dedupe runs a night of at most this many pages in one process
    local_check_rows: int = 200_000  # validate checks a night of at most this many documents in the run process

    @property
    def key_rows(self) -> int:
        """Rows of key columns (a few short strings a row) read at once: 32 chunks' worth."""
        return 32 * self.chunk_rows

    @property
    def restrip_rows(self) -> int:
        """Published documents one re-strip shard reads: 8 shards' worth (a few % of them are stripped again, so a
        shard of `shard_rows` was mostly a Prefect task run and the read of a row group it shares with the next)."""
        return 8 * self.shard_rows


DEFAULT_SIZES = Sizes()
