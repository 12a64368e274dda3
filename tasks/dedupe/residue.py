"""Verifying a candidate pair on template-free bodies: template residue left in one page (another site's menu that
strip_boilerplate could not learn) must not hide a duplicate, and a shared menu must not make one.

Both rules look only at a *leading run* — the position where templates sit (strip_boilerplate's model) — and
only when that run is navigation-shaped: most of its non-blank lines have at most `max_nav_line_words` words
(menu entries; measured on the corpus labels: 81 % of boilerplate lines, 23 % of body lines, so a run of prose
is never taken for a menu).

- `contained`: the smaller page's shingles are (almost) all in the larger (containment ≥ min_containment), and
  the larger page's lines before its first line found in the smaller form a navigation-shaped run; without that
  run the two bodies have Jaccard ≥ min_jaccard. An excerpt (the larger page goes on with prose) or a page whose
  surplus sits after the shared body is not one.
- shared menu: two pages whose identical leading lines are navigation-shaped are compared without them, so two
  language versions (or two different stories) under one menu are never near duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tasks.dedupe.minhash import Sketcher, jaccard, shingle_sets


@dataclass(frozen=True, slots=True)
class ResidueRules:
    """Thresholds of the two rules (from DedupeConfig)."""

    min_jaccard: float
    min_containment: float
    max_nav_line_words: int
    min_line_coverage: float  # a line of the larger page is in the smaller when this share of its shingles is


def _words(line: str) -> int:
    return len(line.split())


def nav_shaped(lines: list[str], max_words: int) -> bool:
    """Most non-blank lines are menu-sized (an empty run is not a menu)."""
    sizes = [n for n in map(_words, lines) if n]
    return bool(sizes) and sum(n <= max_words for n in sizes) * 2 > len(sizes)


def containment(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the smaller distinct shingle set found in the other (0 when either is empty)."""
    if not a.size or not b.size:
        return 0.0
    return np.intersect1d(a, b, assume_unique=True).size / min(a.size, b.size)


def _one_set(sketcher: Sketcher, text: str) -> np.ndarray:
    return shingle_sets(sketcher, pa.array([text], pa.string()))[0]


def contained_similarity(small: np.ndarray, large_text: str, sketcher: Sketcher, rules: ResidueRules) -> float:
    """Jaccard of `small` with the larger page once its leading navigation run not found in `small` is dropped
    (0.0 when there is no such run)."""
    lines = large_text.splitlines()
    per_line = shingle_sets(sketcher, pa.array(lines, pa.string()))
    first = None
    for k, s in enumerate(per_line):
        if s.size and np.isin(s, small, assume_unique=True).mean() >= rules.min_line_coverage:
            first = k
            break
    if not first or not nav_shaped(lines[:first], rules.max_nav_line_words):
        return 0.0
    return jaccard(small, _one_set(sketcher, "\n".join(lines[first:])))


def without_shared_menu(text_a: str, text_b: str, max_nav_line_words: int) -> tuple[str, str] | None:
    """Both texts without their identical leading lines, when those lines are a navigation-shaped run that is not
    the whole of either text; else None (nothing to drop)."""
    a, b = text_a.splitlines(), text_b.splitlines()
    n = 0
    while n < min(len(a), len(b)) and " ".join(a[n].split()).casefold() == " ".join(b[n].split()).casefold():
        n += 1
    if not n or n in (len(a), len(b)) or not nav_shaped(a[:n], max_nav_line_words):
        return None
    return "\n".join(a[n:]), "\n".join(b[n:])


def may_match(set_a: np.ndarray, set_b: np.ndarray, rules: ResidueRules) -> bool:
    """Whether `verify_pair` can accept the pair: its Jaccard or containment is high enough (else the verdict is
    None without reading the texts)."""
    if not set_a.size or not set_b.size:
        return False
    inter = np.intersect1d(set_a, set_b, assume_unique=True).size  # jaccard's and containment's, computed once
    high_jaccard = inter / (set_a.size + set_b.size - inter) >= rules.min_jaccard
    return high_jaccard or inter / min(set_a.size, set_b.size) >= rules.min_containment


def verify_pair(
    set_a: np.ndarray, set_b: np.ndarray, text_a: str, text_b: str, sketcher: Sketcher, rules: ResidueRules
) -> tuple[str, float] | None:
    """("near", Jaccard) or ("contained", Jaccard without the residue) when the pair is one document, else None."""
    sim = jaccard(set_a, set_b)
    if sim >= rules.min_jaccard:
        bodies = without_shared_menu(text_a, text_b, rules.max_nav_line_words)
        if bodies is not None:
            sim = jaccard(_one_set(sketcher, bodies[0]), _one_set(sketcher, bodies[1]))
        return ("near", sim) if sim >= rules.min_jaccard else None
    if containment(set_a, set_b) < rules.min_containment:
        return None
    small, large_text = (set_a, text_b) if set_a.size <= set_b.size else (set_b, text_a)
    sim = contained_similarity(small, large_text, sketcher, rules)
    return ("contained", sim) if sim >= rules.min_jaccard else None
