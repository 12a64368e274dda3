"""Extraction speed: documents/s and peak RSS of extract_fields on N documents built from the corpus pages.

The corpus pages go through ingest → strip_boilerplate → dedupe once; their clean rows are then repeated (with
a distinct doc_id each) up to N documents and extracted, langdetect included.

    .venv/bin/python bench/bench_extract.py [--docs 100000] [--set max_language_chars=500]
"""

from __future__ import annotations

import argparse
import resource
import time

import pyarrow as pa
from _corpus import config_with, run_corpus

from schemas import STG_UNIQUE
from tasks.extract import ExtractConfig, extract_fields


def build_input(n_docs: int) -> pa.Table:
    run = run_corpus()
    base = [row for row in run.clean.values()]
    rows = []
    for i in range(n_docs):
        row = dict(base[i % len(base)])
        row.update(doc_id=f"doc{i:08d}", content_hash=f"{i:064x}", is_update=False, source_uri=f"bench#{i}")
        rows.append(row)
    return STG_UNIQUE.conform(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args()
    cfg = config_with(ExtractConfig, args.set)
    pages = build_input(args.docs)
    start = time.perf_counter()
    result = extract_fields(pages, cfg)
    seconds = time.perf_counter() - start
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"documents {result.kept.num_rows}  seconds {seconds:.1f}  docs/s {result.kept.num_rows / seconds:,.0f}")
    print(f"peak RSS {rss_mib:,.0f} MiB (largest worker {children:,.0f} MiB)  config {cfg}")


if __name__ == "__main__":
    main()
