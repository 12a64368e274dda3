"""Line-level rules: fingerprints, key/value field blocks, leading/trailing template runs, and the contact block."""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable

import numpy as np

from schemas.reasons import BOILERPLATE_NAV_SHAPE as NAV_SHAPE
from schemas.reasons import BOILERPLATE_RUN_GAP as RUN_GAP
from tasks._stage import normalise_text
from tasks.strip_boilerplate.config import BoilerplateConfig
from tasks.strip_boilerplate.nav_shape import nav_block

_CONTACT = re.compile(
    r"^\W*(for more information|pour plus d'informations?|para (más|mas|mais) informa(ción|cion|ções|coes)|"
    r"per maggiori informazioni|media contacts?\W*$|press contacts?\W*$)",
    re.IGNORECASE,
)

_HAS_WORD = re.compile(r"\w", re.UNICODE)
_WORD = re.compile(r"\w+", re.UNICODE)
_SEPARATOR = re.compile(r"^\s*[-–—]\s*$")
_BULLET = re.compile(r"^\s*[•·▪*]\s*(?=\S)")


def line_hash(line: str) -> int:
    """Signed 64-bit fingerprint of a normalised line (Delta Lake has no unsigned integers)."""
    return _hash_normalised(normalise_text(line))


def _hash_normalised(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little", signed=True)


def is_trivial(line: str) -> bool:
    return not _HAS_WORD.search(line)


def _prefix_of_words(words: list[str], n_words: int) -> int | None:
    """Fingerprint of a long line's first (normalised) words: menus carry teaser lines whose tail varies by page."""
    return line_hash("\x00prefix " + " ".join(words[:n_words])) if len(words) >= 2 * n_words else None


def line_keys(line: str, cfg: BoilerplateConfig) -> list[int]:
    """The line's fingerprint, plus that of its first words when it is long (one normalisation)."""
    return list(keys_of(line, cfg.prefix_words))


@functools.lru_cache(maxsize=1 << 15)  # template lines recur on every page of a site, and a page asks several times
def keys_of(line: str, prefix_words: int) -> tuple[int, ...]:
    """`line_keys` as a tuple, cached (the same line is fingerprinted by the sample, the strip and the re-strips)."""
    norm = normalise_text(line)
    prefix = _prefix_of_words(norm.split(" "), prefix_words)
    return (_hash_normalised(norm),) if prefix is None else (_hash_normalised(norm), prefix)


def page_line_hashes(lines: list[str], cfg: BoilerplateConfig) -> list[int]:
    window = lines[: cfg.max_head_lines] + lines[-cfg.max_tail_lines :]
    n = cfg.prefix_words
    return sorted_ints({k for x in window if not is_trivial(x) for k in keys_of(x, n)})


def sketch_window(lines: list[str], cfg: BoilerplateConfig) -> list[str]:
    """The lines a page's sketch covers: its first `max_head_lines` and last `max_tail_lines` (each once)."""
    return lines[: cfg.max_head_lines] + lines[max(cfg.max_head_lines, len(lines) - cfg.max_tail_lines) :]


def gram_hash(gram: str) -> int:
    """Fingerprint of a word 3-gram (words case-folded, joined by one space) in a page sketch."""
    return _hash_normalised("\x00gram " + gram)


_GRAM_HASHES: dict[str, int] = {}  # a site's template 3-grams recur on every page
_MAX_GRAM_HASHES = 1 << 17  # ~10 MB when full, then emptied


def gram_hashes(grams: Iterable[str]) -> list[int]:
    """`gram_hash` of each gram, memoised in a plain dict: ~230 ns a gram instead of ~360 through an lru_cache
    (~500 grams a page, nine in ten of them hits on generated nights; ~1,100 ns uncached)."""
    if len(_GRAM_HASHES) > _MAX_GRAM_HASHES:
        _GRAM_HASHES.clear()
    get = _GRAM_HASHES.get

    def computed(gram: str) -> int:
        h = _GRAM_HASHES[gram] = gram_hash(gram)
        return h

    return [get(gram) or computed(gram) for gram in grams]


def page_sketch(lines: list[str], cfg: BoilerplateConfig) -> list[int]:
    """Bottom-k sketch of the page's word 3-grams (across line breaks, so re-wrapping does not change it): the
    `sketch_size` smallest shingle fingerprints, from which the Jaccard of two pages is estimated."""
    words = _WORD.findall("\n".join(sketch_window(lines, cfg)).casefold())
    grams = set(word_grams(words)) if len(words) >= 3 else {" ".join(words)} if words else set()
    return sorted_ints(gram_hashes(grams), len(grams))[: cfg.sketch_size]


def sorted_ints(values: Iterable[int], count: int = -1) -> list[int]:
    """`sorted(values)` for signed 64-bit fingerprints (numpy sorts them several times faster)."""
    return np.sort(np.fromiter(values, dtype=np.int64, count=count)).tolist()


def word_grams(words: list[str]) -> list[str]:
    """Each run of three consecutive words, joined by one space."""
    return list(map(" ".join, zip(words, words[1:], words[2:], strict=False)))


def sketch_similarity(a: list[int], b: list[int], k: int) -> float:
    """Jaccard estimate of two bottom-k sketches: the share of the union's k smallest fingerprints found in both."""
    union = sorted(set(a) | set(b))[:k]
    if not union:
        return 1.0
    both = set(a) & set(b)
    return sum(1 for h in union if h in both) / len(union)


def _is_field_label(line: str, cfg: BoilerplateConfig) -> bool:
    words = line.split()
    return 1 <= len(words) <= cfg.max_field_label_words and not line.rstrip().endswith((".", "!", "?", ","))


def _field_unit(lines: list[str], i: int, cfg: BoilerplateConfig) -> int:
    """Number of lines of the key/value unit starting at line `i` (0 when none starts there): a lone separator,
    a short label and at most one value line (`-` / `Start Date` / `2014`), or a bullet label and at most one
    value line (`• Start Date` / `2014`). A missing value is a unit of its separator and label alone."""
    if _SEPARATOR.match(lines[i]):
        label = i + 1
        if label >= len(lines) or _SEPARATOR.match(lines[label]) or not _is_field_label(lines[label], cfg):
            return 0
    elif _BULLET.match(lines[i]) and _is_field_label(_BULLET.sub("", lines[i]), cfg):
        label = i
    else:
        return 0
    value = lines[label + 1] if label + 1 < len(lines) else ""
    is_value = value.strip() and not (_SEPARATOR.match(value) or _BULLET.match(value))
    return label + 1 - i + (1 if is_value and len(value.split()) <= cfg.max_field_value_words else 0)


def field_lines(lines: list[str], cfg: BoilerplateConfig) -> set[int]:
    """Indices of the page's key/value blocks: at least `min_field_units` units in a row. Fields are page data
    however many pages share their labels (and values), so they are never template and end a template run."""
    fields: set[int] = set()
    i = 0
    while i < len(lines):
        start, units = i, 0
        while i < len(lines) and (size := _field_unit(lines, i, cfg)):
            i, units = i + size, units + 1
        if units >= cfg.min_field_units:
            fields.update(range(start, i))
        i = i if units else i + 1
    return fields


def _leading_run(
    is_template, order: range, lines: list[str], cfg: BoilerplateConfig, fields: set[int], from_top: bool
) -> int:
    """Number of lines, walking `order`, that are template: up to the last frequent line of the prefix in which
    frequent lines are separated only by letter-free lines, or by at most `max_gap_short_lines` short lines
    (menu items of a language variant too rare to be frequent yet). A field block ends the run; walking from
    the top, the text line right above the block is its heading (the page's title, however many pages share
    its first words), never template. Lines past the run are never looked at."""
    end, gap, before_last, n_text = 0, 0, 0, 0
    for n, i in enumerate(order):
        if i in fields:
            return before_last if from_top and end == n_text else end
        if is_template(i):
            before_last, end, gap = end, n + 1, 0
        elif not is_trivial(lines[i]):
            gap += 1
            if gap > cfg.max_gap_short_lines or len(lines[i].split()) > cfg.max_short_line_words:
                break
        if not is_trivial(lines[i]):
            n_text = n + 1
    return end


def split_contact(lines: list[str]) -> tuple[list[str], list[str]]:
    """(body, contact block): the block runs from a 'For more information…' line to the end."""
    for i, line in enumerate(lines):
        if i > 0 and _CONTACT.match(line):
            return lines[:i], lines[i:]
    return lines, []


def strip_lines(
    lines: list[str], reason_of: Callable[[int], str | None], seen_twice: Callable[[int], bool], cfg: BoilerplateConfig
) -> tuple[list[str], list[str], int, int, Counter[str]]:
    """(body, contact block, lines removed, header lines removed, removed lines by reason code). `reason_of`
    names why a line fingerprint is template (None: it is not); `seen_twice`: the fingerprint is on two sampled
    pages of the group. Lines of a navigation block (nav_shape.py) count as `boilerplate.nav_shape`; lines inside
    a run that are not template themselves (letter-free, or short lines between template lines) as
    `boilerplate.run_gap`."""
    reasons: dict[int, str | None] = {}

    n_words = cfg.prefix_words

    def frequent(i: int) -> bool:
        if i not in reasons:
            line = lines[i]
            found = (reason_of(k) for k in keys_of(line, n_words)) if not is_trivial(line) else ()
            reasons[i] = next((r for r in found if r), None)
        return reasons[i] is not None

    def repeated(i: int) -> bool:
        return any(seen_twice(k) for k in keys_of(lines[i], n_words))

    nav: set[int] = set()

    def is_template(i: int) -> bool:
        return frequent(i) or i in nav

    def block(order: range, from_top: bool) -> set[int]:
        return nav_block(lines, order, frequent, repeated, is_trivial, cfg, from_top)

    fields = field_lines(lines, cfg)
    nav |= block(range(min(len(lines), cfg.max_head_lines)), from_top=True) - fields
    head = _leading_run(is_template, range(len(lines)), lines, cfg, fields, from_top=True)
    body, contact = split_contact(lines[head:])
    last = head + len(body) - 1
    nav |= block(range(last, max(head, last - cfg.max_tail_lines) - 1, -1), from_top=False) - fields
    tail = _leading_run(is_template, range(last, head - 1, -1), lines, cfg, fields, from_top=False)
    kept = body[: len(body) - tail] if tail else body
    removed = [*range(head), *range(head + len(body) - tail, head + len(body))]
    counted = Counter(reasons.get(i) or (NAV_SHAPE if i in nav else RUN_GAP) for i in removed)
    return kept, contact, head + tail, head, counted
