"""Kill a real `docpipe run` at seeded moments, resume it by its id, and compare each warehouse with a clean run's.

    .venv/bin/python bench/kill_sweep.py --points 20 [--seed 7] [--pages 60] [--keep DIR]

The raw folder: the five seeds and the first `--pages` corpus pages as a JSON Lines dump (copied to a temporary
folder: ../shared is read in place). A clean run gives the reference warehouse and the run's duration T. Each
point starts the same run in a fresh warehouse (the CLI in its own process group, as a scheduler would), SIGKILLs
the whole group at a moment drawn in its slice of [0, T] (stratified, seeded: kills spread from Prefect's
start-up to the last commit), then `docpipe rerun ID` — with `--raw` when the kill came before the run was
recorded — and compares every table (time and run-id columns aside) with the clean warehouse. The last line is
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("DOCPIPE_SHARED", ROOT.parent / "shared"))

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


def sweep_point(raw: Path, warehouse: Path, run_id: str, at: float, env: dict[str, str], log: Path) -> str:
    """Start the run, SIGKILL its process group after `at` seconds (if still running), resume it; returns where
    the kill landed."""
    cmd = [sys.executable, "-m", "flows", "run", "--raw", str(raw), "--warehouse", str(warehouse), "--run-id", run_id]
    with log.open("a") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            proc.wait(timeout=at)
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
    start = time.monotonic()
    assert _cli("run", "--raw", str(raw), "--warehouse", str(base / "clean"), env=env, log=log) == 0, log
    duration = time.monotonic() - start
    clean = snapshot(base / "clean")
    print(f"clean run: {duration:.1f} s, {sum(len(v) for v in clean.values())} rows in {len(clean)} tables")
    rng = random.Random(args.seed)
    n_clean = 0
    for i in range(args.points):
        at = duration * (i + rng.uniform(0.05, 0.95)) / args.points
        warehouse = base / f"w{i:02d}"
        landed = sweep_point(raw, warehouse, f"sweep-{i:02d}", at, env, log)
        differs = [name for name, rows in snapshot(warehouse).items() if rows != clean[name]]
        n_clean += not differs
        verdict = "clean" if not differs else f"DIFFERS in {', '.join(differs)}"
        print(f"point {i + 1:2d}: kill at {at:5.1f} s ({landed}) → {verdict}", flush=True)
    print(f"{n_clean}/{args.points} points clean")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
