"""How runs are named in GX's results, and Data Docs that read offline: the CSS/JS GX links from CDNs copied
next to the pages from registry packages (links rewritten, other remote assets dropped), and a plain-HTML list of
every run's validation pages at the top of GX's index."""

from __future__ import annotations

import html
import importlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

_OFFLINE_START, _OFFLINE_END = "<!-- docpipe offline index -->", "<!-- /docpipe offline index -->"
# GX (1.x) reads a run name as a date whenever it can: RunIdentifier without run_time takes dateutil's parse of
# it, and the Data Docs page renderer parses it to title each page. `20261201T105836Z-8198` parses as a time
# with a -81:98 UTC offset, which then fails (ValueError) wherever the datetime is compared or converted. A
# leading word dateutil does not know makes every name unparseable, whatever the run id's shape.
RUN_NAME_PREFIX = "docpipe-"


def gx_run_name(run_id: str) -> str:
    """The run name GX stores a run's results under: `docpipe-<run id>`, never readable as a date."""
    return RUN_NAME_PREFIX + run_id


OFFLINE_DIR = "static/offline"  # under the Data Docs root; GX's own files live in static/ beside it


@dataclass(frozen=True, slots=True)
class LocalAsset:
    """A remote asset of GX's templates and the local copy that replaces it."""

    url: re.Pattern[str]  # matches the remote URL
    target: str  # path under the Data Docs root
    package: str | None = None  # xstatic package holding the copy (None: GX already copies it into static/)
    source: str = ""  # path under the package's data folder
    siblings: tuple[str, ...] = ()  # folders the copy reads relatively (font files of a stylesheet)


