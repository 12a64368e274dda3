"""Saved HTML pages to body text: trafilatura (precision-favouring) checked against readability-lxml.

Steps, each measured on ../shared/benchmarks/article-extraction (bench/eval_html.py prints the figures):
1. primary: trafilatura, precision-favouring, title from its metadata;
2. arbitration: when the primary shares almost nothing with readability's article, it picked the wrong block
   (or nothing): a third opinion (trafilatura, balanced) is taken and the candidate that agrees best with the
   other two wins;
3. fill: when readability's article contains the primary and is clearly longer, its prose lines after the
   primary's first line that the primary lacks are added (trafilatura stops early on some layouts);
4. cleanup: leading lines that repeat the title (the title is kept apart, in `title_hint`) and link-dense
   lines that are no sentence (related-story teasers, "Read more: …", tag lists) are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import lxml.html
import trafilatura
from readability import Document
from readability.readability import Unparseable

_WORD = re.compile(r"\w+")
_SENTENCE_END = tuple(".!?…。！？\"”’')»")
_BLOCKS = ("p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "td", "th", "dd", "dt")
_SHINGLE = 4


@dataclass(frozen=True, slots=True)
class HtmlConfig:
    """Thresholds of the HTML path (measured on the article-extraction benchmark)."""

    max_disagreement_f1: float = 0.2  # primary vs readability shingle F1 below this: ask a third extractor
    min_fill_ratio: float = 1.3  # readability text at least this much longer than the primary to fill from it
    min_fill_cover: float = 0.8  # ... and holding at least this share of the primary's shingles
    min_fill_words: int = 10  # a filled line is prose: this many words and a sentence end
    min_link_share: float = 0.8  # a line whose text is this much link text, without a sentence end, is dropped
    drop_title_lines: bool = True  # leading lines repeating the title go (it is kept apart, in title_hint)


def html_to_text(html: str, url: str | None, cfg: HtmlConfig = HtmlConfig()) -> tuple[str, str | None]:
    """The page's main text and its title (None when the page has none)."""
    if not html.strip():
        return "", None
    text, title = _trafilatura(html, url, precision=True)
    article = _readability(html)
    if _agreement(text, article) < cfg.max_disagreement_f1:
        third, _ = _trafilatura(html, url, precision=False)
        text = _medoid([text, article, third])
    text = _fill(text, article, cfg)
    lines = _drop_title(text.splitlines(), title) if cfg.drop_title_lines else text.splitlines()
    lines = _drop_link_lines(lines, html, cfg)
    return "\n".join(lines).strip(), title


def _trafilatura(html: str, url: str | None, precision: bool) -> tuple[str, str | None]:
    doc = trafilatura.bare_extraction(
        html, url=url, favor_precision=precision, with_metadata=True, include_comments=False
    )
    if doc is None:
        return "", None
    return doc.text or "", doc.title or None


def _readability(html: str) -> str:
    """readability-lxml's article, one line per outermost block element."""
    try:
        summary = Document(html).summary(html_partial=True)
    except Unparseable:
        return ""
    return "\n".join(_block_lines(lxml.html.fromstring(summary))) if summary.strip() else ""


def _block_lines(tree: lxml.html.HtmlElement) -> list[str]:
    lines = []
    for el in tree.iter(_BLOCKS):
        if any(parent.tag in _BLOCKS for parent in el.iterancestors()):
            continue
        if text := " ".join(el.text_content().split()):
            lines.append(text)
    return lines


def _shingles(text: str) -> set[tuple[str, ...]]:
    """Word 4-grams of each line (a shorter line is one gram), so lines never join across a break."""
    grams: set[tuple[str, ...]] = set()
    for line in text.splitlines():
        grams |= _line_shingles(line)
    return grams


def _line_shingles(line: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(line.lower())
    if len(words) < _SHINGLE:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1)}


def _agreement(a: str, b: str) -> float:
    """F1 of two texts' shingle sets (0.0 when either is empty: nothing to agree on)."""
    sa, sb = _shingles(a), _shingles(b)
    return 2 * len(sa & sb) / (len(sa) + len(sb)) if sa and sb else 0.0


def _medoid(texts: list[str]) -> str:
    """The non-empty text agreeing best with the others (the first on ties: the primary keeps its priority)."""
    found = [text for text in texts if _shingles(text)]
    return max(found, key=lambda t: sum(_agreement(t, other) for other in found if other is not t), default="")


def _fill(text: str, article: str, cfg: HtmlConfig) -> str:
    """`text` plus the prose lines of `article` it lacks, after the first line they share, in article order."""
    have = _shingles(text)
    if not have or len(article) < cfg.min_fill_ratio * len(text):
        return text
    if len(have & _shingles(article)) < cfg.min_fill_cover * len(have):
        return text
    lines, started, seen = text.splitlines(), False, set(text.splitlines())
    for line in article.splitlines():
        grams = _line_shingles(line)
        if grams and len(grams & have) * 2 >= len(grams):
            started = True
        elif started and line not in seen and _is_prose(line, cfg.min_fill_words):
            lines.append(line)
            seen.add(line)
    return "\n".join(lines)


def _is_prose(line: str, min_words: int) -> bool:
    return len(_WORD.findall(line)) >= min_words and line.rstrip().endswith(_SENTENCE_END)


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _drop_title(lines: list[str], title: str | None) -> list[str]:
    """Leading lines equal to the title, or a long part of it ("Headline | Site")."""
    title_key = _norm(title or "")
    while lines and title_key and (key := _norm(lines[0])) and (key == title_key or len(key) > 20 and key in title_key):
        lines = lines[1:]
    return lines


def _drop_link_lines(lines: list[str], html: str, cfg: HtmlConfig) -> list[str]:
    """Lines that are mostly link text in the page and end without a sentence end."""
    shares = _link_shares(html)
    return [
        line
        for line in lines
        if shares.get(_norm(line), 0.0) < cfg.min_link_share or line.rstrip().endswith(_SENTENCE_END)
    ]


def _link_shares(html: str) -> dict[str, float]:
    """Share of link text in each block element of the page, by normalised text."""
    try:
        tree = lxml.html.fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return {}
    shares: dict[str, float] = {}
    for el in tree.iter(_BLOCKS):
        key = _norm(el.text_content())
        if key and key not in shares:
            links = sum(len(_norm(a.text_content())) + 1 for a in el.iter("a"))
            shares[key] = min(1.0, links / (len(key) + 1))
    return shares
