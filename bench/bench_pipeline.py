"""Whole-pipeline benchmark (#14): `docpipe run` on a generated crawl of N pages, per-stage figures, peak tree RSS.

    .venv/bin/python bench/bench_pipeline.py --n N [--new-fraction F] [--runner local|dask] [--page-kb 3]
        [--shape jsonl|txt] [--shard-rows ROWS] [--workers W] [--cpus C] [--keep DIR] [--seed S]
        [--restrip auto|defer|all] [--new-first] [--new-file] [--nights K] [--catch-up]

The crawl (bench/_pipeline_corpus.py, seeded): pages of ~`--page-kb` KB of text under the menus of real corpus
sites with a footer, bodies in the page's language (en/fr/es), ~2 % project pages in the seeds' layout,
~2.5 % exact and near copies, ~0.1 % bad records (empty text, cut JSON line, binary blob). Delivered as one
JSONL with URLs (default) or one .txt file a page without URL.

Night 1: the real CLI (`docpipe run --runner …`) in a child process on a fresh warehouse; the RSS of its whole
process tree (the run, Prefect's server, the run's worker processes, a Dask LocalCluster's nannies and workers)
is sampled every 0.2 s. Printed: each stage's records in, seconds and records/s from the run's summary.json;
wall time; Prefect's share (wall − the stages' seconds: start-up, task bookkeeping, shut-down); peak tree RSS;
CPU seconds by process role (a busy machine inflates wall seconds, not these); the wall seconds before the first
stage, between stages and after the last (from the run's log); the core-seconds left idle before the first stage,
in each stage and after the last (cores × wall − the tree's CPU seconds: where the run fails to use every core).
Every sample goes to `night<N>.rss.tsv` in the
work folder (seconds, pid, role, RSS MB, CPU s, epoch: keep it with --keep; a kept bench with later nights also
keeps night 1's warehouse as `base1`, its Parquet files hard-linked, for `replay_night.py --base`).
`--cpus C` runs that process tree on the first C cores only (`os.sched_setaffinity`): `--workers 1 --cpus 1`
against the default run is the scaling figure between one core and two (`--workers 1` alone still lets DuckDB,
the sketcher's threads and Prefect's server use the other core).
With `--new-fraction F`, night 2 over night 1's warehouse: the crawl re-delivered with F·N new pages (the JSONL
rewritten with the new pages appended, so ingest reads only what follows the registered dump, or with
`--new-first` in front, so it reads every line again; with `--new-file` as a second file beside night 1's,
which stays registered and unread, so every record comes under a new source_uri; for txt, the new files beside
the old ones), its wall time as a share of night 1's (#14's target: ≤ 5 %) and its stage figures. `--nights K`
runs nights 2 … K so, each with F·N more new pages (a night's delivery folder is removed once the next ran).
`--restrip` is theirs (`defer`: published documents are not stripped again tonight), and `--catch-up` adds one
night re-delivering the last night's records with `--restrip auto` (after deferred nights, the run that strips
again the published documents the change since each one's sample may move: changed.scope_since).
After each night the
counts must reconcile: the run's equation (read + restripped = new + updated + unchanged + duplicates +
quarantined) and every raw record delivered that night found by source_uri in `documents`, `duplicates` or
`quarantine`, or else (re-delivered unchanged at a new source_uri) published under its doc_id with its raw text;
the script exits 1 otherwise.
A fixed single-core workload is timed before night 1 and after the last night (`bench_run.host_calibration`):
hosts of the same kind ran 1.9x apart on different days, so figures compare only between runs whose calibration
is close (and a calibration that moved during the bench says something else ran). The last line is
`N pages/s end to end` (night 1's records / wall seconds). `--n 2000` takes ~2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pyarrow as pa
from _pipeline_corpus import BAD_KINDS, PageStream, load_parts, write_raw
from bench_run import (
    CliRun,
    calibration_line,
    clock_map,
    cpu_line,
    docpipe_command,
    idle_line,
    link_parquet,
    peaks_line,
    run_cli,
    tree_cpu,
)

from schemas import DOCUMENTS, DUPLICATES, QUARANTINE
from schemas.runs import RUN_COUNTS, RUN_OUTCOMES
from tasks._stage import raw_keys
from tasks._warehouse import read_current, summary_path
from tasks.identity import doc_ids

RECONCILED_TABLES = (DOCUMENTS, DUPLICATES, QUARANTINE)


def stage_table(stats: dict[str, dict], wall: float) -> list[str]:
    """Per-stage lines: records in, kept, quarantined, seconds, records/s, share of the wall time."""
    lines = [f"{'stage':<18}{'in':>9}{'kept':>9}{'quar.':>7}{'seconds':>9}{'rec/s':>9}{'share':>7}"]
    for stage, s in stats.items():
        records = s.get("in", s.get("kept", 0))
        seconds = float(s.get("seconds", 0.0))
        rate = f"{records / seconds:,.0f}" if seconds else "-"
        lines.append(
            f"{stage:<18}{records:>9,}{s.get('kept', 0):>9,}{s.get('quarantined', 0):>7,}"
            f"{seconds:>9.1f}{rate:>9}{seconds / wall:>7.0%}"
        )
    staged = sum(float(s.get("seconds", 0.0)) for s in stats.values())
    lines.append(f"{'stages':<18}{'':>34}{staged:>9.1f}{'':>9}{staged / wall:>7.0%}")
    lines.append(f"{'prefect + cli':<18}{'':>34}{wall - staged:>9.1f}{'':>9}{(wall - staged) / wall:>7.0%}")
    return lines


def stage_lines(warehouse: Path, run_id: str) -> list[tuple[float, str]]:
    """The stage lines (▶ start, ✓ end) of the run's log, in order: epoch seconds and the text after the level."""
    lines = []
    for line in (warehouse / "_runs" / run_id / "run.log").read_text(encoding="utf-8").splitlines():
        if line[24:].startswith(("INFO ▶", "INFO ✓")):
            lines.append((datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp(), line[29:]))
    return lines


