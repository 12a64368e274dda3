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
import functools
import math
import operator
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from tasks.strip_boilerplate.config import BoilerplateConfig
from tasks.strip_boilerplate.lines import (
    gram_hashes,
    is_trivial,
    keys_of,
    sketch_similarity,
    sketch_window,
    sorted_ints,
    word_grams,
)

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
    firsts: list[frozenset[int]] = []  # per document: its first page's sketch
    unsketched: list[int] = []  # documents whose first page has no sketch (compared by line sets)
    for row in rows:
        candidates = _copy_candidates(row, len(docs), index, firsts, unsketched, cfg)
        found = next((i for i in candidates if are_copies(docs[i][0], row, cfg)), None)
        if found is not None:
            docs[found].append(row)
            continue
        docs.append([row])
        sketch = row.get("body_sketch")
        firsts.append(frozenset(sketch or ()))
        if sketch is None:
            unsketched.append(len(docs) - 1)
        for h in sketch or ():
            index.setdefault(h, []).append(len(docs) - 1)
    return docs


def _copy_candidates(
    row: dict[str, Any],
    n_docs: int,
    index: dict[int, list[int]],
    firsts: list[frozenset[int]],
    unsketched: list[int],
    cfg: BoilerplateConfig,
) -> list[int]:
    """Documents (ascending) that can hold a copy of `row`: sketch similarity ≥ s needs at least
    s·min(k, |sketch|) shared fingerprints (the union's k smallest hold at least that many); documents without a
    sketch, and every document for a page without one (or with an empty one), are always candidates. A document
    sharing `need` of the page's n fingerprints shares one of any n - need + 1 of them, so only the documents
    holding one of the rarest n - need + 1 are counted (template fingerprints are on every document)."""
    sketch = row.get("body_sketch")
    if not sketch:
        return list(range(n_docs))
    bound = cfg.min_copy_similarity * min(cfg.sketch_size, len(sketch)) - 1e-9
    rarest = sorted([index.get(h, ()) for h in sketch], key=len)[: len(sketch) - max(math.ceil(bound), 1) + 1]
    maybe = set(chain.from_iterable(rarest))
    shared = {i: len(firsts[i].intersection(sketch)) for i in maybe}
    return sorted([i for i, n in shared.items() if n >= bound] + unsketched)


@dataclass(frozen=True, slots=True)
class DocSketch:
    """A sampled page's sketch as `body_containment` reads it: its fingerprints up to `limit`, its last one when
    the sketch is full (below it the sketch holds every 3-gram of the page); `limit` None: every 3-gram counts."""

    hashes: tuple[int, ...]  # distinct (a tuple of 128: ~1.1 KB against ~2.8 KB as a frozenset, measured)
    limit: int | None


@dataclass(frozen=True, slots=True, eq=False)
class DocBody:
    """What a page's body is compared with (`PageGrams.body_containment`): a sampled document's line
    fingerprints and its pages' sketches. One object per distinct document across groups (`intern_body`), so a
    page's verdict on it is computed once for its site and its domain."""

    lines: frozenset[int]
    sketches: tuple[DocSketch, ...]


def intern_body(lines: frozenset[int], sketches: list[list[int]], k: int, seen: dict[Any, DocBody]) -> DocBody:
    """The `DocBody` of a document (`sketches`: its pages' stored sketches), the one already in `seen` if any."""
    key = (lines, tuple(map(tuple, sketches)))
    if key not in seen:
        seen[key] = DocBody(lines, doc_sketches(sketches, k))
    return seen[key]


def doc_sketches(sketches: Iterable[Sequence[int]], k: int) -> tuple[DocSketch, ...]:
    """The non-empty sketches of a document's pages, for `body_containment` (`k`: the sketch size)."""
    out = []
    for sketch in sketches:
        if sketch and len(sketch) >= k:
            out.append(DocSketch(tuple(dict.fromkeys(h for h in sketch if h <= sketch[-1])), sketch[-1]))
        elif sketch:
            out.append(DocSketch(tuple(dict.fromkeys(sketch)), None))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class PageGrams:
    """A page's word 3-grams over the window the sample sketches (`sketch_window`): the fingerprint of the one
    starting at each word, the words of each window line, the distinct fingerprints (sorted, counted); and the
    window lines carrying each line fingerprint."""

    grams: list[int]  # fingerprint of the 3-gram starting at each word
    words_at: list[tuple[int, int]]  # per window line: its words (first, past-last)
    counts: Counter[int]  # fingerprint -> its 3-grams
    hashes: list[int]  # distinct fingerprints, sorted
    hash_set: frozenset[int]
    lines_of: dict[int, int]  # line fingerprint -> its window lines (bit j: window line j)
    key_set: frozenset[int]  # the line fingerprints
    inside: dict[int, tuple[list[int], frozenset[int]]] = field(default_factory=dict)  # memo of `_inside`

    @classmethod
    def of(cls, lines: list[str], cfg: BoilerplateConfig) -> PageGrams:
        lines_of: dict[int, int] = {}
        words: list[str] = []
        words_at = []
        for j, x in enumerate(sketch_window(lines, cfg)):
            if not is_trivial(x):
                for key in keys_of(x, cfg.prefix_words):
                    lines_of[key] = lines_of.get(key, 0) | 1 << j
            start = len(words)
            words += _WORD.findall(x.casefold())
            words_at.append((start, len(words)))
        grams = gram_hashes(word_grams(words))
        counts = Counter(grams)
        return cls(grams, words_at, counts, sorted_ints(counts), frozenset(counts), lines_of, frozenset(lines_of))

    def _inside(self, shared: int) -> tuple[list[int], frozenset[int]]:
        """The distinct 3-grams whose every occurrence has its three words on the window lines `shared`
        (bit j: window line j), sorted; and the others (the page's body against those lines), as a set."""
        found = self.inside.get(shared)
        if found is None:
            runs: list[list[int]] = []  # runs of consecutive words on shared lines: [first, past-last]
            rest = shared
            while rest:
                low = rest & -rest
                start, end = self.words_at[low.bit_length() - 1]
                if start < end and runs and runs[-1][1] == start:
                    runs[-1][1] = end
                elif start < end:
                    runs.append([start, end])
                rest ^= low
            within = Counter(chain.from_iterable(self.grams[start : max(start, end - 2)] for start, end in runs))
            counts = self.counts
            inside = sorted([h for h, n in within.items() if n == counts[h]])
            found = self.inside[shared] = (inside, self.hash_set.difference(inside))
        return found

    def body_containment(self, other: DocBody) -> float:
        """Share of the page's 3-grams outside the lines it shares with a sampled document (`other`; by any line
        fingerprint) found in that document: estimated on the 3-grams below the largest fingerprint of its sketch
        (the sketch holds every 3-gram of the document below it); the best of the document's pages."""
        shared = functools.reduce(operator.or_, map(self.lines_of.__getitem__, self.key_set & other.lines), 0)
        inside, body = self._inside(shared) if shared else ([], self.hash_set)
        best = 0.0
        for sketch in other.sketches:
            if sketch.limit is None:
                n_body = len(self.hashes) - len(inside)
            else:
                n_body = bisect.bisect_right(self.hashes, sketch.limit) - bisect.bisect_right(inside, sketch.limit)
            if n_body:
                best = max(best, len(body.intersection(sketch.hashes)) / n_body)
        return best
