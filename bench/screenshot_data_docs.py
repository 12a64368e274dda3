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
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from _chromium import CHROMIUM_FLAGS, chromium  # noqa: E402

REMOTE_ASSET = re.compile(r"""(?:\bsrc=|<link\b[^>]*\bhref=|url\()\s*['"]?https?://""", re.IGNORECASE)


def validate_seeds(warehouse: Path) -> Path:
    """Run the seed pages through the stages up to validate, with Data Docs in `warehouse`; the docs root."""
    from helpers import clean, ingest, seed_dir

    from schemas import DOCUMENTS
    from tasks.dedupe import DedupeConfig, dedupe_pages
    from tasks.extract import ExtractConfig, extract_fields
    from tasks.validate import ValidateConfig, validate_tables

    raw = seed_dir(Path(tempfile.mkdtemp()))
    pages = dedupe_pages(
        clean(ingest(raw, run_id="screenshot").kept).kept,
        DOCUMENTS.empty().select(["doc_id", "content_hash"]),
        DedupeConfig(),
    )
    result = extract_fields(pages.kept, ExtractConfig())
    tables = {"documents": result.kept, **result.outputs, "duplicates": pages.outputs["duplicates"]}
    return Path(validate_tables(tables, ValidateConfig(), warehouse=warehouse).stats["report"]).parent


def offline_prefix() -> list[str]:
    """`unshare -rn` when a new network namespace can be made here, else nothing."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-rn"]
    return []


def screenshot_offline(page: Path, png: Path, width: int = 1400, height: int = 1800) -> Path:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            *offline_prefix(),
            chromium(install=True),
            *CHROMIUM_FLAGS,
            "--proxy-server=127.0.0.1:9",  # nothing listens there: any fetch that escapes fails
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={width},{height}",
            page.resolve().as_uri(),
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return png


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp()))
    parser.add_argument("--suite", default="documents")
    args = parser.parse_args()
    root = validate_seeds(args.out.resolve() / "warehouse")
    page = next(root.glob(f"validations/{args.suite}/*/*/docpipe-{args.suite}.html"))
    png = screenshot_offline(page, args.out.resolve() / f"data_docs_{args.suite}.png")
    remote = sum(len(REMOTE_ASSET.findall(p.read_text(encoding="utf-8"))) for p in root.rglob("*.html"))
    print(f"page: {page}\nscreenshot: {png}\nremote asset links in {root}: {remote}")


if __name__ == "__main__":
    main()
