"""The ingest stage proper: the StageResult of a night's reading for the flow, sharded (`ingest_stage`, the flow's
entry: shards.py) or in one process (`ingest_dumps`, `ingest_dumps_task`: tests and bench scripts, and the
reference the shards are tested against: the same rows, quarantine, registry rows and stats for any shard size).
The contract is in tasks/ingest/__init__.py."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas import DOCUMENTS, DUPLICATES, INGESTED_FILES, QUARANTINE, STG_PAGES, reasons
from tasks._shards import map_shards
from tasks._spill import Rows, Spill, write_empty_parts, write_spill
from tasks._stage import StageResult, quarantine_row, quarantine_table
from tasks.history import History
from tasks.ingest.ahead import forget_cuts, wait_for_cuts
from tasks.ingest.batches import IngestTally, iter_ingest, registry_row
from tasks.ingest.config import STAGE, IngestConfig
from tasks.ingest.elide import KNOWN_FILE, write_known_keys
from tasks.ingest.shards import KEPT_DIR, QUARANTINE_DIR, REGISTRY_DIR, IngestPlan, ingest_shard, plan_ingest
from tasks.sizes import DEFAULT_SIZES, Sizes


def ingest_dumps(
    root: Path,
    registry: pa.Table,
    cfg: IngestConfig,
    run_id: str,
    now: datetime,
    out: Path | None = None,
    sizes: Sizes = DEFAULT_SIZES,
) -> StageResult:
    """Read every new or changed file under `root` into stg_pages rows; bad input becomes quarantine rows.

    With `out`, the rows are written batch by batch to the spill `out/kept.parquet` (memory stays bounded by
    the batch size); without, they are returned in memory."""
    tally = IngestTally()
    batches = iter_ingest(root, registry, cfg, run_id, now, tally, sizes.chunk_rows)
    if out is None:
        kept: Rows = pa.Table.from_batches(list(batches), STG_PAGES.arrow_schema)
    else:
        kept = write_spill(Path(out) / "kept.parquet", STG_PAGES, batches, overlap=True)  # parsing beside zstd
    return _result(kept, quarantine_table(tally.quarantine), INGESTED_FILES.conform(tally.files), tally)


def _result(kept: Rows, quarantined: pa.Table, files: pa.Table, tally: IngestTally) -> StageResult:
    stats: dict[str, Any] = {
        "files_read": files.num_rows,
        "files_skipped": tally.files_skipped,
        "files_appended": tally.files_appended,
        "read": tally.n_pages + quarantined.num_rows,
    }
    if tally.n_elided:
        stats["texts_left_out"] = tally.n_elided
    found = Counter(quarantined["reason"].to_pylist())
    stats.update({f"quarantined.{reason}": n for reason, n in sorted(found.items())})
    return StageResult(kept, quarantined, stats, outputs={"ingested_files": files}, n_in=stats["read"])


@task(name="ingest", cache_policy=NO_CACHE)
def ingest_dumps_task(
    root: Path,
    history: History,
    cfg: IngestConfig,
    run_id: str,
    now: datetime,
    sizes: Sizes = DEFAULT_SIZES,
    out: Path | None = None,
) -> StageResult:
    """`ingest_dumps` against the file registry as it was before this run (tasks/history.py) without this run's
    own rows (which a later run's version can hold): a rerun of this run (`--from ingest` after a kill past the
    registry's commit) reads its own files again."""
    return ingest_dumps(root, _registry_before(history, run_id), cfg, run_id, now, out, sizes)


def _registry_before(history: History, run_id: str) -> pa.Table:
    registry = history.read(INGESTED_FILES)
    return registry.filter(pc.not_equal(registry["run_id"], run_id))


def ingest_stage(
    root: Path,
    history: History,
    cfg: IngestConfig,
    run_id: str,
    now: datetime,
    sizes: Sizes = DEFAULT_SIZES,
    *,
    out: Path,
) -> StageResult:
    """The stage as the flow runs it (against the registry as `ingest_dumps_task` reads it): the night's files
    planned into shards of ~`sizes.shard_bytes` (shards.py), one shard task each on the flow's task runner, then
    the registry rows of the files read in slices, once all their slices are in."""
    out = Path(out)
    for folder in (KEPT_DIR, QUARANTINE_DIR, REGISTRY_DIR):  # an earlier attempt's parts (a retry) do not stay
        shutil.rmtree(out / folder, ignore_errors=True)
    wait_for_cuts()  # made ahead of the flow by `docpipe run` (ahead.py)
    plan = plan_ingest(root, _registry_before(history, run_id), cfg, run_id, sizes.shard_bytes)
    forget_cuts()  # any cut made ahead and not taken
    known = _known_keys(history, plan, out / KNOWN_FILE)
    manifests = map_shards(
        ingest_shard, plan.shards, cfg=cfg, run_id=run_id, now=now, chunk_rows=sizes.chunk_rows, out=out, known=known
    )
    if not plan.shards:
        write_empty_parts(
            [out / d for d in (KEPT_DIR, QUARANTINE_DIR, REGISTRY_DIR)], [STG_PAGES, QUARANTINE, INGESTED_FILES]
        )
    tally = plan.tally
    for manifest in manifests:
        tally.n_pages += manifest["records"]
        tally.n_elided += manifest["texts_left_out"]
        tally.files_skipped += manifest["files_skipped"]
        tally.slices.update({(rel, index): n for rel, index, n in manifest["slices"]})
    sliced = _sliced_files(plan, run_id)
    quarantined = pa.concat_tables([quarantine_table(tally.quarantine), Spill(out / QUARANTINE_DIR).read()])
    files = pa.concat_tables([INGESTED_FILES.conform(tally.files), Spill(out / REGISTRY_DIR).read(), sliced])
    return _result(Spill(out / KEPT_DIR), quarantined, files, tally)


def _known_keys(history: History, plan: IngestPlan, path: Path) -> Path | None:
    """The published raw_keys (elide.py), when the night reads a JSON Lines file in slices and there are
    published documents."""
    if not plan.sliced or not (documents := history.files(DOCUMENTS)):
        return None
    return write_known_keys(documents, history.files(DUPLICATES), path)


def _sliced_files(plan: IngestPlan, run_id: str) -> pa.Table:
    """The registry rows of the files read in slices; one that changed or vanished since it was cut, or that a
    slice could not open, is quarantined instead (ingest.file_changed; its records read stay, as in
    `ingest_dumps`), and one that gave no item is reported empty."""
    rows, tally = [], plan.tally
    for rel, (entry, before, sha, n_slices, n_known) in plan.sliced.items():
        items = [tally.slices[(rel, i)] for i in range(n_slices)]
        try:
            after = os.stat(entry.path, follow_symlinks=False)
            same = (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
        except OSError:
            same = False
        n_records = n_known + sum(n for n in items if n > 0)
        if not same or min(items, default=0) < 0:
            message = (
                f"changed while read (read in {n_slices} slices): the {n_records} items read stay, the file is not"
                " registered, so the next run reads it again"
            )
            tally.quarantine.append(quarantine_row(rel, STAGE, reasons.INGEST_FILE_CHANGED, message, run_id))
            continue
        if n_records == 0:
            message = "holds no records (empty or only whitespace)"
            tally.quarantine.append(quarantine_row(rel, STAGE, reasons.INGEST_EMPTY, message, run_id))
            n_records = 1
        rows.append(registry_row(rel, before, sha, n_records, run_id))
    return INGESTED_FILES.conform(rows)
