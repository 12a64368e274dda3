"""strip_boilerplate's map tasks (tasks/_shards.py): per shard of the night's pages, the per-page work.

`sample_shard` writes the shard's bottom-k sample of every template group by page key and position only
(`out/samples/part-NNNNN.parquet`: at most `max_sample_pages` a group, whatever the shard's size). The reduce
(stage.py) merges them with the stored sample into the night's sample; `fingerprint_shard` then fingerprints the
shard's pages that are in it (`out/selected/` → `out/fingerprints/`: a page is fingerprinted only when it is in
the night's sample, not in a shard's), and the filled sample is written to `out/model.parquet`, the model file.
`clean_shard` builds the night's models from that file (once per process and file) and writes the shard's kept
pages (`out/kept/part-NNNNN.parquet`) and quarantine rows (`out/quarantine/part-NNNNN.parquet`); its manifest
carries the shard's counters (rows in, lines removed, contact blocks, removed lines by reason code).
`restrip_shard` reads a row range of a `documents` data file and strips again, under the same models, the
published documents of the re-stripped groups that may strip differently (changed.RestripScope), writing those
whose text changes to `out/restrip/part-NNNNN.parquet`.
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import BOILERPLATE_PAGES, DOCUMENTS, QUARANTINE, STG_CLEAN, Table
from tasks._progress import step
from tasks._shards import Shard, fault_drill, map_shards, trim_memory
from tasks._spill import SpillWriter, part_file, write_spill
from tasks._stage import quarantine_table
from tasks.strip_boilerplate.changed import RestripScope
from tasks.strip_boilerplate.config import BoilerplateConfig
from tasks.strip_boilerplate.model import PageSample, TemplateModels, fingerprints, sample_models
from tasks.strip_boilerplate.pages import RESTRIP_COLUMNS, STAGE, restrip, strip_rows

SAMPLES_DIR = "samples"
SELECTED_DIR = "selected"
FINGERPRINTS_DIR = "fingerprints"
KEPT_DIR = "kept"
QUARANTINE_DIR = "quarantine"
RESTRIP_DIR = "restrip"
MODEL_FILE = "model.parquet"
SAMPLE_COLUMNS = ("url", "raw_text", "raw_html", "run_id")  # what the sample needs of a page
# what restrip_shard reads of a documents file, as declared (deltalake writes string views)
_RESTRIP = Table("restrip", DOCUMENTS.grain, (), tuple(map(DOCUMENTS.column, RESTRIP_COLUMNS)), published=False)
_PAGES = BOILERPLATE_PAGES.arrow_schema
_CANDIDATES = pa.schema([_PAGES.field("site"), _PAGES.field("page_key"), _PAGES.field("run_id"), ("row", pa.int64())])
_FINGERPRINTS = pa.schema([("row", pa.int64()), _PAGES.field("line_hashes"), _PAGES.field("body_sketch")])


def sample_shard(shard: Shard, cfg: BoilerplateConfig, out: Path) -> dict[str, int]:
    """Write the shard's own bottom-k sample of every group, pages by position (the candidates for the night's
    sample)."""
    sample = PageSample(BOILERPLATE_PAGES.empty(), cfg)
    for first, batch in shard.placed_batches(SAMPLE_COLUMNS):
        sample.add(pa.Table.from_batches([batch]), first_row=first)
    rows = pa.Table.from_pylist(sample.new_rows(), schema=_CANDIDATES)
    _write(rows, part_file(Path(out) / SAMPLES_DIR, shard.index))
    return {"sampled": rows.num_rows}


def merge_samples(stored: pa.Table, out: Path, n_shards: int, cfg: BoilerplateConfig) -> PageSample:
    """The night's sample: the stored sample, then each shard's sample in shard order (PageSample.merge); its
    pages from tonight are still unfilled (`fingerprint_sample`)."""
    sample = PageSample(stored, cfg)
    for index in range(n_shards):
        part = pq.read_table(part_file(Path(out) / SAMPLES_DIR, index))
        sample.merge(part.append_column("shard", pa.array([index] * part.num_rows, pa.int64())))
    return sample


def fingerprint_sample(sample: PageSample, shards: list[Shard], cfg: BoilerplateConfig, out: Path) -> None:
    """Fingerprint tonight's pages of the night's sample on the shards holding them (a map), and fill the sample."""
    wanted: dict[int, set[int]] = {}
    for row in sample.unfilled():
        wanted.setdefault(row["shard"], set()).add(row["row"])
    for index, rows in wanted.items():
        _write(pa.table({"row": pa.array(sorted(rows), pa.int64())}), part_file(Path(out) / SELECTED_DIR, index))
    holding = [shards[index] for index in sorted(wanted)]
    with step("fingerprinting the sampled pages", records=sum(s.rows for s in holding)):
        map_shards(fingerprint_shard, holding, cfg=cfg, out=out)
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for index in sorted(wanted):
        for row in pq.read_table(part_file(Path(out) / FINGERPRINTS_DIR, index)).to_pylist():
            found[(index, row.pop("row"))] = row
    sample.fill(lambda place: found[(place["shard"], place["row"])])


def fingerprint_shard(shard: Shard, cfg: BoilerplateConfig, out: Path) -> dict[str, int]:
    """Write the fingerprints of the shard's pages selected for the night's sample (`out/selected/`)."""
    wanted = set(pq.read_table(part_file(Path(out) / SELECTED_DIR, shard.index)).column("row").to_pylist())
    rows: list[dict[str, Any]] = []
    for first, batch in shard.placed_batches(["raw_text"]):
        for i, text in enumerate(batch.column(0).to_pylist()):
            if first + i in wanted:
                rows.append({"row": first + i, **fingerprints((text or "").splitlines(), cfg)})
    _write(pa.Table.from_pylist(rows, schema=_FINGERPRINTS), part_file(Path(out) / FINGERPRINTS_DIR, shard.index))
    return {"fingerprinted": len(rows)}


def _write(rows: pa.Table, path: Path) -> None:
    """A scratch file of the stage's own (a shard's sample, selection or fingerprints)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(rows, path)


