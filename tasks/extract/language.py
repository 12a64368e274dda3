"""Language of the clean body with langdetect, seeded, on a bounded prefix of its prose (`prose_first`).

langdetect's own profiles, character normalisation, random stream and convergence rule are used as they are, with
its Python loops replaced by equivalent faster steps: the text is prepared with regexes (`prepared_text`), n-grams
are read word by word with a memo (a word's n-grams depend on the word alone), the random draws are inlined and
the 5 n-gram updates between two convergence checks are one numpy reduction over a (6, languages) block (the
same left-to-right products, bit for bit). The result is the same up to floating-point rounding of the
normalisation sum (tests compare with langdetect).
"""

from __future__ import annotations

import random
import re
from functools import lru_cache

import numpy as np
from langdetect.detector import Detector
from langdetect.detector_factory import init_factory
from langdetect.utils.ngram import NGram

from tasks.extract.language_batch import CHECK_EVERY, batch_probabilities

_HAS_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_SPACES = re.compile(" {2,}")
_LATIN = re.compile("[A-z]")  # langdetect's 'A' <= ch <= 'z' (brackets and backquote included)
# ch >= U+0300 outside Latin Extended Additional (U+1E00–U+1EFF): langdetect's "non-Latin" characters
_NON_LATIN = re.compile("[\u0300-\u1dff\u1f00-\U0010ffff]")
_MAX_WORD_MEMO = 200_000  # memoised words before the memo is emptied (bounds memory on odd inputs)


@lru_cache(maxsize=1)
def _factory():
    init_factory()
    from langdetect.detector_factory import _factory as factory  # set by init_factory()

    return factory


@lru_cache(maxsize=1)
def _profiles() -> tuple[dict[str, int], list[str], np.ndarray]:
    """(n-gram → row, row → n-gram, rows × languages probabilities) of langdetect's profiles (built once)."""
    grams = list(_factory().word_lang_prob_map)
    matrix = np.array([_factory().word_lang_prob_map[g] for g in grams], dtype=np.float64)
    return {g: i for i, g in enumerate(grams)}, grams, matrix


class _NormalChars(dict):
    """str.translate table: code point → langdetect's normalised character, filled on first sight."""

    def __missing__(self, code: int) -> str:
        self[code] = NGram.normalize(chr(code))
        return self[code]


_NORMAL_CHARS = _NormalChars()  # a pure function's memo (keyed by code point), never cleared
_WORD_ROWS: dict[str, tuple[int, ...]] = {}  # normalised word (+ " " when one follows) → its n-grams' rows
_RANDOM = random.Random()  # reseeded for every detection (seed() also clears gauss's cached value)


def _word_rows(word: str) -> tuple[int, ...]:
    """Profile rows of the n-grams langdetect reads in one normalised word (a trailing " " when a space follows):
    its NGram.add_char/get loop from the state every word starts in (buffer " ", not capitalised)."""
    known = _profiles()[0]
    rows: list[int] = []
    grams, capital = " ", False
    for ch in word:
        last = grams[-1]
        if len(grams) >= 3:  # NGram.N_GRAM
            grams = grams[1:]
        grams += ch
        capital = ch.isupper() and (capital or last.isupper())
        if capital:
            continue
        if ch != " " and ch in known:
            rows.append(known[ch])
        if len(grams) >= 2:
            if grams[-2:] in known:
                rows.append(known[grams[-2:]])
            if len(grams) == 3 and grams in known:
                rows.append(known[grams])
    return tuple(rows)


def gram_rows(text: str) -> list[int]:
    """Profile rows of the n-grams langdetect extracts from `text` (its detector text), in its order."""
    if len(_WORD_ROWS) > _MAX_WORD_MEMO:
        _WORD_ROWS.clear()
    words = text.translate(_NORMAL_CHARS).split(" ")
    rows: list[int] = []
    last = len(words) - 1
    for i, word in enumerate(words):
        if word:
            key = word + " " if i < last else word
            found = _WORD_ROWS.get(key)
            if found is None:
                found = _WORD_ROWS[key] = _word_rows(key)
            rows.extend(found)
    return rows


def prepared_text(text: str, max_length: int = 10_000) -> str:
    """langdetect's Detector.append on a new detector followed by cleaning_text, with regexes."""
    text = NGram.normalize_vi(Detector.MAIL_RE.sub(" ", Detector.URL_RE.sub(" ", text)))
    text = _SPACES.sub(" ", text[:max_length])
    if text.isascii():
        return text
    if 2 * len(_LATIN.findall(text)) < len(_NON_LATIN.findall(text)):
        return _LATIN.sub("", text)
    return text


