"""Line-level rules: fingerprints, leading/trailing template runs, and the contact block."""

from __future__ import annotations

import hashlib
import re

from tasks._stage import normalise_text
from tasks.strip_boilerplate.config import BoilerplateConfig

_CONTACT = re.compile(
    r"^\W*(for more information|pour plus d'informations?|para (más|mas|mais) informa(ción|cion|ções|coes)|"
    r"per maggiori informazioni|media contacts?\W*$|press contacts?\W*$)",
    re.IGNORECASE,
)

_HAS_WORD = re.compile(r"\w", re.UNICODE)


def line_hash(line: str) -> int:
    """Signed 64-bit fingerprint of a normalised line (Delta Lake has no unsigned integers)."""
    return _hash_normalised(normalise_text(line))


def _hash_normalised(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little", signed=True)


def _is_trivial(line: str) -> bool:
    return not _HAS_WORD.search(line)


def _prefix_of_words(words: list[str], n_words: int) -> int | None:
    """Fingerprint of a long line's first (normalised) words: menus carry teaser lines whose tail varies by page."""
    return line_hash("\x00prefix " + " ".join(words[:n_words])) if len(words) >= 2 * n_words else None


def _line_keys(line: str, cfg: BoilerplateConfig) -> list[int]:
    """The line's fingerprint, plus that of its first words when it is long (one normalisation)."""
    norm = normalise_text(line)
    prefix = _prefix_of_words(norm.split(" "), cfg.prefix_words)
    return [_hash_normalised(norm)] if prefix is None else [_hash_normalised(norm), prefix]


def _page_line_hashes(lines: list[str], cfg: BoilerplateConfig) -> list[int]:
    window = lines[: cfg.max_head_lines] + lines[-cfg.max_tail_lines :]
    return sorted({k for x in window if not _is_trivial(x) for k in _line_keys(x, cfg)})


def _leading_run(is_template, order: range, lines: list[str], cfg: BoilerplateConfig) -> int:
    """Number of lines, walking `order`, that are template: up to the last frequent line of the prefix in which
    frequent lines are separated only by letter-free lines, or by at most `max_gap_short_lines` short lines
    (menu items of a language variant too rare to be frequent yet). Lines past the run are never looked at."""
    end, gap = 0, 0
    for n, i in enumerate(order):
        if is_template(i):
            end, gap = n + 1, 0
        elif not _is_trivial(lines[i]):
            gap += 1
            if gap > cfg.max_gap_short_lines or len(lines[i].split()) > cfg.max_short_line_words:
                break
    return end


def split_contact(lines: list[str]) -> tuple[list[str], list[str]]:
    """(body, contact block): the block runs from a 'For more information…' line to the end."""
    for i, line in enumerate(lines):
        if i > 0 and _CONTACT.match(line):
            return lines[:i], lines[i:]
    return lines, []


def _strip_lines(lines: list[str], is_frequent, cfg: BoilerplateConfig) -> tuple[list[str], list[str], int, int]:
    """(body, contact block, lines removed, header lines removed)."""
    flags: dict[int, bool] = {}

    def is_template(i: int) -> bool:
        if i not in flags:
            line = lines[i]
            flags[i] = not _is_trivial(line) and any(is_frequent(k) for k in _line_keys(line, cfg))
        return flags[i]

    head = _leading_run(is_template, range(len(lines)), lines, cfg)
    body, contact = split_contact(lines[head:])
    tail = _leading_run(is_template, range(head + len(body) - 1, head - 1, -1), lines, cfg)
    kept = body[: len(body) - tail] if tail else body
    return kept, contact, head + tail, head
