"""Validate the seed pages into a warehouse's Data Docs and screenshot the index in headless Chromium.

    .venv/bin/python bench/screenshot_reports.py [--warehouse warehouse]

Installs Chromium with apt-get when it is missing. Writes <warehouse>/_reports/gx/index.html (GX file context in
<warehouse>/_gx) and <warehouse>/_reports/gx_index.png; prints both paths.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


from _chromium import screenshot  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", type=Path, default=ROOT / "warehouse")
    warehouse = parser.parse_args().warehouse.resolve()
    from screenshot_data_docs import seed_tables

    from tasks.history import History
    from tasks.validate import ValidateConfig, load_history, validate_tables

    tables = seed_tables()
    cfg = ValidateConfig()
    stats = validate_tables(tables, cfg, load_history(History.latest(warehouse), cfg), warehouse).stats
    png = warehouse / "_reports" / "gx_index.png"
    screenshot(Path(stats["report"]), png, 1400, 1000, install=True)
    print(f"report: {stats['report']}\nscreenshot: {png}")


if __name__ == "__main__":
    main()
