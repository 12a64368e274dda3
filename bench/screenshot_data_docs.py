"""Validate the seed pages into Data Docs and screenshot a validation page in headless Chromium with no network.

    .venv/bin/python bench/screenshot_data_docs.py [--out DIR] [--suite documents]

Chromium runs in a new network namespace (`unshare -rn`: no interface at all) when the machine allows it, else
behind an unreachable proxy, so only local files can style the page. Installs Chromium with apt-get when it is
missing. Writes DIR/warehouse/_reports/gx/… and DIR/data_docs_<suite>.png; prints the page, the PNG and the
remote asset links left in the pages (0 expected).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from _chromium import screenshot  # noqa: E402

REMOTE_ASSET = re.compile(r"""(?:\bsrc=|<link\b[^>]*\bhref=|url\()\s*['"]?https?://""", re.IGNORECASE)


def seed_tables() -> dict:
    """The seed pages through ingest → strip → dedupe → extract: the tables validate takes."""
    from helpers import clean, ingest, seed_dir

    from schemas import DOCUMENTS
    from tasks.dedupe import DedupeConfig, dedupe_pages
    from tasks.extract import ExtractConfig, extract_fields

    raw = seed_dir(Path(tempfile.mkdtemp()))
    pages = dedupe_pages(
        clean(ingest(raw, run_id="screenshot").kept).kept,
        DOCUMENTS.empty().select(["doc_id", "content_hash"]),
        DedupeConfig(),
    )
    result = extract_fields(pages.kept, ExtractConfig())
    return {"documents": result.kept, **result.outputs, "duplicates": pages.outputs["duplicates"]}


def validate_seeds(warehouse: Path) -> Path:
    """Run the seed pages through the stages up to validate, with Data Docs in `warehouse`; the docs root."""
    from tasks.validate import ValidateConfig, validate_tables

    return Path(validate_tables(seed_tables(), ValidateConfig(), warehouse=warehouse).stats["report"]).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp()))
    parser.add_argument("--suite", default="documents")
    args = parser.parse_args()
    root = validate_seeds(args.out.resolve() / "warehouse")
    page = next(root.glob(f"validations/{args.suite}/*/*/docpipe-{args.suite}.html"))
    png = screenshot(page, args.out.resolve() / f"data_docs_{args.suite}.png", 1400, 1800, install=True, offline=True)
    remote = sum(len(REMOTE_ASSET.findall(p.read_text(encoding="utf-8"))) for p in root.rglob("*.html"))
    print(f"page: {page}\nscreenshot: {png}\nremote asset links in {root}: {remote}")


if __name__ == "__main__":
    main()
