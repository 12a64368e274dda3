"""Data Docs read offline: real GX Data Docs of two validations of the seed pages load every CSS, JavaScript,
font and image from local files (copied from registry packages), none from a CDN."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest
from helpers import clean, ingest, seed_dir

from schemas import DOCUMENTS
from tasks.dedupe import DedupeConfig, dedupe_pages
from tasks.extract import ExtractConfig, extract_fields
from tasks.validate import ValidateConfig, validate_tables
from tasks.validate.reports import OFFLINE_DIR, add_offline_index, localize_page

# Written independently of tasks/validate/reports.py's patterns: any attribute or CSS url() that loads a remote file.
REMOTE_ASSET = re.compile(
    r"""<(?:script|img|iframe|source|embed)\b[^>]*\bsrc\s*=\s*['"]?https?:"""
    r"""|<link\b[^>]*\bhref\s*=\s*['"]?https?:|url\(\s*['"]?https?:|@import\s+['"]https?:""",
    re.IGNORECASE,
)
LOCAL_REF = re.compile(r"""(?:\bsrc|<link\b[^>]*\bhref)="([^"#]+)"|url\('([^']+)'\)""", re.IGNORECASE)


@pytest.fixture(scope="module")
def docs_root(tmp_path_factory) -> Path:
    """Data Docs of two validations (runs `test-run` and `run-two`) of the seed pages in one warehouse."""
    base = tmp_path_factory.mktemp("docs")
    pages = dedupe_pages(
        clean(ingest(seed_dir(base)).kept).kept, DOCUMENTS.empty().select(["doc_id", "content_hash"]), DedupeConfig()
    )
    result = extract_fields(pages.kept, ExtractConfig())
    tables = {"documents": result.kept, **result.outputs, "duplicates": pages.outputs["duplicates"]}
    warehouse = base / "warehouse"
    validate_tables(tables, ValidateConfig(), warehouse=warehouse)
    docs = tables["documents"]
    run_two = docs.set_column(docs.schema.get_field_index("run_id"), "run_id", pa.array(["run-two"] * docs.num_rows))
    report = validate_tables({**tables, "documents": run_two}, ValidateConfig(), warehouse=warehouse).stats["report"]
    return Path(report).parent


def _pages(root: Path) -> list[Path]:
    return sorted(root.rglob("*.html"))


def test_no_page_loads_a_remote_asset(docs_root):
    pages = _pages(docs_root)
    validation_pages = [p for p in pages if p.is_relative_to(docs_root / "validations")]
    assert len(validation_pages) >= 10  # both runs' pages of every suite
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not REMOTE_ASSET.findall(text), page
    for sheet in docs_root.rglob("*.css"):
        assert not REMOTE_ASSET.findall(sheet.read_text(encoding="utf-8")), sheet


def test_local_assets_exist_and_every_page_uses_them(docs_root):
    bootstrap = docs_root / OFFLINE_DIR / "bootstrap.min.css"
    assert "Bootstrap v4" in bootstrap.read_text(encoding="utf-8")[:200]
    icons = (docs_root / OFFLINE_DIR / "font-awesome" / "css" / "all.min.css").read_text(encoding="utf-8")
    fonts = set(re.findall(r"url\(\.\./webfonts/([^)]+)\)", icons))
    assert "fa-solid-900.woff2" in fonts
    assert all((docs_root / OFFLINE_DIR / "font-awesome" / "webfonts" / f).is_file() for f in fonts)
    for page in _pages(docs_root):
        text = page.read_text(encoding="utf-8")
        refs = [a or b for a, b in LOCAL_REF.findall(text)]
        used = {(page.parent / ref).resolve() for ref in refs if not ref.startswith(("http:", "https:", "data:"))}
        assert bootstrap.resolve() in used, page  # styled: the local Bootstrap
        assert (docs_root / OFFLINE_DIR / "jquery.min.js").resolve() in used, page
        assert "fas fa-" not in text or (docs_root / OFFLINE_DIR / "font-awesome/css/all.min.css").resolve() in used
        assert all(path.is_file() for path in used if path.is_relative_to(docs_root / "static")), page


def test_localizing_again_changes_nothing(docs_root):
    before = {p: p.read_bytes() for p in _pages(docs_root)}
    add_offline_index(docs_root / "index.html")
    assert {p: p.read_bytes() for p in _pages(docs_root)} == before


def test_known_cdn_assets_point_at_local_copies_and_others_are_dropped(tmp_path):
    root = tmp_path / "docs"
    page = root / "validations" / "suite" / "run" / "page.html"
    html = (
        '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>'
        '<script src="https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js" integrity="sha384-x" '
        'crossorigin="anonymous"></script>'
        '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>'
        "<style>.x { background-image: url('https://cdn.example.org/unknown.png'); }</style>"
        '<a href="https://greatexpectations.io">GX</a>'
    )
    local = localize_page(html, page, root)
    assert '<link rel="stylesheet" href="../../../static/offline/bootstrap.min.css">' in local
    assert '<script src="../../../static/offline/bootstrap.bundle.min.js"></script>' in local
    assert "integrity" not in local and "vega" not in local and "url(none)" not in local and "none;" in local
    assert '<a href="https://greatexpectations.io">' in local  # a link to follow is no asset to load
