"""A second LSH candidate source: each page's text without its leading menu-shaped run, found on the text alone.

A copy of a page under another site's menu (a syndicated copy, a mirror on a host seen once: a menu
strip_boilerplate could not learn) can hold the original almost whole and still share no band with it (plain
Jaccard ~0.6). Its band keys computed from the body's first line on collide with the original's keys, so the pair
becomes a candidate; residue.py still decides it on the two texts, so this only adds candidates.

The run, words counted as shingled (a token with a letter or digit; punctuation-only lines are blank): the lines before
a *start* — a long line (more than `max_nav_line_words` words) followed by another long non-blank line (a title
and a paragraph, or two paragraphs) — when most of them are menu-sized (residue.nav_shaped). Of a text's starts,
the one with the most menu-sized minus long lines above it: a menu may hold two long entries in a row (a
sub-menu), and the body goes on with long lines. Only the first `max_menu_lines` lines of the first
`max_menu_chars` characters are looked at, words counted in a line's first 64 characters (a longer line is long).
The result is a word index (the run's words counted as the sketcher does, on the texts that have a run): the
sketcher leaves out the shingles that start before it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.dedupe.minhash import normalise

# a word as shingled: a whitespace-separated token holding a letter, mark, digit or _ (the rest is punctuation)
_WORD = r"[^\s\p{Z}]*[\p{L}\p{M}\p{N}_][^\s\p{Z}]*"
_PROBE_CHARS = 64  # words are counted in a line's first characters; a longer line is long (a menu entry is not)
_SLICE_DOCS = 1000  # texts at a time: the line arrays of a slice stay small


def leading_menu_words(texts: pa.Array, max_line_words: int, max_lines: int, max_chars: int) -> np.ndarray:
    """Per text, the number of words (as shingled) of its leading menu-shaped run (0: none)."""
    parts = [
        _menu_words(texts.slice(a, _SLICE_DOCS), max_line_words, max_lines, max_chars)
        for a in range(0, len(texts), _SLICE_DOCS)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _menu_words(texts: pa.Array, max_line_words: int, max_lines: int, max_chars: int) -> np.ndarray:
    texts = pc.fill_null(texts, "")
    lines = pc.split_pattern(pc.utf8_slice_codeunits(texts, 0, max_chars), "\n", max_splits=max_lines)
    flat = lines.flatten()
    n_lines = np.diff(np.asarray(lines.offsets, np.int64))
    chars = np.asarray(pc.utf8_length(flat), np.int64) + 1  # with its line break
    words = np.asarray(pc.count_substring_regex(pc.utf8_slice_codeunits(flat, 0, _PROBE_CHARS), _WORD), np.int64)
    words[chars > _PROBE_CHARS + 1] = max_line_words + 1
    text_of_line = np.repeat(np.arange(len(texts)), n_lines)
    chars_before = np.cumsum(chars) - chars  # characters of the earlier lines of the same text (fixed below)
    first_line = np.concatenate([[0], np.cumsum(n_lines)])[:-1]
    chars_before -= chars_before[first_line][text_of_line] if len(chars) else 0
    filled = np.flatnonzero(words > 0)
    text, long = text_of_line[filled], words[filled] > max_line_words
    same_text_next = np.concatenate([text[1:] == text[:-1], [False]])
    starts = long & np.concatenate([long[1:], [False]]) & same_text_next
    # rank of each non-blank line in its text, and the menu-sized lines above it: the run above a start is
    # menu-shaped when most of its lines are menu-sized, i.e. its balance (menu-sized minus long lines) is > 0
    first_filled = np.searchsorted(text, text)
    rank = np.arange(len(filled)) - first_filled
    short = np.cumsum(~long) - (~long)
    balance = 2 * (short - short[first_filled]) - rank
    at = np.flatnonzero(starts & (balance > 0))
    # of a text's starts, the one with the best balance (the end of the menu, not a pair of long menu entries nor
    # a later paragraph); ties: the earliest
    at = at[np.lexsort((at, -balance[at], text[at]))]
    at = at[np.concatenate([[True], text[at][1:] != text[at][:-1]])] if len(at) else at
    out = np.zeros(len(texts), np.int64)
    if len(at):
        # the run's words exactly as the sketcher counts them, on the few texts that have a run
        rows, cut = text[at], chars_before[filled[at]]
        runs = [t[:c] for t, c in zip(texts.take(pa.array(rows)).to_pylist(), cut.tolist(), strict=True)]
        norm = pc.utf8_trim_whitespace(normalise(pa.array(runs, pa.string())))
        n_words = np.asarray(pc.list_value_length(pc.utf8_split_whitespace(norm)), np.int64)
        out[rows] = np.where(np.asarray(pc.equal(norm, ""), bool), 0, n_words)
    return out
