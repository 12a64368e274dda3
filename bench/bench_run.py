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
import bisect
import hashlib
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

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


@dataclass(frozen=True, slots=True)
class ProcSample:
    pid: int
    role: str
    rss_mb: float
    cpu_s: float  # user + system seconds so far


def tree_sample(pid: int) -> list[ProcSample]:
    """RSS and CPU seconds of `pid` and each of its descendants (from /proc), with each process's role."""
    children: dict[int, list[int]] = {}
    usage: dict[int, tuple[int, float]] = {}
    page, tick = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            usage[int(entry)] = (int(fields[21]) * page, (int(fields[11]) + int(fields[12])) / tick)
        except (OSError, ValueError):
            continue
    samples, stack = [], [pid]
    while stack:
        p = stack.pop()
        stack += children.get(p, [])
        if usage.get(p, (0, 0.0))[0]:  # a zombie (0 RSS) is no process to measure
            samples.append(ProcSample(p, _role(p, pid), usage[p][0] / 2**20, usage[p][1]))
    return samples


def tree_rss_mb(pid: int, peaks: dict[str, float]) -> float:
    """Summed RSS of `pid` and its descendants (from /proc); `peaks` keeps each process's peak by role."""
    samples = tree_sample(pid)
    for s in samples:
        peaks[s.role] = max(peaks.get(s.role, 0.0), s.rss_mb)
    return sum(s.rss_mb for s in samples)


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
    cpu: dict[str, float] = field(default_factory=dict)  # role → CPU seconds of its processes (last seen)
    started: float = 0.0  # epoch seconds at the start (lines of the run's log are timed in local time)


def link_parquet(source: str, target: str) -> None:
    """Hard-link a Parquet file (Delta never rewrites a data file: a night writes new ones), copy anything else
    (Delta logs, DuckDB and Prefect databases are written in place)."""
    if source.endswith(".parquet"):
        os.link(source, target)
    else:
        shutil.copy2(source, target)


def docpipe_command(*args: str) -> list[str]:
    """The installed `docpipe` CLI beside this interpreter (`python -m flows` where it is not installed)."""
    script = Path(sys.executable).with_name("docpipe")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "flows", *args]


def run_cli(cmd: list[str], log: Path, timeline: Path | None = None, cpus: int = 0) -> CliRun:
    """Run `cmd` in a child process (output to `log`), sampling its process tree's RSS and CPU every 0.2 s;
    with `timeline`, every sample of every process as a TSV line: seconds since start, pid, role, RSS MB, CPU s,
    the wall clock's epoch seconds (`clock_map`);
    with `cpus`, the process tree runs on the first `cpus` CPUs only (its children inherit the affinity)."""
    pin = (lambda: os.sched_setaffinity(0, range(cpus))) if cpus else None
    started, start = time.time(), time.perf_counter()
    cpu: dict[int, tuple[str, float]] = {}
    with log.open("w") as out, (timeline or Path(os.devnull)).open("w") as tsv:
        tsv.write("t\tpid\trole\trss_mb\tcpu_s\tepoch\n")
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True, preexec_fn=pin)
        peak, peaks = 0.0, {}
        while proc.poll() is None:
            samples, t, epoch = tree_sample(proc.pid), time.perf_counter() - start, time.time()
            peak = max(peak, sum(s.rss_mb for s in samples))
            for s in samples:
                peaks[s.role] = max(peaks.get(s.role, 0.0), s.rss_mb)
                cpu[s.pid] = (s.role, s.cpu_s)
                tsv.write(f"{t:.1f}\t{s.pid}\t{s.role}\t{s.rss_mb:.0f}\t{s.cpu_s:.2f}\t{epoch:.2f}\n")
            time.sleep(0.2)
    by_role: dict[str, float] = {}
    for role, seconds in cpu.values():
        by_role[role] = by_role.get(role, 0.0) + seconds
    return CliRun(proc.returncode, time.perf_counter() - start, peak, peaks, by_role, started)


class TimelineSample(NamedTuple):
    """One row of a `run_cli` timeline: one process at one sample (`epoch`: None in timelines written before it)."""

    t: float
    pid: str
    cpu_s: float
    epoch: float | None


