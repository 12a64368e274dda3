"""langdetect's random trials for many pages at once: numpy over pages × languages, in lockstep.

A detection reseeds langdetect's Random, so every page reads the same stream of 32-bit words (`stream`), each
from its own position: its gauss values and n-gram draws are computed from those words exactly as random.Random
computes them (`gauss_at`, `draws_at`). The probability updates of all pages then run as one numpy operation per
step, elementwise the same products, sums and quotients as `language.language_probabilities` runs for one page
(bit for bit; tests compare the two).
"""

from __future__ import annotations

import math
import random

import numpy as np
from langdetect.detector import Detector

_STREAMS: dict[int, np.ndarray] = {}  # seed → its first words (a pure function's memo, grown on demand)
_FIRST_WORDS = 1 << 16
CHECK_EVERY = 5  # langdetect normalises and checks convergence every 5 updates (language.py's trials too)
_FIRST_BLOCKS = 16  # draws read at first for each page and trial: 1 + 5 × this (most trials converge before)
_MAX_DRAWS = Detector.ITERATION_LIMIT + 1


def stream(seed: int | None, n_words: int) -> np.ndarray:
    """The first (at least) `n_words` 32-bit words a random.Random(seed) produces, in order."""
    words = _STREAMS.get(seed) if seed is not None else None
    if words is None or len(words) < n_words:
        n = max(n_words, _FIRST_WORDS, 2 * len(words) if words is not None else 0)
        bits = random.Random(seed).getrandbits(32 * n)  # word i is bits i*32 … i*32+31 (little end first)
        words = np.frombuffer(bits.to_bytes(4 * n, "little"), dtype="<u4")
        if seed is not None:
            _STREAMS[seed] = words
    return words


def _uniform(words: np.ndarray, pos: int) -> float:
    """random.Random.random() from the two words at `pos` (CPython's random_random)."""
    return ((int(words[pos]) >> 5) * 67108864.0 + (int(words[pos + 1]) >> 6)) * (1.0 / 9007199254740992.0)


def gauss_at(words: np.ndarray, pos: int, spare: float | None) -> tuple[float, int, float | None]:
    """random.Random.gauss(0.0, 1.0) at word `pos` with `spare` its cached value: (value, new pos, new spare)."""
    if spare is not None:
        return 0.0 + spare * 1.0, pos, None
    x2pi = _uniform(words, pos) * (2.0 * math.pi)
    g2rad = math.sqrt(-2.0 * math.log(1.0 - _uniform(words, pos + 2)))
    return 0.0 + math.cos(x2pi) * g2rad * 1.0, pos + 4, math.sin(x2pi) * g2rad


def draws_at(seed: int | None, pos: int, n: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` random.choice indices over `n` items from word `pos` on (Random._randbelow: the top
    n.bit_length() bits of a word, redrawn while ≥ n), and the offset from `pos` of the word each one used."""
    shift = 32 - n.bit_length()
    span = 2 * count + 64
    while True:
        window = stream(seed, pos + span)[pos : pos + span] >> shift
        offsets = np.flatnonzero(window < n)
        if len(offsets) >= count:
            return window[offsets[:count]], offsets[:count]
        span *= 2


class _Trial:
    """One trial of every page: each page's profile rows drawn in order, and the words they used."""

    def __init__(self, pages: list[np.ndarray], seed: int | None, starts: list[int], count: int) -> None:
        self.pages, self.seed, self.starts = pages, seed, starts
        self.offsets: list[np.ndarray] = [np.empty(0, dtype=np.intp)] * len(pages)
        self.rows = self.draw(np.arange(len(pages)), count)

    def draw(self, which: np.ndarray, count: int) -> np.ndarray:
        """(len(which), count) profile rows of the first `count` draws of the pages `which`."""
        rows = np.empty((len(which), count), dtype=np.intp)
        for j, p in enumerate(which.tolist()):
            picks, self.offsets[p] = draws_at(self.seed, self.starts[p], len(self.pages[p]), count)
            rows[j] = self.pages[p][picks]
        return rows

    def words_used(self, draws: np.ndarray) -> list[int]:
        """Words each page consumed, given how many draws it made."""
        return [int(self.offsets[p][n - 1]) + 1 for p, n in enumerate(draws.tolist())]


def _run(trial: _Trial, weights: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(final probabilities, draws made) of every page: language._trial for all pages at once."""
    m, n_langs = len(weights), matrix.shape[1]
    final, made = np.empty((m, n_langs)), np.empty(m, dtype=np.intp)
    active, rows, weight = np.arange(m), trial.rows, weights[:, None]
    prob = np.full((m, n_langs), 1.0 / n_langs)
    prob *= weight + matrix[rows[:, 0]]
    i = 0
    while True:
        normal = prob / np.add.reduce(prob, axis=1)[:, None]
        done = np.maximum.reduce(normal, axis=1) > Detector.CONV_THRESHOLD
        if i >= Detector.ITERATION_LIMIT:
            done[:] = True
        if done.any():
            final[active[done]], made[active[done]] = normal[done], i + 1
            keep = ~done
            active, rows, weight, normal = active[keep], rows[keep], weight[keep], normal[keep]
            if not len(active):
                return final, made
        if i + 1 + CHECK_EVERY > rows.shape[1]:
            rows = trial.draw(active, _MAX_DRAWS)
        block = np.empty((len(active), CHECK_EVERY + 1, n_langs))
        block[:, 0] = normal
        np.add(matrix[rows[:, i + 1 : i + 1 + CHECK_EVERY]], weight[:, :, None], out=block[:, 1:])
        prob = np.multiply.reduce(block, axis=1)
        i += CHECK_EVERY


def batch_probabilities(pages: list[list[int]], seed: int | None, trials: int, matrix: np.ndarray) -> np.ndarray:
    """(pages, languages) langdetect probabilities of each page's n-gram profile rows (none may be empty)."""
    as_arrays = [np.asarray(rows, dtype=np.intp) for rows in pages]
    langprob = np.zeros((len(pages), matrix.shape[1]))
    if not pages:
        return langprob
    pos, spare = [0] * len(pages), [None] * len(pages)
    weights = np.empty(len(pages))
    for _ in range(trials):
        for p in range(len(pages)):
            z, pos[p], spare[p] = gauss_at(stream(seed, pos[p] + 4), pos[p], spare[p])
            weights[p] = (Detector.ALPHA_DEFAULT + z * Detector.ALPHA_WIDTH) / Detector.BASE_FREQ
        trial = _Trial(as_arrays, seed, list(pos), 1 + CHECK_EVERY * _FIRST_BLOCKS)
        final, made = _run(trial, weights, matrix)
        pos = [start + used for start, used in zip(pos, trial.words_used(made), strict=True)]
        langprob += final / trials
    return langprob
