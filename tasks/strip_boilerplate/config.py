"""BoilerplateConfig: the thresholds of template learning, measured on the corpus (bench/eval_boilerplate.py), and
when published documents are stripped again under a changed template model (`restrip`)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.runs import RESTRIP_AUTO, RESTRIP_MODES


@dataclass(frozen=True, slots=True)
class BoilerplateConfig:
    min_site_pages: int = 2  # a line must recur on this many sampled pages of one site
    min_site_share: float = 0.05  # … and on this share of them
    min_domain_pages: int = 3  # or on this many pages of the registered domain
    min_domain_share: float = 0.03
    max_gap_short_lines: int = 8  # short page-specific lines tolerated between template lines of one run
    max_short_line_words: int = 4
    prefix_words: int = 5  # long lines also match by their first words (menu teasers vary at the end)
    max_sample_pages: int = 200  # pages kept per group in the learned model
    max_copy_jaccard: float = 0.9  # pages sharing more of their lines are one page (sample rows without sketch)
    min_copy_similarity: float = 0.6  # word 3-gram Jaccard from which two pages are copies of one document
    sketch_size: int = 128  # bottom-k shingle hashes kept per sampled page to estimate that Jaccard
    max_gutted_share: float = 0.1  # a page keeping no more than this share of its lines is re-checked for copies
    min_copy_shared: float = 0.5  # … a copy shares this share of the page's lines through lines found nowhere else
    min_variant_containment: float = 0.3  # a page's body 3-grams found in a sampled page: its variant (copies.py)
    max_head_lines: int = 150  # only the first/last lines of a page can be template
    max_tail_lines: int = 60
    lead_fingerprint_lines: int = 2  # pages without URL are grouped by their first lines
    min_known_pages: int = 3  # a line frequent on this many pages of any group is template everywhere
    min_field_units: int = 3  # key/value units in a row that make a field block (never template)
    max_field_label_words: int = 6
    max_field_value_words: int = 40  # longer lines are body text, not a field's value
    max_nav_words: int = 5  # a navigation label is this short (nav_shape.py)
    max_nav_chars: int = 48
    max_cookie_words: int = 60  # a cookie notice in the leading/trailing block is at most this long
    min_nav_block_lines: int = 2  # a navigation block without frequent lines needs this many text lines
    min_nav_title_words: int = 3  # the last plain label of a leading block this long is the page's heading
    max_banner_words: int = 40  # sentences above a leading navigation block (a site notice) this short go with it
    restrip: str = RESTRIP_AUTO  # one of RESTRIP_MODES

    def __post_init__(self) -> None:
        if self.restrip not in RESTRIP_MODES:
            raise ValueError(f"restrip must be one of {', '.join(RESTRIP_MODES)}, not {self.restrip!r}")


# "For more information please contact: …" opens a contact block that runs to the end of the page (the corpus
# labels' rule); "For further information, please consult: <links>" is body text.
