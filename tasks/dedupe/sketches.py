"""Per page of a batch: identity (content_hash, doc_id) and MinHash sketch (signature, shingle count, band keys,
and the band keys of the text without its leading menu-shaped run: menu_run.py), computed a chunk at a time so the
batch's texts never all exist at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tasks._spill import Rows, chunks
from tasks._stage import content_hash
from tasks.dedupe.config import DedupeConfig
from tasks.dedupe.menu_run import leading_menu_words
from tasks.identity import doc_ids


@dataclass(frozen=True, slots=True)
class Sketches:
    """Per page of a batch: content_hash, doc_id, MinHash signature, shingle count and band keys; `menu_of[i]`:
    the row of `menu_keys` holding page i's menu-free band keys (-1: none; only pages with a leading menu-shaped
    run of at least `min_menu_shingle_share` of their shingles have them)."""

    content_hash: list[str]
    doc_id: list[str]
    signatures: np.ndarray
    n_shingles: np.ndarray
    band_keys: np.ndarray
    menu_of: np.ndarray
    menu_keys: np.ndarray

    @classmethod
    def concat(cls, parts: list[Sketches], cfg: DedupeConfig) -> Sketches:
        if not parts:
            return cls(
                [],
                [],
                np.zeros((0, cfg.num_perm), np.uint32),
                np.zeros(0, np.int64),
                np.zeros((0, cfg.bands), np.int64),
                np.zeros(0, np.int64),
                np.zeros((0, cfg.bands), np.int64),
            )
        starts = np.cumsum([0] + [len(p.menu_keys) for p in parts[:-1]])
        return cls(
            [h for p in parts for h in p.content_hash],
            [d for p in parts for d in p.doc_id],
            np.concatenate([p.signatures for p in parts]),
            np.concatenate([p.n_shingles for p in parts]),
            np.concatenate([p.band_keys for p in parts]),
            np.concatenate([np.where(p.menu_of >= 0, p.menu_of + s, -1) for p, s in zip(parts, starts, strict=True)]),
            np.concatenate([p.menu_keys for p in parts]),
        )


def sketch_pages(pages: pa.Table, cfg: DedupeConfig) -> Sketches:
    """Identity and MinHash sketch of every page (row order kept)."""
    texts = pages.column("text").combine_chunks()
    urls, uris = pages.column("url").combine_chunks(), pages.column("source_uri").combine_chunks()

    def identity() -> tuple[list[str], list[str]]:
        # a slice at a time: the batch's texts never all exist as Python strings
        hashes = [content_hash(t) for a in range(0, len(texts), 5000) for t in texts.slice(a, 5000).to_pylist()]
        return hashes, doc_ids(urls, hashes, uris, cfg.id_hex_chars)

    sketcher = cfg.sketcher
    # hashing holds the GIL, sketching mostly does not: run them side by side
    with ThreadPoolExecutor(1) as pool:
        ident = pool.submit(identity)
        sig, n_shingles = sketcher.signatures(texts)
        menu_of, menu_keys = menu_free_keys(texts, n_shingles, cfg)
        hashes, ids = ident.result()
    return Sketches(hashes, ids, sig, n_shingles, sketcher.band_keys(sig), menu_of, menu_keys)


def menu_free_keys(texts: pa.Array, n_shingles: np.ndarray, cfg: DedupeConfig) -> tuple[np.ndarray, np.ndarray]:
    """(menu_of, menu_keys) of the texts: band keys of each text from the end of its leading menu-shaped run, for
    the texts whose run holds at least `min_menu_shingle_share` of their shingles (menu_run.py)."""
    skip = leading_menu_words(texts, cfg.max_nav_line_words, cfg.max_menu_lines, cfg.max_menu_chars)
    rows = np.flatnonzero(skip)
    sig, n_body = cfg.sketcher.signatures(texts.take(pa.array(rows, pa.int64())), skip[rows])
    keep = (n_body > 0) & (n_body <= (1 - cfg.min_menu_shingle_share) * n_shingles[rows])
    menu_of = np.full(len(texts), -1, np.int64)
    menu_of[rows[keep]] = np.arange(int(keep.sum()))
    return menu_of, cfg.sketcher.band_keys(sig[keep])


def sketch_chunks(pages: Rows, cfg: DedupeConfig, chunk_rows: int) -> Sketches:
    """`sketch_pages` of every row, reading the texts `chunk_rows` at a time."""
    parts = [sketch_pages(part, cfg) for part in chunks(pages, chunk_rows, ["text", "url", "source_uri"])]
    return Sketches.concat(parts, cfg)