def _trial(rows: list[int], weight: float, getrandbits, matrix: np.ndarray, block: np.ndarray) -> np.ndarray:
    """One langdetect trial: a first update, then the 5 updates between two convergence checks as one reduction
    of `block` (row 0: the normalised probabilities, rows 1-5: the drawn n-grams' weighted profiles)."""
    n_langs = matrix.shape[1]
    n, k = len(rows), len(rows).bit_length()
    picks = [0] * CHECK_EVERY
    r = getrandbits(k)  # random.choice: Random._randbelow_with_getrandbits(n), inlined
    while r >= n:
        r = getrandbits(k)
    prob = np.full(n_langs, 1.0 / n_langs)
    prob *= weight + matrix[rows[r]]
    normal, tail, i = block[0], block[1:], 0
    while True:
        np.divide(prob, np.add.reduce(prob), out=normal)
        if np.maximum.reduce(normal) > Detector.CONV_THRESHOLD or i >= Detector.ITERATION_LIMIT:
            return normal.copy()
        j = 0
        while j < CHECK_EVERY:
            r = getrandbits(k)
            if r < n:
                picks[j] = rows[r]
                j += 1
        matrix.take(picks, axis=0, out=tail)
        np.add(tail, weight, out=tail)
        np.multiply.reduce(block, axis=0, out=prob)
        i += CHECK_EVERY


def language_probabilities(rows: list[int], seed: int | None, trials: int) -> list[float]:
    """langdetect's Detector._detect_block probabilities (langlist order) for the n-grams' profile rows."""
    matrix = _profiles()[2]
    block = np.empty((CHECK_EVERY + 1, matrix.shape[1]))
    _RANDOM.seed(seed)
    langprob = np.zeros(matrix.shape[1])
    for _ in range(trials):
        alpha = Detector.ALPHA_DEFAULT + _RANDOM.gauss(0.0, 1.0) * Detector.ALPHA_WIDTH
        prob = _trial(rows, alpha / Detector.BASE_FREQ, _RANDOM.getrandbits, matrix, block)
        langprob += prob / trials
    return langprob.tolist()


_SENTENCE_END = re.compile(r"[.!?…。؟][\"'”’»)]*\s*$")


def prose_first(text: str, min_words: int, limit: int | None = None) -> str:
    """The body's prose lines (at least `min_words` words, ending like a sentence) first, then its other lines:
    captions, photo credits, labels and short lines only fill the detector's prefix when prose is short (a French
    listing with English photo captions is French). With `limit`, the first `limit` characters of that."""
    return prose_first_of_lines(text.splitlines(), min_words, limit)


def prose_first_of_lines(lines: list[str], min_words: int, limit: int | None = None) -> str:
    """`prose_first` of the text made of `lines`; with `limit`, reading stops once the prose fills the prefix."""
    prose, other = [], []
    prose_chars = -1  # length of "\n".join(prose)
    for line in (x.strip() for x in lines):
        if line:
            if _SENTENCE_END.search(line) and len(line.split()) >= min_words:
                prose.append(line)
                prose_chars += len(line) + 1
                if limit is not None and prose_chars >= limit:
                    break
            else:
                other.append(line)
    joined = "\n".join(prose + other)
    return joined if limit is None else joined[:limit]


def detect_language(
    text: str, seed: int, max_chars: int, min_letters: int, trials: int = 7
) -> tuple[str, float | None]:
    """(ISO 639-1 code, probability) of `text`'s first `max_chars` characters; ("und", None) if too short."""
    return detect_languages([text], seed, max_chars, min_letters, trials)[0]


def detect_languages(
    texts: list[str], seed: int | None, max_chars: int, min_letters: int, trials: int = 7
) -> list[tuple[str, float | None]]:
    """`detect_language` of each text, the random trials of all of them run at once (language_batch.py)."""
    found: list[tuple[str, float | None]] = [("und", None)] * len(texts)
    todo, pages = [], []
    for i, text in enumerate(texts):
        sample = text[:max_chars]
        if len(_HAS_LETTER.findall(sample)) < min_letters:
            continue
        rows = gram_rows(prepared_text(sample))
        if rows:  # else langdetect finds no features: "und"
            todo.append(i)
            pages.append(rows)
    if seed is None:  # an unseeded Random per detection: one page at a time
        probs = [language_probabilities(rows, None, trials) for rows in pages]
    else:
        probs = batch_probabilities(pages, seed, trials, _profiles()[2]).tolist()
    for i, page_probs in zip(todo, probs, strict=True):
        found[i] = _best(page_probs)
    return found


def _best(probs: list[float]) -> tuple[str, float | None]:
    """langdetect's answer: it sorts (stable, descending) the languages above PROB_THRESHOLD and takes the first."""
    best = max(probs)
    if not best > Detector.PROB_THRESHOLD:
        return "und", None
    return _factory().langlist[probs.index(best)].split("-")[0], round(float(best), 4)