# GX 1.x links Bootstrap 4.3 CSS/JS, Popper, jQuery 3.7 and Font Awesome 6.6 from CDNs. The registry's xstatic
# packages ship Bootstrap 4.5.3 (its bundle includes Popper), jQuery 3.7.1 and Font Awesome 6.2.1, which the pages'
# classes and icons render with. Not kept (no registry copy; pages read without them): bootstrap-table and its
# filters, the datepicker (the JavaScript index's filters), Vega (profiling charts), the dark theme.
LOCAL_ASSETS = (
    LocalAsset(
        re.compile(r"/bootstrap/4[.\d]*/css/bootstrap\.min\.css$"),
        f"{OFFLINE_DIR}/bootstrap.min.css",
        "bootstrap",
        "css/bootstrap.min.css",
    ),
    LocalAsset(
        re.compile(r"/bootstrap/4[.\d]*/js/bootstrap\.min\.js$"),
        f"{OFFLINE_DIR}/bootstrap.bundle.min.js",
        "bootstrap",
        "js/bootstrap.bundle.min.js",
    ),
    LocalAsset(re.compile(r"/jquery-3[.\d]*\.min\.js$"), f"{OFFLINE_DIR}/jquery.min.js", "jquery", "jquery.min.js"),
    LocalAsset(
        re.compile(r"/font-awesome/6[.\d]*/css/all\.min\.css$"),
        f"{OFFLINE_DIR}/font-awesome/css/all.min.css",
        "font_awesome",
        "css/all.min.css",
        ("webfonts",),
    ),
    LocalAsset(re.compile(r"great-expectations-web-assets[^?]*\.png"), "static/images/logo-long.png"),
)
_SCRIPT = re.compile(r'<script\b[^>]*?\bsrc="(https?://[^"]*)"[^>]*>\s*</script>', re.IGNORECASE)
_LINK = re.compile(r'<link\b[^>]*?\bhref="(https?://[^"]*)"[^>]*>', re.IGNORECASE)
_IMG = re.compile(r'(<img\b[^>]*?\bsrc=")(https?://[^"]*)("[^>]*>)', re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*['"]?(https?://[^'")]*)['"]?\s*\)""", re.IGNORECASE)


def _local(url: str) -> LocalAsset | None:
    return next((a for a in LOCAL_ASSETS if a.url.search(url)), None)


def copy_local_assets(root: Path) -> None:
    """Copy the xstatic files of LOCAL_ASSETS under the Data Docs root (once; GX never removes them)."""
    for asset in LOCAL_ASSETS:
        if asset.package is None or (root / asset.target).exists():
            continue
        data = Path(importlib.import_module(f"xstatic.pkg.{asset.package}").BASE_DIR)
        target = root / asset.target
        target.parent.mkdir(parents=True, exist_ok=True)
        for folder in asset.siblings:  # laid out as in the package, relative to the file's folder's parent
            src = (data / asset.source).parent.parent / folder
            shutil.copytree(src, target.parent.parent / folder, dirs_exist_ok=True)
        shutil.copyfile(data / asset.source, target)


def localize_page(text: str, page: Path, root: Path) -> str:
    """The page with each remote asset pointed at its local copy (relative to the page) or removed."""

    def relative(asset: LocalAsset) -> str:
        return Path(os.path.relpath(root / asset.target, page.parent)).as_posix()

    def script(m: re.Match[str]) -> str:
        asset = _local(m.group(1))
        return f'<script src="{relative(asset)}"></script>' if asset else ""

    def link(m: re.Match[str]) -> str:
        asset = _local(m.group(1))
        return f'<link rel="stylesheet" href="{relative(asset)}">' if asset else ""

    def image(m: re.Match[str]) -> str:
        asset = _local(m.group(2))
        return m.group(1) + relative(asset) + m.group(3) if asset else ""

    def css_url(m: re.Match[str]) -> str:
        asset = _local(m.group(1))
        return f"url('{relative(asset)}')" if asset else "none"

    for pattern, replace in ((_SCRIPT, script), (_LINK, link), (_IMG, image), (_CSS_URL, css_url)):
        text = pattern.sub(replace, text)
    return text


def localize_data_docs(root: Path) -> None:
    """Make every Data Docs page (and stylesheet) under `root` load its CSS, JavaScript, fonts and images locally."""
    copy_local_assets(root)
    for page in [*root.rglob("*.html"), *root.rglob("*.css")]:
        text = page.read_text(encoding="utf-8")
        local = localize_page(text, page, root)
        if local != text:
            page.write_text(local, encoding="utf-8")


def add_offline_index(index: Path) -> None:
    """Make GX's Data Docs read offline (`localize_data_docs`) and put a plain-HTML list of every stored
    validation page (newest run first) at the top of GX's index.html.

    GX draws its own list with JavaScript (bootstrap-table) that has no local copy."""
    root = index.parent
    localize_data_docs(root)
    pages = sorted(root.glob("validations/**/*.html"), key=lambda p: p.relative_to(root).parts[-3:-1], reverse=True)
    rows = []
    for page in pages:
        parts = page.relative_to(root).parts  # validations/<suite…>/<run name>/<time>/<batch>.html
        suite, run, when = "/".join(parts[1:-3]), parts[-3].removeprefix(RUN_NAME_PREFIX), parts[-2]
        rows.append(
            f"<tr><td>{html.escape(run)}</td><td>{html.escape(when)}</td>"
            f'<td><a href="{html.escape(page.relative_to(root).as_posix())}">{html.escape(suite)}</a></td></tr>'
        )
    section = (
        f'{_OFFLINE_START}<section style="margin:1em;font-family:sans-serif"><h2>Validation results</h2>'
        '<table class="table table-sm table-bordered w-auto" border=1 cellpadding=4>'
        "<tr><th>run</th><th>validated at</th><th>suite</th></tr>" + "".join(rows) + f"</table></section>{_OFFLINE_END}"
    )
    text = index.read_text(encoding="utf-8")
    if _OFFLINE_START in text:
        text = text[: text.index(_OFFLINE_START)] + text[text.index(_OFFLINE_END) + len(_OFFLINE_END) :]
    index.write_text(text.replace("<body>", "<body>" + section, 1), encoding="utf-8")