def run_log_times(warehouse: Path, run_id: str) -> list[float]:
    """Epoch seconds of the stage lines (▶ start, ✓ end) of the run's log, in order."""
    return [at for at, _ in stage_lines(warehouse, run_id)]


def run_log_phases(
    warehouse: Path, run_id: str, run: CliRun, since_start: Callable[[float], float]
) -> list[tuple[str, float, float]]:
    """The run's phases in seconds since the CLI started (`since_start` of the log's epochs, bench_run.clock_map):
    before the first stage, each stage (its ▶ to its ✓ line in the run's log), after the last."""
    phases, start, name, last = [], None, "", 0.0
    for epoch, text in stage_lines(warehouse, run_id):
        at = since_start(epoch)
        if text.startswith("▶"):
            if not phases:
                phases.append(("before", 0.0, at))
            start, name = at, text.split()[1].rstrip(":")
        elif start is not None:
            phases.append((name, start, at))
            start, last = None, at
    return [*phases, ("after", last, run.seconds)] if phases else []


def phases_line(run: CliRun, times: list[float], summary: dict, since_start: Callable[[float], float]) -> str:
    """Wall seconds outside the stages: before the first stage starts (CLI, Prefect's server, flow run), between
    stages (checkpoints, bookkeeping), after the last ends (runs row, report, shut-down); the log's epochs placed
    by `since_start` (bench_run.clock_map)."""
    if not times:
        return "no stage lines in the run's log"
    staged = sum(float(s.get("seconds", 0.0)) for s in summary["stage_stats"].values())
    first, last = since_start(times[0]), since_start(times[-1])
    return (
        f"outside stages: before {first:.1f} s, between {last - first - staged:.1f} s, after {run.seconds - last:.1f} s"
    )


def unchanged_by_id(warehouse: Path, pages: list[dict]) -> set[int]:
    """Indexes of `pages` whose doc_id is published with their raw text (re-delivered unchanged at another
    source_uri: the night counts them in n_unchanged and writes no row)."""
    if not pages:
        return set()
    urls, texts = pa.array([p["url"] for p in pages], pa.string()), pa.array([p["text"] for p in pages], pa.string())
    night = pa.table({"doc_id": pa.array(doc_ids(urls, None, pa.array(["x#1"] * len(pages))), pa.string())})
    night = night.append_column("raw_key", raw_keys(texts)).append_column("i", pa.array(range(len(pages))))
    published = read_current(warehouse, DOCUMENTS, ["doc_id", "raw_key"])
    return set(night.join(published, ["doc_id", "raw_key"], join_type="inner")["i"].to_pylist())


