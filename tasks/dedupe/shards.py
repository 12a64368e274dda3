"""Dedupe's map tasks (tasks/_shards.py): per shard of the night's pages, the per-page work.

`sketch_shard` writes the shard's sketch part (`out/sketches/part-NNNNN.parquet`): the narrow columns, identity
(content_hash, doc_id) and MinHash sketch (signature, shingle count, band keys, menu-free band keys) of each page,
~0.7 KB a page. The reduce (stage.py) reads the parts' identities and band keys as numpy arrays (keys.py) and
decides; it writes the kept rows as (shard, row, is_update) to `out/kept_rows.parquet`, and `write_shard` copies
each shard's kept pages (`out/kept/`) and writes their index rows (`out/outputs/dedupe_signatures/`,
`…/dedupe_bands/`), one part file per shard, so the outputs are spill folders read in shard order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from schemas import STG_CLEAN, STG_UNIQUE
from tasks._shards import Shard, fault_drill
from tasks._spill import Rows, Spill, part_file, write_empty_parts, write_spill
from tasks._stage import raw_keys
from tasks.dedupe.config import DedupeConfig
from tasks.dedupe.decide import Decisions
from tasks.dedupe.keys import fixed_rows
from tasks.dedupe.outputs import INDEX_TABLES, kept_columns, spill_index_rows, take_in_order
from tasks.dedupe.sketches import Sketches, sketch_pages

STAGE = "dedupe"
NARROW_COLUMNS = ("source_uri", "url", "fetched_at", "run_id")  # what dedupe needs of every row besides its text
SKETCHES_DIR = "sketches"
KEPT_ROWS = "kept_rows.parquet"


def sketch_schema(cfg: DedupeConfig) -> pa.Schema:
    """Columns of a sketch part: the narrow columns, identity and sketch of each page (menu_keys null: none)."""
    narrow = [STG_CLEAN.arrow_schema.field(c) for c in NARROW_COLUMNS]
    return pa.schema(
        [
            *narrow,
            pa.field("content_hash", pa.string()),
            pa.field("doc_id", pa.string()),
            pa.field("n_shingles", pa.int64()),
            pa.field("band_keys", pa.list_(pa.int64(), cfg.bands)),
            pa.field("menu_keys", pa.list_(pa.int64(), cfg.bands)),
            pa.field("signature", pa.list_(pa.uint32(), cfg.num_perm)),
            pa.field("raw_key", pa.string()),
        ]
    )


def sketch_columns(batch: pa.Table, sk: Sketches, cfg: DedupeConfig) -> pa.Table:
    """The sketch part rows of a batch of pages and its sketches."""
    n = batch.num_rows
    menu = np.zeros((n, cfg.bands), np.int64)
    has_menu = sk.menu_of >= 0
    menu[has_menu] = sk.menu_keys[sk.menu_of[has_menu]]
    columns = {c: batch.column(c) for c in NARROW_COLUMNS}
    columns["content_hash"] = pa.array(sk.content_hash, pa.string())
    columns["doc_id"] = pa.array(sk.doc_id, pa.string())
    columns["n_shingles"] = pa.array(sk.n_shingles, pa.int64())
    columns["band_keys"] = pa.FixedSizeListArray.from_arrays(pa.array(sk.band_keys.ravel()), cfg.bands)
    columns["menu_keys"] = pa.FixedSizeListArray.from_arrays(
        pa.array(menu.ravel()), cfg.bands, mask=pa.array(~has_menu)
    )
    signature = np.ascontiguousarray(sk.signatures, np.uint32).ravel()
    columns["signature"] = pa.FixedSizeListArray.from_arrays(pa.array(signature), cfg.num_perm)
    columns["raw_key"] = raw_keys(batch.column("raw_text"))  # a duplicate's, kept in `duplicates` (outputs.py)
    return pa.table(columns, schema=sketch_schema(cfg))


def sketch_shard(shard: Shard, cfg: DedupeConfig, out: Path) -> dict[str, int]:
    """Identity and sketch of every page of the shard, written to its sketch part; returns the rows written."""
    fault_drill(STAGE, shard)
    path = part_file(Path(out) / SKETCHES_DIR, shard.index)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with pq.ParquetWriter(path, sketch_schema(cfg)) as writer:
        for batch in shard.batches(["text", "raw_text", *NARROW_COLUMNS]):
            pages = pa.Table.from_batches([batch])
            writer.write_table(sketch_columns(pages, sketch_pages(pages, cfg), cfg))
            rows += batch.num_rows
    return {"rows": rows}


def sketches_of(part: pa.Table, cfg: DedupeConfig) -> Sketches:
    """The Sketches held by sketch part rows (signatures n × 0 when the part was read without them)."""
    n = part.num_rows
    menu = part.column("menu_keys")
    has_menu = np.asarray(menu.is_valid(), bool) if n else np.zeros(0, bool)
    menu_of = np.full(n, -1, np.int64)
    menu_of[has_menu] = np.arange(int(has_menu.sum()))
    has_sig = "signature" in part.column_names
    signatures = fixed_rows(part.column("signature"), cfg.num_perm, np.uint32) if has_sig else np.zeros((n, 0))
    return Sketches(
        part.column("content_hash").to_pylist(),
        part.column("doc_id").to_pylist(),
        signatures,
        np.asarray(part.column("n_shingles").to_numpy(), np.int64),
        fixed_rows(part.column("band_keys"), cfg.bands, np.int64),
        menu_of,
        fixed_rows(menu, cfg.bands, np.int64)[has_menu],
    )


def sketch_rows(out: Path, n_shards: int, cfg: DedupeConfig) -> Rows:
    """The night's sketch rows: the shards' sketch parts, in shard order (read on demand)."""
    return Spill(Path(out) / SKETCHES_DIR) if n_shards else sketch_schema(cfg).empty_table()


def write_kept_rows(out: Path, decided: Decisions, shard_rows: list[int]) -> Path:
    """The kept rows as (shard, row in the shard, is_update), for `write_shard`."""
    starts = np.cumsum([0, *shard_rows])[:-1].astype(np.int64)
    shard = np.searchsorted(starts, decided.kept, side="right") - 1
    table = pa.table(
        {
            "shard": pa.array(shard, pa.int32()),
            "row": pa.array(decided.kept - starts[shard] if len(shard) else decided.kept, pa.int64()),
            "is_update": pa.array(decided.is_update, pa.bool_()),
        }
    )
    path = Path(out) / KEPT_ROWS
    pq.write_table(table, path)
    return path


def output_folders(out: Path) -> list[Path]:
    """Where the sharded stage writes kept pages, dedupe_signatures and dedupe_bands (one part per shard)."""
    return [Path(out) / "kept", *(Path(out) / "outputs" / t.name for t in INDEX_TABLES)]


def write_shard(shard: Shard, cfg: DedupeConfig, out: Path, kept_rows: Path) -> dict[str, int]:
    """Copy the shard's kept pages with their identity columns, and write their index rows; returns the count."""
    kept = pq.read_table(kept_rows, filters=[("shard", "=", shard.index)])
    rows = np.asarray(kept.column("row").to_numpy(), np.int64)
    part = pq.read_table(part_file(Path(out) / SKETCHES_DIR, shard.index))
    sk = sketches_of(part, cfg)
    extra = kept_columns(rows, np.asarray(kept.column("is_update").to_numpy(zero_copy_only=False), bool), sk)
    pages = (pa.Table.from_batches([b]) for b in shard.batches())
    folders = output_folders(out)
    written = write_spill(part_file(folders[0], shard.index), STG_UNIQUE, take_in_order(pages, rows, extra))
    run_ids = part.column("run_id").take(pa.array(rows, pa.int64()))
    paths = {t.name: part_file(f, shard.index) for t, f in zip(INDEX_TABLES, folders[1:], strict=True)}
    spill_index_rows(rows, extra["doc_id"], run_ids, sk, paths, shard.chunk_rows)
    return {"kept": written.num_rows}


def write_empty_outputs(out: Path) -> None:
    """No pages: one empty part per output, so every output has its schema on disk."""
    write_empty_parts(output_folders(out), (STG_UNIQUE, *INDEX_TABLES))
