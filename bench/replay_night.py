"""Replay one night over a copy of a kept warehouse (#14): the figures of a night 2 or 3 of `bench_pipeline.py`
without running night 1 again, so code before and after a change is compared on the same warehouse.

    .venv/bin/python bench/replay_night.py --base KEPT/warehouse --raw KEPT/raw2 --work DIR [--restrip auto]
        [--run-id night3] [--runner local|dask] [--workers W] [--keep] [--link]

`--base` is a warehouse a bench kept (`bench_pipeline.py --keep KEPT`; as night 1 left it: `KEPT/base1`); it is
copied to `DIR/warehouse` and never written (`--link`: its Parquet files hard-linked, for a 1M-page warehouse on a
full disk). `--raw` is the night's delivery (a kept bench's `raw2` re-delivers night 2 over `base1`, or, over
`warehouse`, the night 3 of `--catch-up`).
The real CLI runs on the copy in a child process (`docpipe run --restrip …`); printed: each stage's figures, wall
seconds, peak tree RSS, CPU seconds by role, the steps lines of the run's log (where strip's, dedupe's and
publish's time went) and the run's count equation (read + restripped = new + updated + unchanged + duplicates +
quarantined; the script exits 1 when it does not hold). The copy is deleted afterwards unless `--keep` (a 1M-page
warehouse is ~5 GB). A host calibration line comes before and after (`bench_run.host_calibration`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from bench_pipeline import reconcile, stage_table
from bench_run import calibration_line, cpu_line, docpipe_command, link_parquet, peaks_line, run_cli

from tasks._warehouse import summary_path

LOG_LINES = (" steps: ", "re-strip: published", "publish: ")  # the run log's lines worth a look


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="a kept warehouse (copied, never written)")
    parser.add_argument("--raw", type=Path, required=True, help="the night's raw folder")
    parser.add_argument("--work", type=Path, required=True, help="folder for the copy, the log and the timeline")
    parser.add_argument("--restrip", choices=("auto", "defer", "all"), default="auto")
    parser.add_argument("--run-id", default="replay")
    parser.add_argument("--runner", choices=("local", "dask"), default="local")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (default: one per core)")
    parser.add_argument("--keep", action="store_true", help="keep the warehouse copy")
    parser.add_argument(
        "--link", action="store_true", help="hard-link the base's Parquet files instead of copying them (same disk)"
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    warehouse = args.work / "warehouse"
    if warehouse.exists():
        raise SystemExit(f"{warehouse} exists: give a new --work folder")
    print(calibration_line("before the replay"))
    shutil.copytree(args.base, warehouse, copy_function=link_parquet if args.link else shutil.copy2)
    cmd = docpipe_command("run", "--raw", str(args.raw), "--warehouse", str(warehouse), "--run-id", args.run_id)
    cmd += ["--runner", args.runner, "--restrip", args.restrip]
    cmd += ["--workers", str(args.workers)] if args.workers else []
    try:
        run = run_cli(cmd, args.work / "replay.log", args.work / "replay.rss.tsv")
        path = summary_path(warehouse, args.run_id)
        print(f"replay of {args.raw} over a copy of {args.base} (--restrip {args.restrip}): exit {run.returncode}")
        if run.returncode != 0 or not path.is_file():
            print((args.work / "replay.log").read_text()[-4000:])
            return 1
        summary = json.loads(path.read_text())
        summary["stage_stats"] = json.loads(summary["stage_stats"])
        print("\n".join(stage_table(summary["stage_stats"], run.seconds)))
        print(f"wall {run.seconds:.1f} s; peak tree RSS {run.peak_mb:,.0f} MB; {peaks_line(run.peaks)}")
        print(cpu_line(run.cpu))
        log = (warehouse / "_runs" / args.run_id / "run.log").read_text(encoding="utf-8")
        said = [line[29:] for line in log.splitlines()]
        print("\n".join(text for text in said if any(part in text for part in LOG_LINES)))
        ok, lines = reconcile(warehouse, summary, {})
        print(lines[0])
    finally:
        if not args.keep:
            shutil.rmtree(warehouse, ignore_errors=True)
    print(calibration_line("after the replay"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
