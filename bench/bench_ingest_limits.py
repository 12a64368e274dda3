"""Peak memory of ingest on oversized single records: it must decide without holding them whole.

    .venv/bin/python bench/bench_ingest_limits.py [--mb 200]

Each case runs in a fresh child process (so peak RSS is its own) on a file written under a temporary folder
(deleted afterwards): a `--mb` MB .txt page on one line, a JSON line holding a `--mb` MB string between two good
lines, and the same JSON line inside a .gz. The child prints the reason ingest gives, the tracemalloc peak of
Python allocations during ingest, and peak RSS (resource.getrusage ru_maxrss) before and after ingest.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from schemas import INGESTED_FILES  # noqa: E402
from tasks.ingest import IngestConfig, ingest_dumps  # noqa: E402

_CHUNK = 1_000_000
CASES = ("txt_one_line", "jsonl_long_string", "jsonl_gz_long_string")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _write_stream(fh, mb: int, case: str) -> None:
    good = json.dumps({"url": "https://bench.example/good", "text": "A good page.\nWith two lines."})
    if case == "txt_one_line":
        for _ in range(mb):
            fh.write(b"word " * (_CHUNK // 5))
        return
    fh.write(good.encode() + b'\n{"url": "https://bench.example/big", "text": "')
    for _ in range(mb):  # base64 of random bytes: gzip cannot shrink it, so the .gz is no archive bomb
        fh.write(base64.b64encode(os.urandom(_CHUNK * 3 // 4)))
    fh.write(b'"}\n' + good.replace("good", "good2").encode() + b"\n")


def write_case(raw: Path, mb: int, case: str) -> Path:
    name = {"txt_one_line": "page.txt", "jsonl_long_string": "dump.jsonl", "jsonl_gz_long_string": "dump.jsonl.gz"}
    path = raw / name[case]
    with gzip.open(path, "wb", compresslevel=1) if case.endswith("gz_long_string") else path.open("wb") as fh:
        _write_stream(fh, mb, case)
    return path


def run_child(raw: Path, cfg: IngestConfig) -> None:
    rss_before = _peak_rss_mb()
    tracemalloc.start()
    t0 = time.perf_counter()
    result = ingest_dumps(raw, INGESTED_FILES.empty(), cfg, "bench", datetime.now(UTC))
    seconds = time.perf_counter() - t0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    reasons = sorted(f"{r['source_uri']}={r['reason']}" for r in result.quarantined.to_pylist())
    print(
        f"  kept {result.kept.num_rows} pages, quarantined {reasons}, {seconds:.1f} s; "
        f"tracemalloc peak {traced_peak / 2**20:.0f} MiB; peak RSS {rss_before:.0f} MiB before ingest, "
        f"{_peak_rss_mb():.0f} MiB after"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the oversized record in MB (default 200)")
    parser.add_argument("--max-record-mb", type=int, help="max_record_bytes in MiB (default: IngestConfig's)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    cfg = IngestConfig() if args.max_record_mb is None else IngestConfig(max_record_bytes=args.max_record_mb * 2**20)
    if args.child:
        run_child(Path(args.child), cfg)
        return
    print(f"limits: max_record_bytes={cfg.max_record_bytes}, max_text_chars={cfg.max_text_chars}")
    for case in CASES:
        tmp = Path(tempfile.mkdtemp(prefix="bench_ingest_limits_"))
        try:
            raw = tmp / "raw"
            raw.mkdir()
            path = write_case(raw, args.mb, case)
            print(f"{case}: {path.name}, {path.stat().st_size / 1e6:.0f} MB on disk, one {args.mb} MB record")
            limit = [] if args.max_record_mb is None else ["--max-record-mb", str(args.max_record_mb)]
            subprocess.run([sys.executable, __file__, "--child", str(raw), *limit], check=True)
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
