"""Whole-run memory and speed: `docpipe run` over one generated JSON Lines dump of distinct pages.

    .venv/bin/python bench/bench_run.py --mb 2048 [--keep DIR]

The dump is built from the labelled corpus (../shared/corpus/pages.jsonl, read in place): each record takes a
corpus page's leading lines (its site's menu, so the boilerplate stage has templates to learn) and a body of
sentences drawn at random from the whole corpus (seeded), under a URL of the page's site. Pages are distinct
(no near-duplicates beyond chance), in the corpus's languages. The run is the real CLI in a child process
(Prefect's temporary server, a fresh warehouse); the script samples the RSS of the whole process tree (the run
and its extraction workers) every 0.2 s and prints wall time, records/s, MB/s and peak tree RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("DOCPIPE_SHARED", ROOT.parent / "shared")) / "corpus" / "pages.jsonl"
SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _corpus() -> tuple[list[tuple[str, list[str]]], list[str]]:
    """(url, leading lines) of every corpus page, and the pool of body sentences."""
    heads, pool = [], []
    for line in CORPUS.open(encoding="utf-8"):
        page = json.loads(line)
        lines = [x for x in page["text"].splitlines() if x.strip()]
        heads.append((page["url"], lines[: max(1, len(lines) // 4)]))
        pool += [s for x in lines[len(lines) // 4 :] for s in SENTENCE.split(x) if len(s.split()) >= 6]
    return heads, pool


def write_dump(path: Path, target_bytes: int, seed: int = 7) -> tuple[int, int]:
    """A JSONL dump of about target_bytes of distinct pages; returns (records, bytes)."""
    rng = random.Random(seed)
    heads, pool = _corpus()
    n = size = 0
    with path.open("wb") as fh:
        while size < target_bytes:
            url, head = heads[n % len(heads)]
            body = rng.sample(pool, rng.randint(12, 40))
            paragraphs = [" ".join(body[i : i + 4]) for i in range(0, len(body), 4)]
            text = "\n".join([*head, f"Story {n}", *paragraphs])
            data = (json.dumps({"url": f"{url.rstrip('/')}/bench-{n}", "text": text}) + "\n").encode()
            fh.write(data)
            n, size = n + 1, size + len(data)
    return n, size


def tree_rss_mb(pid: int, peaks: dict[str, float]) -> float:
    """Summed RSS of `pid` and its descendants (from /proc); `peaks` keeps each process's peak by role."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack += children.get(p, [])
        role = _role(p, pid)
        peaks[role] = max(peaks.get(role, 0.0), rss.get(p, 0) / 2**20)
    return total / 2**20


def _role(p: int, root: int) -> str:
    """run / prefect server / worker (the run's spawned processes, Dask's nannies and workers) / other."""
    if p == root:
        return "run"
    try:
        argv = Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return "other"
    cmd = " ".join(argv)
    if "multiprocessing" in cmd or "distributed" in cmd:
        return "worker"
    if "prefect" in cmd or "uvicorn" in cmd:
        return "prefect server"
    return "other (" + " ".join(Path(a).name for a in argv[:2])[:40] + ")"


@dataclass(frozen=True)
class CliRun:
    returncode: int
    seconds: float
    peak_mb: float  # peak summed RSS of the process tree
    peaks: dict[str, float]  # role → peak RSS of one process of that role


def docpipe_command(*args: str) -> list[str]:
    """The installed `docpipe` CLI beside this interpreter (`python -m flows` where it is not installed)."""
    script = Path(sys.executable).with_name("docpipe")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "flows", *args]


def run_cli(cmd: list[str], log: Path) -> CliRun:
    """Run `cmd` in a child process (output to `log`), sampling its process tree's RSS every 0.2 s."""
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
        peak, peaks = 0.0, {}
        while proc.poll() is None:
            peak = max(peak, tree_rss_mb(proc.pid, peaks))
            time.sleep(0.2)
    return CliRun(proc.returncode, time.perf_counter() - start, peak, peaks)


def peaks_line(peaks: dict[str, float]) -> str:
    return "peak RSS by process: " + ", ".join(f"{role} {mb:,.0f} MB" for role, mb in sorted(peaks.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=256, help="dump size in MB (default 256)")
    parser.add_argument("--keep", type=Path, help="work folder to use and keep (default: a temporary one)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_run_"))
    raw, warehouse = work / "raw", work / "warehouse"
    raw.mkdir(parents=True, exist_ok=True)
    dump = raw / "dump.jsonl"
    if not dump.exists():
        n, size = write_dump(dump, args.mb * 2**20)
    else:
        n, size = sum(1 for _ in dump.open("rb")), dump.stat().st_size
    print(f"dump: {size / 2**20:.0f} MB, {n:,} records ({dump})")
    shutil.rmtree(warehouse, ignore_errors=True)
    cmd = docpipe_command("run", "--raw", str(raw), "--warehouse", str(warehouse), "--run-id", "bench")
    run = run_cli(cmd, work / "run.out")
    print((work / "run.out").read_text()[-3000:])
    print(
        f"exit {run.returncode}; {run.seconds:.0f} s; {n / run.seconds:,.0f} records/s; "
        f"{size / 2**20 / run.seconds:.2f} MB/s; peak tree RSS {run.peak_mb:,.0f} MB"
    )
    print(peaks_line(run.peaks))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(run.returncode)


if __name__ == "__main__":
    main()
