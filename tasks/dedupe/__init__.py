"""Dedupe stage: fold duplicate pages into one document, against everything published before (contract:
stage.py's docstring).

Modules: config (DedupeConfig), sketches (MinHash sketches of a batch),
minhash (shingles, signatures, band keys, Jaccard), history (the published history and near-duplicate index, read
filtered with DuckDB), keys (the night's identities and band keys as numpy arrays, for the reduce), decide (the
night's decisions: one record per doc_id, unchanged, exact pass, near fold),
near (LSH candidates, verification, clusters), residue (verifying a pair on template-free bodies), version (the
`unchanged` test), outputs (duplicates and index rows, spills), shards (the map tasks: sketch parts, kept parts),
stage (the pure function and the sharded stage). This file re-exports only.
"""

from tasks._stage import content_hash
from tasks.dedupe.config import DedupeConfig
from tasks.dedupe.history import DedupeIndex, history_from_files, load_history, published_history
from tasks.dedupe.sketches import Sketches, sketch_chunks, sketch_pages
from tasks.dedupe.stage import NARROW_COLUMNS, STAGE, dedupe_pages, dedupe_stage
from tasks.identity import canonical_url, doc_id_for, doc_ids

__all__ = [
    "NARROW_COLUMNS",
    "STAGE",
    "DedupeConfig",
    "DedupeIndex",
    "Sketches",
    "canonical_url",
    "content_hash",
    "dedupe_pages",
    "dedupe_stage",
    "doc_id_for",
    "doc_ids",
    "history_from_files",
    "load_history",
    "published_history",
    "sketch_chunks",
    "sketch_pages",
]