def reconcile(warehouse: Path, summary: dict, delivered: dict[str, dict]) -> tuple[bool, list[str]]:
    """The run's count equation, and every delivered record (source_uri → page) found by source_uri in documents,
    duplicates or quarantine, or else published unchanged under its doc_id (a crawl delivered again as a new
    file)."""
    uris = set(delivered)
    counts = {c: int(summary[c] or 0) for c in RUN_COUNTS}  # the runs row, as `docpipe runs --json` shows it
    left = counts["n_read"] + counts["n_restripped"]
    right = sum(counts[c] for c in RUN_OUTCOMES)
    terms = " + ".join(f"{c[2:]} {counts[c]:,}" for c in RUN_OUTCOMES)
    lines = [f"run: read {counts['n_read']:,} + restripped {counts['n_restripped']:,} = {terms} -> {left == right}"]
    found: dict[str, set[str]] = {}
    for table in RECONCILED_TABLES:
        found[table.name] = set(read_current(warehouse, table, ["source_uri"]).column("source_uri").to_pylist())
    missing = sorted(uris - set().union(*found.values()))
    unchanged = unchanged_by_id(warehouse, [delivered[uri] for uri in missing])
    missing = [uri for i, uri in enumerate(missing) if i not in unchanged]
    doubled = found[DOCUMENTS.name] & found[DUPLICATES.name]
    where = ", ".join(f"{name} {len(uris & seen):,}" for name, seen in found.items())
    lines.append(
        f"tables: {len(uris):,} raw records delivered; by source_uri in {where}; else unchanged by doc_id "
        f"{len(unchanged):,}; missing {len(missing):,}; in both documents and duplicates {len(doubled):,}"
    )
    lines += [f"  missing: {missing[:5]}"] if missing else []
    return left == right and not missing and not doubled, lines


def run_night(
    args: argparse.Namespace, work: Path, night: int, pages: list[dict], restrip: str = "auto", beside: bool = False
) -> tuple[CliRun, dict, bool]:
    """Deliver `pages` into a new raw folder (`beside`: as a second JSONL file beside night 1's, which is copied
    as it was and not read again), run the CLI on the warehouse, print the night's figures."""
    raw, warehouse = work / f"raw{night}", work / "warehouse"
    shutil.rmtree(raw, ignore_errors=True)
    if beside:
        raw.mkdir(parents=True)
        shutil.copy2(work / "raw1" / "pages.jsonl", raw / "pages.jsonl")
    index = write_raw(pages, args.shape, raw, f"pages-{night}.jsonl" if beside else "pages.jsonl")
    records = {uri: pages[i] for uri, i in index.items()}
    cmd = docpipe_command("run", "--raw", str(raw), "--warehouse", str(warehouse), "--run-id", f"night{night}")
    cmd += ["--runner", args.runner] + (["--shard-rows", str(args.shard_rows)] if args.shard_rows else [])
    cmd += ["--workers", str(args.workers)] if args.workers else []
    cmd += ["--restrip", restrip]
    run = run_cli(cmd, work / f"night{night}.log", work / f"night{night}.rss.tsv", args.cpus)
    delivered = f"{len(pages):,} records delivered ({args.shape}, --restrip {restrip})"
    print(f"\nnight {night}: {delivered}, exit {run.returncode}")
    path = summary_path(warehouse, f"night{night}")
    if run.returncode != 0 or not path.is_file():
        print((work / f"night{night}.log").read_text()[-4000:])
        return run, {}, False
    summary = json.loads(path.read_text())
    summary["stage_stats"] = json.loads(summary["stage_stats"])
    print("\n".join(stage_table(summary["stage_stats"], run.seconds)))
    print(f"wall {run.seconds:.1f} s; peak tree RSS {run.peak_mb:,.0f} MB; {peaks_line(run.peaks)}")
    since_start = clock_map(work / f"night{night}.rss.tsv", run.started)
    times = run_log_times(warehouse, f"night{night}")
    print(f"{cpu_line(run.cpu)}; {phases_line(run, times, summary, since_start)}")
    cores = args.cpus or len(os.sched_getaffinity(0))
    phases = run_log_phases(warehouse, f"night{night}", run, since_start)
    print(idle_line(tree_cpu(work / f"night{night}.rss.tsv"), phases, cores))
    ok, lines = reconcile(warehouse, summary, records)
    print("\n".join(lines))
    return run, summary, ok


def share_line(night: int, run: CliRun, first: CliRun, what: str) -> str:
    """A later night's wall time as a share of night 1's."""
    share = run.seconds / first.seconds
    return f"night {night}: {run.seconds:.1f} s = {share:.1%} of night 1's {first.seconds:.1f} s {what}"


def drop_raw(work: Path, night: int) -> None:
    """Remove night `night`'s delivery folder once a later night ran (1M pages are ~3.5 GB a copy); night 1's
    stays (a `--new-file` night copies its JSONL)."""
    if night > 1:
        shutil.rmtree(work / f"raw{night}", ignore_errors=True)


