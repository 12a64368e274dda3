"""The extract stage's configuration."""

from __future__ import annotations

from dataclasses import dataclass

STAGE = "extract"


@dataclass(frozen=True, slots=True)
class ExtractConfig:
    language_seed: int = 0  # langdetect is random without a seed
    max_language_chars: int = 300  # clean-body prefix; 300 and 500 score alike on the corpus (eval_extract.py)
    min_language_letters: int = 20  # shorter bodies get `und`
    language_trials: int = 3  # langdetect's random restarts (default 7): 3 loses nothing on the corpus
    min_prose_words: int = 8  # body lines this long that end like a sentence are read first for the language
