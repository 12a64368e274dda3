"""Saved HTML pages to body text: main content by trafilatura (precision-favouring), title from its metadata."""

from __future__ import annotations

import trafilatura


def html_to_text(html: str, url: str | None) -> tuple[str, str | None]:
    """The page's main text and its title (None when the page has none)."""
    doc = trafilatura.bare_extraction(html, url=url, favor_precision=True, with_metadata=True, include_comments=False)
    if doc is None:
        return "", None
    return doc.text or "", doc.title or None
