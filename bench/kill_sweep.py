"""Kill a real `docpipe run` at seeded moments, resume it by its id, and compare each warehouse with a clean run's.

    .venv/bin/python bench/kill_sweep.py --points 20 [--seed 7] [--pages 60] [--keep DIR]

The raw folder: the five seeds and the first `--pages` corpus pages as a JSON Lines dump (copied to a temporary
folder: ../shared is read in place). A clean run gives the reference warehouse and, from its run.log, how long
each phase took (Prefect's start-up, then each stage). Point i targets phase i mod 7 (start-up, ingest, …,
publish): it starts the same run in a fresh warehouse (the CLI in its own process group, as a scheduler would),
waits for the phase to begin (the run's record, or the stage's ▶ line in its log), then a seeded share of the
phase's clean duration, and SIGKILLs the whole group — so kills spread from start-up to the last commit whatever
the machine's load. Then `docpipe rerun ID` (with `--raw` when the kill came before the run was recorded) and
every table (time and run-id columns aside) is compared with the clean warehouse. The last line is
`K/N points clean`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("DOCPIPE_SHARED", ROOT.parent / "shared"))

from schemas.runs import STAGES  # noqa: E402
from tasks._warehouse import read_current  # noqa: E402
from tasks.publish import PLAN  # noqa: E402

_VOLATILE = ("run_id", "mtime_ns")


def _raw(folder: Path, pages: int) -> Path:
    raw = folder / "raw"
    raw.mkdir(parents=True)
    for seed in sorted((SHARED / "seeds").glob("*.txt")):
        shutil.copy(seed, raw / seed.name)
    with (SHARED / "corpus" / "pages.jsonl").open(encoding="utf-8") as src, (raw / "dump.jsonl").open("w") as out:
        for _, line in zip(range(pages), src, strict=False):
            out.write(line)
    return raw


def _cli(*args: str, env: dict[str, str], log: Path, timeout: float = 900) -> int:
    with log.open("a") as out:
        return subprocess.run(
            [sys.executable, "-m", "flows", *args], stdout=out, stderr=subprocess.STDOUT, env=env, timeout=timeout
        ).returncode


def snapshot(warehouse: Path) -> dict[str, list[str]]:
    """Every table's rows as sorted JSON, without the columns that say when or in which run."""
    out = {}
    for table in (w.table for w in PLAN):
        data = read_current(warehouse, table)
        keep = [c for c in data.column_names if not c.endswith("_at") and c not in _VOLATILE]
        out[table.name] = sorted(json.dumps(r, sort_keys=True, default=str) for r in data.select(keep).to_pylist())
    return out


def _killed_at(warehouse: Path, run_id: str) -> str:
    """Where the kill landed: the last line of the run's log, or the start-up."""
    log = warehouse / "_runs" / run_id / "run.log"
    if not log.is_file():
        recorded = (warehouse / "_runs" / run_id / "run.json").is_file()
        return "start-up (recorded)" if recorded else "start-up (not recorded)"
    lines = [line.split(" ", 3)[-1] for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[-1][:60] if lines else "start-up"


PHASES = ("start-up", *STAGES)


def _log_times(run_folder: Path) -> list[tuple[datetime, str]]:
    lines = (run_folder / "run.log").read_text(encoding="utf-8").splitlines()
    return [(datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f"), line[24:].split(" ", 1)[1]) for line in lines]


def phase_seconds(run_folder: Path) -> dict[str, float]:
    """How long each phase of a finished run took, from its run.json (recorded before Prefect starts) and log."""
    started = datetime.fromisoformat(json.loads((run_folder / "run.json").read_text())["started_at"])
    times = _log_times(run_folder)
    out = {"start-up": (times[0][0] - started.replace(tzinfo=None)).total_seconds()}
    for stage in STAGES:
        begin = next(t for t, text in times if text.startswith(f"▶ {stage}"))
        end = next(t for t, text in times if text[2:].startswith(stage) and text[0] in "✓↷✗")
        out[stage] = (end - begin).total_seconds()
    return out


def _phase_began(warehouse: Path, run_id: str, phase: str) -> bool:
    folder = warehouse / "_runs" / run_id
    if phase == "start-up":
        return (folder / "run.json").is_file()
    return (folder / "run.log").is_file() and any(text.startswith(f"▶ {phase}") for _, text in _log_times(folder))


def sweep_point(
    raw: Path, warehouse: Path, run_id: str, phase: str, delay: float, env: dict[str, str], log: Path
) -> str:
    """Start the run, SIGKILL its process group `delay` seconds after `phase` began (if still running), resume
    it; returns where the kill landed."""
    cmd = [sys.executable, "-m", "flows", "run", "--raw", str(raw), "--warehouse", str(warehouse), "--run-id", run_id]
    with log.open("a") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            while proc.poll() is None and not _phase_began(warehouse, run_id, phase):
                time.sleep(0.02)
            proc.wait(timeout=delay)
            landed = "after the run ended"
        except subprocess.TimeoutExpired:
            landed = _killed_at(warehouse, run_id)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the run and its temporary Prefect server
            proc.wait()
    resume = ["rerun", run_id, "--warehouse", str(warehouse)]
    if not (warehouse / "_runs" / run_id / "run.json").is_file():
        resume += ["--raw", str(raw)]
    code = _cli(*resume, env=env, log=log)
    return landed if code == 0 else f"{landed}; rerun exit {code}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pages", type=int, default=60, help="corpus pages in the dump, beside the five seeds")
    parser.add_argument("--keep", type=Path, help="keep the warehouses here")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="kill_sweep_"))
    base.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    raw = _raw(base, args.pages)
    log = base / "sweep.log"
    assert (
        _cli("run", "--raw", str(raw), "--warehouse", str(base / "clean"), "--run-id", "clean", env=env, log=log) == 0
    )
    seconds = phase_seconds(base / "clean" / "_runs" / "clean")
    clean = snapshot(base / "clean")
    print(f"clean run: {sum(len(v) for v in clean.values())} rows in {len(clean)} tables; phase seconds:", seconds)
    rng = random.Random(args.seed)
    n_clean = 0
    for i in range(args.points):
        phase = PHASES[i % len(PHASES)]
        delay = seconds[phase] * rng.uniform(0.05, 0.95)
        warehouse = base / f"w{i:02d}"
        landed = sweep_point(raw, warehouse, f"sweep-{i:02d}", phase, delay, env, log)
        differs = [name for name, rows in snapshot(warehouse).items() if rows != clean[name]]
        n_clean += not differs
        verdict = "clean" if not differs else f"DIFFERS in {', '.join(differs)}"
        print(f"point {i + 1:2d}: {phase} + {delay:4.1f} s, killed at: {landed} → {verdict}", flush=True)
    print(f"{n_clean}/{args.points} points clean")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
