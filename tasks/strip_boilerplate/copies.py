"""Copies and variants of one body: pages whose shared lines are no evidence of a template.

Two measures, both on what the page sample stores (line fingerprints and a bottom-k sketch of word 3-grams):
- `are_copies`: two sampled pages are copies of one document (mirrored, re-wrapped, a few words edited) when
  their sketches agree on at least `min_copy_similarity`; the sample's pages are grouped into documents by it
  (`documents`), and line counts go by document.
- `PageGrams.body_containment`: a variant (a page edited too much to be a copy, e.g. 20 words of a short page)
  still carries the page's *body*. Of the page's word 3-grams outside the lines it shares with a sampled document,
  the share found in that document's sketch: pages sharing only a template share only those lines (chance
  3-grams of one language and topic: at most 0.19 on the corpus), an edited copy shares its body text (0.39 and
  more for 20 edited words of a 100-word page; bench/eval_dedupe.py --set syndicated, --shape txt).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tasks.strip_boilerplate.config import BoilerplateConfig
from tasks.strip_boilerplate.lines import gram_hash, is_trivial, line_keys, sketch_similarity, sketch_window

_WORD = re.compile(r"\w+", re.UNICODE)


def are_copies(a: dict[str, Any], b: dict[str, Any], cfg: BoilerplateConfig) -> bool:
    """Two sampled pages are copies of one document when their word 3-gram sketches agree on at least
    `min_copy_similarity`; rows stored without a sketch fall back to their line sets (Jaccard above
    `max_copy_jaccard`)."""
    if a.get("body_sketch") is not None and b.get("body_sketch") is not None:
        return sketch_similarity(a["body_sketch"], b["body_sketch"], cfg.sketch_size) >= cfg.min_copy_similarity
    lines_a, lines_b = set(a["line_hashes"]), set(b["line_hashes"])
    return len(lines_a & lines_b) > cfg.max_copy_jaccard * len(lines_a | lines_b)


def documents(rows: list[dict[str, Any]], cfg: BoilerplateConfig) -> list[list[dict[str, Any]]]:
    """The sampled pages (in page_key order) grouped into documents: a page joins the first document whose first
    page it copies, else starts one. A line shared only by copies of one document is no evidence that it is
    template, so line counts go by document. Comparing with the first page only (no chains of copies) keeps
    pages that merely share a large template apart. Only documents whose first page shares enough sketch
    fingerprints with the page can be its copies (`_copy_candidates`), so a group of n distinct pages costs n
    index look-ups, not n²/2 sketch comparisons."""
    docs: list[list[dict[str, Any]]] = []
    index: dict[int, list[int]] = {}  # sketch fingerprint → documents whose first page has it
    unsketched: list[int] = []  # documents whose first page has no sketch (compared by line sets)
    for row in rows:
        found = next(
            (i for i in _copy_candidates(row, docs, index, unsketched, cfg) if are_copies(docs[i][0], row, cfg)), None
        )
        if found is not None:
            docs[found].append(row)
            continue
        docs.append([row])
        sketch = row.get("body_sketch")
        if sketch is None:
            unsketched.append(len(docs) - 1)
        for h in sketch or ():
            index.setdefault(h, []).append(len(docs) - 1)
    return docs


def _copy_candidates(
    row: dict[str, Any], docs: list[list[dict[str, Any]]], index: dict[int, list[int]], unsketched: list[int], cfg
) -> list[int]:
    """Documents (ascending) that can hold a copy of `row`: sketch similarity ≥ s needs at least
    s·min(k, |sketch|) shared fingerprints (the union's k smallest hold at least that many); documents without a
    sketch, and every document for a page without one (or with an empty one), are always candidates."""
    sketch = row.get("body_sketch")
    if not sketch:
        return list(range(len(docs)))
    shared: dict[int, int] = {}
    for h in sketch:
        for i in index.get(h, ()):
            shared[i] = shared.get(i, 0) + 1
    bound = cfg.min_copy_similarity * min(cfg.sketch_size, len(sketch)) - 1e-9
    return sorted([i for i, n in shared.items() if n >= bound] + unsketched)


@dataclass(frozen=True, slots=True)
class PageGrams:
    """A page's word 3-grams over the window the sample sketches (`sketch_window`), sorted by fingerprint, each
    with the window lines its words come from; and each window line's fingerprints."""

    grams: list[tuple[int, int, int, int]]  # (fingerprint, window lines of its three words), sorted
    keys: list[tuple[int, ...]]  # per window line: its fingerprints (empty for a letter-free line)

    @classmethod
    def of(cls, lines: list[str], cfg: BoilerplateConfig) -> PageGrams:
        window = sketch_window(lines, cfg)
        keys = [() if is_trivial(x) else tuple(line_keys(x, cfg)) for x in window]
        words: list[str] = []
        at: list[int] = []  # window line of each word
        for j, x in enumerate(window):
            found = _WORD.findall(x.casefold())
            words += found
            at += [j] * len(found)
        grams = [(gram_hash(" ".join(words[i : i + 3])), *at[i : i + 3]) for i in range(len(words) - 2)]
        return cls(sorted(grams), keys)

    def body_containment(self, other_lines: frozenset[int], other_sketches: Sequence[Sequence[int]], k: int) -> float:
        """Share of the page's 3-grams outside the lines it shares with a sampled document (`other_lines`, by any
        fingerprint) found in that document: estimated on the 3-grams below the largest fingerprint of its sketch
        (the sketch holds every 3-gram of the document below it); the best of the document's pages."""
        shared = [bool(keys) and not other_lines.isdisjoint(keys) for keys in self.keys]
        best = 0.0
        for sketch in other_sketches:
            if not sketch:
                continue
            limit = len(self.grams) if len(sketch) < k else bisect.bisect_right(self.grams, (sketch[-1], 1 << 62))
            body = {h for h, a, b, c in self.grams[:limit] if not (shared[a] and shared[b] and shared[c])}
            if body:
                best = max(best, len(body.intersection(sketch)) / len(body))
        return best
