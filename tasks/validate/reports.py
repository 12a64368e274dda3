"""How runs are named in GX's results, and Data Docs that read offline: a plain-HTML list of every run's
validation pages at the top of GX's index."""

from __future__ import annotations

import html
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


def add_offline_index(index: Path) -> None:
    """Put a plain-HTML list of every stored validation page (newest run first) at the top of GX's index.html.

    GX draws its own list with JavaScript from CDNs, which shows nothing on a machine without internet."""
    root = index.parent
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
        "<table border=1 cellpadding=4><tr><th>run</th><th>validated at</th><th>suite</th></tr>"
        + "".join(rows)
        + f"</table></section>{_OFFLINE_END}"
    )
    text = index.read_text(encoding="utf-8")
    if _OFFLINE_START in text:
        text = text[: text.index(_OFFLINE_START)] + text[text.index(_OFFLINE_END) + len(_OFFLINE_END) :]
    index.write_text(text.replace("<body>", "<body>" + section, 1), encoding="utf-8")
