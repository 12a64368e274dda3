"""Ingest throughput and peak memory of `iter_ingest` on a generated JSON Lines dump.

    .venv/bin/python bench/bench_ingest.py --mb 1024 [--gzip] [--batch-rows 4096]

Writes a dump of about `--mb` MB under a temporary folder (deleted afterwards) from the seed pages in
../shared/seeds (read in place, each line a seed with a numbered first line, so no two records are equal),
then consumes the record batches of `iter_ingest` and prints MB/s, records/s and peak RSS
(resource.getrusage ru_maxrss). RSS is reported before and after ingest: the difference is what ingest adds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from schemas import INGESTED_FILES  # noqa: E402
from tasks.ingest import IngestConfig, IngestTally, iter_ingest  # noqa: E402
from tasks.sizes import DEFAULT_SIZES  # noqa: E402

SEEDS = Path(os.environ.get("DOCPIPE_SHARED", ROOT.parent / "shared")) / "seeds"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def write_dump(path: Path, target_bytes: int, compress: bool) -> tuple[int, int]:
    """A JSONL dump of about target_bytes (uncompressed); returns (records, uncompressed bytes)."""
    seeds = [f.read_text() for f in sorted(SEEDS.glob("*.txt"))]
    opener = gzip.open if compress else open
    n, size = 0, 0
    with opener(path, "wb") as fh:
        while size < target_bytes:
            seed = seeds[n % len(seeds)]
            line = json.dumps({"url": f"https://bench.example/{n}", "text": f"Record {n}\n{seed}", "n": n}) + "\n"
            data = line.encode()
            fh.write(data)
            n, size = n + 1, size + len(data)
    return n, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="uncompressed dump size in MB (default 1024)")
    parser.add_argument("--gzip", action="store_true", help="write the dump as .jsonl.gz")
    parser.add_argument("--batch-rows", type=int, default=DEFAULT_SIZES.chunk_rows)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        raw = tmp / "raw"
        raw.mkdir()
        dump = raw / ("dump.jsonl.gz" if args.gzip else "dump.jsonl")
        t0 = time.perf_counter()
        n_written, n_bytes = write_dump(dump, args.mb * 1_000_000, args.gzip)
        print(
            f"generated {dump.name}: {n_written} records, {n_bytes / 1e6:.0f} MB uncompressed, "
            f"{dump.stat().st_size / 1e6:.0f} MB on disk, in {time.perf_counter() - t0:.1f} s"
        )
        rss_before = _peak_rss_mb()

        cfg = IngestConfig()
        tally = IngestTally()
        n_batches, max_rows = 0, 0
        t0 = time.perf_counter()
        for batch in iter_ingest(raw, INGESTED_FILES.empty(), cfg, "bench", datetime.now(UTC), tally, args.batch_rows):
            n_batches, max_rows = n_batches + 1, max(max_rows, batch.num_rows)
        seconds = time.perf_counter() - t0

        assert tally.n_pages == n_written and not tally.quarantine, (tally.n_pages, tally.reasons)
        print(f"ingested {tally.n_pages} records in {n_batches} batches (≤ {max_rows} rows) in {seconds:.1f} s")
        print(f"throughput: {n_bytes / 1e6 / seconds:.1f} MB/s (uncompressed), {tally.n_pages / seconds:.0f} records/s")
        print(f"peak RSS: {rss_before:.0f} MB before ingest, {_peak_rss_mb():.0f} MB after")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