def timeline_samples(timeline: Path) -> Iterator[TimelineSample]:
    """The rows of a `run_cli` timeline (t, pid, role, rss_mb, cpu_s[, epoch])."""
    for line in timeline.read_text().splitlines()[1:]:
        t, pid, _role, _rss, cpu, *epoch = line.split("\t")
        yield TimelineSample(float(t), pid, float(cpu), float(epoch[0]) if epoch else None)


def tree_cpu(timeline: Path) -> list[tuple[float, float]]:
    """(seconds since start, CPU seconds the process tree has used so far) at each sample of a `run_cli` timeline;
    a process that exited counts with its last sample."""
    last: dict[str, float] = {}
    points: list[tuple[float, float]] = []
    for s in timeline_samples(timeline):
        last[s.pid] = s.cpu_s
        if points and points[-1][0] == s.t:
            points[-1] = (s.t, sum(last.values()))
        else:
            points.append((s.t, sum(last.values())))
    return points


def clock_map(timeline: Path, started: float) -> Callable[[float], float]:
    """Seconds since the start of a run (`CliRun.started`, its epoch) of a wall-clock instant (the run log's
    timestamps), read off a `run_cli` timeline whose samples hold both clocks: the sample last at or before the
    instant, plus the rest (at most up to the next sample). When the host's clock steps forward during a run, the
    log's timestamps step with the samples', so a phase keeps its monotonic length (to a sample, 0.2 s) where
    `epoch − started` would add the step to it. Without samples holding the epoch (a timeline written before
    them): `epoch − started`."""
    points: list[tuple[float, float]] = []
    for s in timeline_samples(timeline):
        if s.epoch is not None and (not points or points[-1][0] != s.t):
            points.append((s.t, s.epoch))
    epochs = [e for _, e in points]

    def since_start(at: float) -> float:
        i = bisect.bisect_right(epochs, at) - 1
        if i < 0:
            return at - started
        later = points[i + 1][0] if i + 1 < len(points) else math.inf
        return min(points[i][0] + at - epochs[i], later)

    return since_start


def idle_line(points: list[tuple[float, float]], phases: list[tuple[str, float, float]], cores: int) -> str:
    """Core-seconds left idle in each phase (name, start, end in seconds since start): `cores` × wall − the
    tree's CPU seconds between the samples nearest its ends. Where a run fails to use every core."""
    times = [t for t, _ in points]

    def cpu_at(t: float) -> float:
        i = max(bisect.bisect_right(times, t) - 1, 0)
        return points[i][1] if points else 0.0

    parts, total = [], 0.0
    for name, start, end in phases:
        idle = cores * (end - start) - (cpu_at(end) - cpu_at(start))
        total += idle
        parts.append(f"{name} {idle:.1f} ({cpu_at(end) - cpu_at(start):.1f} CPU s in {end - start:.1f} s)")
    return f"idle core-seconds on {cores} cores: {total:.1f}: " + ", ".join(parts)


def peaks_line(peaks: dict[str, float]) -> str:
    return "peak RSS by process: " + ", ".join(f"{role} {mb:,.0f} MB" for role, mb in sorted(peaks.items()))


def cpu_line(cpu: dict[str, float]) -> str:
    """CPU seconds by role (all processes of a role together): unlike wall time, not inflated by a busy machine."""
    total = sum(cpu.values())
    return f"CPU {total:,.1f} s: " + ", ".join(f"{role} {s:,.1f} s" for role, s in sorted(cpu.items()))


def host_calibration(repeats: int = 3) -> float:
    """CPU seconds (best of `repeats`) of a fixed single-core workload in this process: NFKC, case folding,
    blake2b and a word regex over 200,000 seeded lines, and a sort — the kind of work strip and extract do, written
    here so that it never changes with docpipe. Hosts of the same kind measured 1.9x apart on different days
    (NOTES.md): bench figures compare only between runs whose calibration is close."""
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyzéàü"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(5000)]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 20))) for _ in range(40_000)]
    word = re.compile(r"\w+")
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for line in lines * 5:
            norm = " ".join(unicodedata.normalize("NFKC", line).casefold().split())
            hashlib.blake2b(norm.encode(), digest_size=8).digest()
            word.findall(norm)
        sorted(lines)
        best = min(best, time.process_time() - start)
    return best


def calibration_line(when: str) -> str:
    return f"host calibration {when}: {host_calibration():.3f} s (bench_run.host_calibration; lower is faster)"


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
    print(calibration_line("before the run"))
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