def write_model(sample: PageSample, out: Path) -> Path:
    """The model file: the night's whole sample, from which every worker builds the same models."""
    return write_spill(Path(out) / MODEL_FILE, BOILERPLATE_PAGES, [sample.all_rows()]).path


@functools.lru_cache(maxsize=1)
def _models_of_file(path: str, version: tuple[int, int], cfg: BoilerplateConfig) -> TemplateModels:
    """The models of a model file; what building them freed is handed back (the sample as Python rows: at 1M
    pages, a worker's models took +245 MB, +208 MB after the hand-back, +161 MB with sketches as tuples)."""
    models = sample_models(pq.read_table(path), cfg)
    trim_memory()
    return models


def forget_models() -> None:
    """Drop the models this process built (the run process keeps the rest of the night without them)."""
    _models_of_file.cache_clear()


def load_models(model_file: Path, cfg: BoilerplateConfig) -> TemplateModels:
    """The night's models, built once per process for a model file (a worker cleans many shards of a night;
    the file's mtime and size are in the key, so a rerun writing the same path builds them again)."""
    stat = Path(model_file).stat()
    return _models_of_file(str(model_file), (stat.st_mtime_ns, stat.st_size), cfg)


def clean_shard(shard: Shard, cfg: BoilerplateConfig, model_file: Path, out: Path) -> dict[str, Any]:
    """Strip every page of the shard under the night's models; write its kept and quarantine part files and
    return its counters."""
    fault_drill(STAGE, shard)
    models = load_models(model_file, cfg)
    counts: Counter[str] = Counter()
    rejects: list[dict[str, Any]] = []
    with SpillWriter(part_file(Path(out) / KEPT_DIR, shard.index), STG_CLEAN) as writer:
        for batch in shard.batches():
            counts["in"] += batch.num_rows
            writer.write(strip_rows(batch, models, cfg, counts, rejects))
    write_spill(part_file(Path(out) / QUARANTINE_DIR, shard.index), QUARANTINE, [quarantine_table(rejects)])
    return dict(counts)


def restrip_shard(
    shard: Shard,
    cfg: BoilerplateConfig,
    model_file: Path,
    scope: RestripScope,
    run_id: str,
    tonight: frozenset[str],
    out: Path,
) -> dict[str, int]:
    """Strip again the candidates among the shard's published documents `scope` reads (pages.restrip with
    `scope`; `tonight`: source_uri of the night's pages, skipped) and write those whose text or fingerprints
    change."""
    models = load_models(model_file, cfg)
    counts: Counter[str] = Counter()
    present = [c for c in RESTRIP_COLUMNS if c in pq.read_schema(shard.path).names]  # older files lack line_keys
    with SpillWriter(part_file(Path(out) / RESTRIP_DIR, shard.index), STG_CLEAN) as writer:
        # one column at a time: a row group of these 12 columns (page texts twice) decoded side by side took a
        # worker +170 MB, +120 MB on one thread (1M documents' files); the worker processes fill the cores anyway
        for batch in shard.batches(present, threads=False):
            docs = _RESTRIP.conform(pa.Table.from_batches([batch]))
            part = restrip(docs, run_id, models, cfg, tonight, scope, counts)
            counts["restripped"] += part.num_rows
            writer.write(part)
    return dict(counts)
