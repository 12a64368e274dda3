"""DedupeConfig: the dedupe stage's thresholds and MinHash/LSH parameters."""

from __future__ import annotations

from dataclasses import dataclass

from tasks.dedupe.minhash import Sketcher
from tasks.dedupe.residue import ResidueRules
from tasks.identity import DOC_ID_HEX_CHARS


@dataclass(frozen=True, slots=True)
class DedupeConfig:
    id_hex_chars: int = DOC_ID_HEX_CHARS  # doc_id length (128 bits)
    min_jaccard: float = 0.8  # near duplicate: exact Jaccard of word n-gram sets at least this
    shingle_words: int = 3  # words per shingle
    num_perm: int = 100  # MinHash permutations
    # 20 bands x 5 rows: P(candidate) = 0.9996 at Jaccard 0.8, 0.9955 at 0.75, 0.47 at 0.5 (bench/bench_dedupe.py)
    bands: int = 20
    seed: int = 1  # permutations; changing it invalidates the stored index
    threads: int = 2  # sketching threads (numpy, Arrow and rensa release the GIL)
    engine: str = "rensa"  # MinHash engine (minhash.py); changing it invalidates the stored index
    # contained (residue.py): the smaller page's shingles in the larger at least this share, then Jaccard without
    # the larger's leading navigation run ≥ min_jaccard (bench/eval_dedupe.py --set syndicated)
    min_containment: float = 0.9
    max_nav_line_words: int = 4  # a menu line: at most this many words (corpus labels: 81 % of template lines)
    min_line_coverage: float = 0.5  # a line is found in the other page when this share of its shingles is
    # menu-free band keys (menu_run.py), a second candidate source: the text from the end of its leading
    # menu-shaped run, looked for in the first max_menu_lines lines / max_menu_chars characters; only when the run
    # holds at least min_menu_shingle_share of the page's shingles (below that, the page's own keys collide with
    # its original's: Jaccard ≥ 0.9 × the bodies', P(candidate) ≥ 0.99 from body Jaccard 0.85)
    max_menu_lines: int = 80
    max_menu_chars: int = 8000
    min_menu_shingle_share: float = 0.1

    def __post_init__(self) -> None:
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands})")
        if self.engine not in ("rensa", "numpy"):
            raise ValueError(f"engine must be 'rensa' or 'numpy', not {self.engine!r}")

    @property
    def residue_rules(self) -> ResidueRules:
        return ResidueRules(self.min_jaccard, self.min_containment, self.max_nav_line_words, self.min_line_coverage)

    @property
    def sketcher(self) -> Sketcher:
        return Sketcher(self.shingle_words, self.num_perm, self.bands, self.seed, self.threads, self.engine)
