"""Validate the seed pages into a warehouse's Data Docs and screenshot the index in headless Chromium.

    .venv/bin/python bench/screenshot_reports.py [--warehouse warehouse]

Installs Chromium with apt-get when it is missing. Writes <warehouse>/_reports/gx/index.html (GX file context in
<warehouse>/_gx) and <warehouse>/_reports/gx_index.png; prints both paths.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


from _chromium import screenshot  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", type=Path, default=ROOT / "warehouse")
    warehouse = parser.parse_args().warehouse.resolve()
    from helpers import clean, ingest, seed_dir

    from schemas import DOCUMENTS
    from tasks.dedupe import DedupeConfig, dedupe_pages
    from tasks.extract import ExtractConfig, extract_fields
    from tasks.validate import ValidateConfig, load_history, validate_tables

    raw = seed_dir(Path(tempfile.mkdtemp()))
    pages = dedupe_pages(
        clean(ingest(raw, run_id="screenshot").kept).kept,
        DOCUMENTS.empty().select(["doc_id", "content_hash"]),
        DedupeConfig(),
    )
    result = extract_fields(pages.kept, ExtractConfig())
    tables = {"documents": result.kept, **result.outputs, "duplicates": pages.outputs["duplicates"]}
    cfg = ValidateConfig()
    stats = validate_tables(tables, cfg, load_history(warehouse, cfg), warehouse).stats
    png = warehouse / "_reports" / "gx_index.png"
    screenshot(Path(stats["report"]), png, 1400, 1000, install=True)
    print(f"report: {stats['report']}\nscreenshot: {png}")


if __name__ == "__main__":
    main()