def planted_line(stream: PageStream, stats: dict[str, dict]) -> str:
    """What the crawl planted beside what dedupe and ingest found."""
    dedupe, ingest = stats.get("dedupe", {}), stats.get("ingest", {})
    found = ", ".join(f"{k} {v:,}" for k, v in dedupe.items() if k.startswith("duplicates."))
    planted = ", ".join(f"{k} {stream.planted.get(k, 0):,}" for k in ("exact_copy", "near_copy", *BAD_KINDS))
    return f"planted: {planted}; dedupe found {found}; ingest quarantined {ingest.get('quarantined', 0):,}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="pages of night 1 (default 2000)")
    parser.add_argument("--new-fraction", type=float, default=0.0, help="night 2: F·N new pages (default: no night 2)")
    parser.add_argument(
        "--nights",
        type=int,
        default=2,
        help="with --new-fraction: nights 2 … NIGHTS each deliver the crawl again with F·N more new pages, under "
        "--restrip (default 2; e.g. 7 --restrip defer --catch-up: a week of deferred nights, then the catch-up)",
    )
    parser.add_argument("--runner", choices=("local", "dask"), default="local")
    parser.add_argument("--shard-rows", type=int, default=0, help="pages a shard task processes (default: the CLI's)")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (default: one per core)")
    parser.add_argument(
        "--cpus",
        type=int,
        default=0,
        help="run the CLI's process tree on the first CPUS cores only (with --workers 1 --cpus 1: the one-core run "
        "of the scaling figure; default: every core)",
    )
    parser.add_argument("--page-kb", type=float, default=3.0, help="text size of a page in KB (default 3)")
    parser.add_argument("--shape", choices=("jsonl", "txt"), default="jsonl")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="work folder to use and keep (default: a temporary one)")
    parser.add_argument(
        "--restrip", choices=("auto", "defer", "all"), default="auto", help="night 2's --restrip (default auto)"
    )
    parser.add_argument(
        "--new-first",
        action="store_true",
        help="night 2's JSONL with the new pages first (a crawl in another order: the registered dump is no prefix "
        "of it, so every line is read again; default: appended, and ingest reads only what follows)",
    )
    parser.add_argument(
        "--new-file",
        action="store_true",
        help="night 2's JSONL as a second file (pages-2.jsonl) beside night 1's, which stays: the crawl delivered "
        "again under new source_uris, every line read (JSONL only)",
    )
    parser.add_argument(
        "--catch-up",
        action="store_true",
        help="one more night re-delivering the last night's records with --restrip auto (after --restrip defer: "
        "the published documents the change since each deferred night's sample may move stripped again)",
    )
    args = parser.parse_args()
    if args.nights < 2:
        parser.error("--nights counts night 1: at least 2")
    if args.new_file and args.nights > 2:
        parser.error("--new-file delivers night 1's file and one more: it needs --nights 2")
    if args.new_file and args.shape != "jsonl":
        parser.error("--new-file delivers a second JSON Lines file: it needs --shape jsonl")
    return args


def main() -> None:
    args = parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    shutil.rmtree(work / "warehouse", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    stream = PageStream(load_parts(args.seed), seed=args.seed, page_kb=args.page_kb)
    print(calibration_line("before night 1"))
    first, stats1, ok = run_night(args, work, 1, stream.take(args.n))
    if stats1:
        print(planted_line(stream, stats1["stage_stats"]))
    night = 1
    if ok and args.keep and args.new_fraction > 0 and args.nights > 1:  # the nights the loop below runs
        shutil.rmtree(work / "base1", ignore_errors=True)
        shutil.copytree(work / "warehouse", work / "base1", copy_function=link_parquet)
    while ok and args.new_fraction > 0 and night < args.nights:
        night += 1
        new = stream.take(round(args.n * args.new_fraction))
        delivered = new + stream.pages[: -len(new) or None] if args.new_first else stream.pages
        later, stats, ok = run_night(args, work, night, delivered, args.restrip, args.new_file)
        if stats:
            print(share_line(night, later, first, "(target <= 5 %)"))
        drop_raw(work, night - 1)
    if ok and night > 1 and args.catch_up:
        night += 1
        later, stats, ok = run_night(args, work, night, stream.pages)
        if stats:
            after = f"after {night - 2} --restrip {args.restrip} night(s)"
            print(share_line(night, later, first, f"(catch-up {after}, restrip {stats.get('restrip')})"))
    print(calibration_line("after the last night"))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    if not stats1:
        sys.exit(f"night 1 failed (exit {first.returncode}): no end-to-end figure")
    print(f"{int(args.n / first.seconds)} pages/s end to end")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
