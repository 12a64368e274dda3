"""Screenshot a run report in headless Chromium, to look at what analysts see.

    python bench/screenshot_report.py [--warehouse warehouse] [--run-id ID]

Writes (or rewrites) warehouse/_reports/run-<id>.html, then run-<id>.png beside it (not committed).
Needs Debian's chromium (`apt-get install -y chromium`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _chromium import screenshot  # noqa: E402

from handoff.report import write_run_report  # noqa: E402
from schemas import RUNS  # noqa: E402
from tasks._warehouse import read_current  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, default=ROOT / "warehouse")
    parser.add_argument("--run-id", default=None, help="default: the latest run")
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args()
    run_id = args.run_id
    if run_id is None:
        runs = read_current(args.warehouse, RUNS, ["run_id", "finished_at"]).sort_by("finished_at").to_pylist()
        if not runs:
            raise SystemExit(f"no run in {args.warehouse}")
        run_id = runs[-1]["run_id"]
    page = write_run_report(args.warehouse, run_id)
    png = screenshot(page, page.with_suffix(".png"), 1280, args.height)
    print(f"{page}\n{png}")


if __name__ == "__main__":
    main()
