"""The strip_boilerplate stage proper: each page stripped under the night's template models, published documents
that may strip differently under them stripped again. The contract is in tasks/strip_boilerplate/__init__.py.

`strip_stage` (the flow's entry) first lets records re-delivered as published leave the night (unchanged.py: an
unchanged page costs a hash; in a process of its own when the run has worker processes, tasks/_shards.apart), then
is plan → map → reduce → map → reduce → map → map: the night's pages cut into shards, each shard's bottom-k sample
per group by page key (shards.sample_shard), the night's sample merged from them and the stored one, its pages of
tonight fingerprinted on the shards holding them (shards.fingerprint_shard) and the sample written to the model
file, each shard stripped under it (shards.clean_shard, part files of kept rows and quarantine); then the published
documents that may strip differently under the night's models (changed.scope_since: from the stored sample, or
after nights that deferred their re-strip from each sample the documents were stripped under; on a worker process
when the run has them, tasks/_shards.offload, where the clean map left the night's models built), cut into shards of
`Sizes.restrip_rows` documents, of which each shard strips again only the candidates (shards.restrip_shard: a line
fingerprint whose evidence changed, changed.RestripScope); the counters are summed from the manifests.
`strip_boilerplate` and `strip_boilerplate_task` are the same work in one process (tests, bench scripts),
stripping every published document the scope reads again (the reference the candidate filter is tested against,
tests/tasks/test_restrip_candidates.py); both give the same rows and stats for any shard size, the stage's stats
adding how it re-stripped (`restrip`). The one-process path always re-strips as `auto` after a run that
re-stripped: `cfg.restrip` and the runs history are read only by `strip_stage` (`_night_restrip`).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas import BOILERPLATE_PAGES, DOCUMENTS, DUPLICATES, QUARANTINE, RUNS, STG_CLEAN, STG_PAGES
from schemas.runs import (
    RESTRIP,
    RESTRIP_ALL,
    RESTRIP_DEFER,
    RESTRIPPED_ALL,
    RESTRIPPED_DEFERRED,
    RESTRIPPED_SCOPED,
    STAGES,
)
from tasks._progress import Laps, note, step
from tasks._shards import Shard, apart, as_spill, map_shards, plan_shards, spread_rows, trim_memory
from tasks._spill import Rows, Spill, SpillWriter, chunks, part_file
from tasks._stage import StageResult, has_left_out, quarantine_table
from tasks.history import History
from tasks.sizes import DEFAULT_SIZES, Sizes
from tasks.strip_boilerplate.changed import (
    EVERY_DOCUMENT,
    NOTHING_TO_RESTRIP,
    RestripScope,
    groups_changed_since,
    restrip_scope,
    scope_since,
)
from tasks.strip_boilerplate.config import BoilerplateConfig
from tasks.strip_boilerplate.model import PageSample
from tasks.strip_boilerplate.pages import RESTRIP_COLUMNS, STAGE, restrip, stage_stats, strip_rows
from tasks.strip_boilerplate.shards import (
    KEPT_DIR,
    QUARANTINE_DIR,
    RESTRIP_DIR,
    clean_shard,
    fingerprint_sample,
    forget_models,
    load_models,
    merge_samples,
    restrip_shard,
    sample_shard,
    write_model,
)
from tasks.strip_boilerplate.unchanged import Leaving, without_unchanged

SPREAD_LEAST_ROWS = 1_000  # a worker process builds the night's models (~2 s) for its shard: worth it from here


def strip_boilerplate(
    pages: pa.Table, samples: pa.Table, cfg: BoilerplateConfig, published: pa.Table | None = None
) -> StageResult:
    """Remove template lines learned from `samples` plus this batch; cut contact blocks.

    `published`: the documents tonight's re-strip reads (changed.restrip_scope, `read_documents_in_scope`). Those
    whose text comes out different under the new model are returned again (kept, counted in
    stats["restripped"]) so the rest of the run republishes them: results do not depend on how pages were
    spread over runs. Documents identified by their body (no URL, inside a multi-record dump) keep their text,
    since a new text would give them a new id.
    """
    sample = PageSample(samples, cfg)
    sample.add(pages)
    return strip_chunks([pages], sample, cfg, published)


def strip_chunks(
    parts: Iterable[pa.Table],
    sample: PageSample,
    cfg: BoilerplateConfig,
    published: pa.Table | Iterable[pa.Table] | None = None,
    out: Path | None = None,
) -> StageResult:
    """`strip_boilerplate` over pages arriving in parts, under the models of a sample that has seen them all.
    With `out`, kept rows are written to the spill `out/kept.parquet` as they come; `published` may come in
    parts too (one per data file)."""
    models = sample.models()
    writer = SpillWriter(Path(out) / "kept.parquet", STG_CLEAN) if out is not None else None
    kept_parts: list[pa.Table] = []
    emit = writer.write if writer is not None else kept_parts.append
    rejects: list[dict[str, Any]] = []
    tonight: set[str] = set()
    counts: Counter[str] = Counter()
    n_in, run_id = 0, None
    for pages in parts:
        n_in += pages.num_rows
        tonight.update(pages.column("source_uri").to_pylist())
        run_id = run_id or (pages.column("run_id")[0].as_py() if pages.num_rows else None)
        emit(strip_rows(pages, models, cfg, counts, rejects))
    restripped = 0
    for docs in [published] if isinstance(published, pa.Table) else published or ():
        part = restrip(docs, run_id, models, cfg, tonight)
        restripped += part.num_rows
        emit(part)
    if writer is not None:
        kept: Rows = writer.close()
    else:
        kept = pa.concat_tables(kept_parts) if kept_parts else STG_CLEAN.empty()
    return StageResult(
        kept,
        quarantine_table(rejects),
        stage_stats(counts, restripped),
        outputs={"boilerplate_pages": BOILERPLATE_PAGES.conform(sample.new_rows())},
        n_in=n_in + restripped,
    )


@task(name="strip-boilerplate", cache_policy=NO_CACHE)
def strip_boilerplate_task(
    pages: Rows, history: History, cfg: BoilerplateConfig, out: Path | None = None, sizes: Sizes = DEFAULT_SIZES
) -> StageResult:
    """Two passes over the night's pages in this process, `sizes.chunk_rows` at a time: the first feeds the
    template sample, the second strips each chunk."""
    stored = history.read(BOILERPLATE_PAGES)
    sample = PageSample(stored, cfg)
    for part in chunks(pages, sizes.chunk_rows, ["url", "raw_text", "raw_html", "run_id"]):
        sample.add(part)
    published = read_documents_in_scope(history, restrip_scope(stored, sample, sample.models, cfg))
    return strip_chunks(chunks(pages, sizes.chunk_rows), sample, cfg, published, out)


def strip_stage(
    pages: Rows,
    history: History,
    cfg: BoilerplateConfig,
    sizes: Sizes = DEFAULT_SIZES,
    run_id: str | None = None,
    restore: Callable[[Spill, Path], tuple[Spill, pa.Table]] | None = None,
    *,
    out: Path,
) -> StageResult:
    """The stage as the flow runs it: two maps of one shard task per ~`sizes.shard_rows` pages, the sample merge
    between them and the re-strip of published documents after them (module docstring). `run_id`: the run the
    re-stripped documents are republished by (default: the night's pages'; a night of no pages re-strips only
    with it). `restore`: ingest's `restore_texts` (the flow passes it; a stage imports no other): the spill of the
    records that go on with the raw texts ingest left out read again, into the path it is given, and the quarantine
    rows of those whose raw line changed since; None when no text was left out."""
    out, laps = Path(out), Laps()
    delivered = as_spill(pages, out / "input.parquet", STG_PAGES, sizes.shard_rows)
    # night-wide (every record's hash against the published raw_key): apart, since the run process kept ~100 MB of
    # it through the whole stage (100k pages, night 2, replayed); a first night has nothing to compare with
    has_documents = bool(history.files(DOCUMENTS))
    left = Leaving(delivered)
    laps.lap("spill")
    if has_documents:
        deferred = cfg.restrip == RESTRIP_DEFER  # a re-delivered duplicate keeps its recorded row (unchanged.py)
        with step("finding the records re-delivered unchanged"):
            left = apart(without_unchanged, delivered, history, out / "changed.parquet", sizes.chunk_rows, deferred)
        laps.lap("unchanged")
        moved = f" ({left.moved.num_rows:,} at another source_uri)" if left.moved.num_rows else ""
        also = f", {left.duplicates:,} as a recorded duplicate{moved}" if deferred else ""
        delivered_as = f"{left.unchanged:,} of {delivered.num_rows:,} records re-delivered as published{also}"
        note(f"unchanged: {delivered_as} ({laps.seconds['unchanged']:.1f} s)")
    if restore is None and has_left_out(left.spill):
        raise ValueError("the night's records hold raw texts left out by ingest: strip needs ingest's restore_texts")
    spill, lost = restore(left.spill, out / "restored.parquet") if restore else (left.spill, QUARANTINE.empty())
    laps.lap("restore")
    # a small night (100k pages, 1 % new: 3,518 left) in shards for every worker process, not one on one core
    shards = plan_shards(spill, spread_rows(spill.num_rows, sizes.shard_rows, SPREAD_LEAST_ROWS), sizes.chunk_rows)
    with step("sampling pages"):
        map_shards(sample_shard, shards, cfg=cfg, out=out)
    laps.lap("sample")
    stored = history.read(BOILERPLATE_PAGES)
    sample = merge_samples(stored, out, len(shards), cfg)
    laps.lap("merge")
    fingerprint_sample(sample, shards, cfg, out)
    model_file = write_model(sample, out)
    laps.lap("fingerprint")
    with step("stripping pages"):
        manifests = map_shards(clean_shard, shards, cfg=cfg, model_file=model_file, out=out)
    laps.lap("clean")
    counts: Counter[str] = sum((Counter(m) for m in manifests), Counter())
    if counts["in"] != spill.num_rows:
        raise AssertionError(f"strip_boilerplate shards read {counts['in']} pages of {spill.num_rows}")
    # a lone shard is cleaned here (map_shards): its models go before the re-strip's shards run on the workers
    # (100k night 2: this process kept ~300 MB of models beside both workers' own); with no worker processes the
    # re-strip builds them again
    forget_models()
    trim_memory()
    done, scope = _night_restrip(cfg, history, has_documents, sample, stored, model_file)
    laps.lap("scope")
    restripped = _restrip_published(spill, history, model_file, scope, cfg, sizes, out, len(shards), run_id)
    forget_models()
    laps.lap("re-strip")
    note(laps.line(STAGE))
    quarantined = Spill(out / QUARANTINE_DIR).read() if shards else QUARANTINE.empty()
    return StageResult(
        Spill(out / KEPT_DIR),
        pa.concat_tables([lost, quarantined]) if lost.num_rows else quarantined,
        {**stage_stats(counts, restripped, left.unchanged, left.duplicates), RESTRIP: done},
        outputs={
            "boilerplate_pages": BOILERPLATE_PAGES.conform(sample.new_rows()),
            **({DUPLICATES.name: left.moved} if left.moved.num_rows else {}),  # dedupe's rows join them (ledger)
        },
        n_in=delivered.num_rows + restripped,
        n_dropped=left.unchanged + left.duplicates,
    )


def _night_restrip(
    cfg: BoilerplateConfig,
    history: History,
    has_documents: bool,
    sample: PageSample,
    stored: pa.Table,
    model_file: Path,
) -> tuple[str, RestripScope]:
    """How tonight keeps published texts current with the template model (`cfg.restrip`), as `runs.restrip`
    records it, and the published documents it strips again. Nothing published yet: nothing to strip again.
    `all`: every published document. `defer`: nothing tonight ("deferred", kept from the last run, or when a
    group's sample changed). `auto` after runs that deferred: the documents the change from any sample they were
    stripped under may move (`stripped_under`, changed.scope_since), or every one when the runs did not record
    their table versions. No group's sample changed: nothing to strip again. Otherwise the documents tonight's
    model change may move ("scoped")."""
    if not has_documents:
        return RESTRIPPED_SCOPED, NOTHING_TO_RESTRIP
    if cfg.restrip == RESTRIP_ALL:
        return RESTRIPPED_ALL, EVERY_DOCUMENT
    changed = sample.changed_groups()
    behind = last_deferred(history)
    if cfg.restrip == RESTRIP_DEFER and (changed or behind):
        return RESTRIPPED_DEFERRED, NOTHING_TO_RESTRIP
    if behind:
        befores = stripped_under(history, stored)
        if befores is None:
            return RESTRIPPED_ALL, EVERY_DOCUMENT
        since = [(before, groups_changed_since(before, sample.keys, cfg)) for before in befores]
    else:
        since = [(stored, changed)]
    if not any(groups for _, groups in since):
        return RESTRIPPED_SCOPED, NOTHING_TO_RESTRIP
    # the before/after models of the changed groups on the worker processes when the run has them, a sample each
    # (changed.scope_since; at 1M pages they took this process to 1 GB while both strip workers held their models):
    # the clean map left the night's models built there (load_models), and the re-strip's shards go on with them
    # (100k night 2: in a process of its own, tasks/_shards.apart, the scope took 5.3 s and the re-strip's new
    # workers built the models again)
    night_models = functools.partial(load_models, model_file, cfg)
    return RESTRIPPED_SCOPED, scope_since(since, night_models, cfg)


def last_deferred(history: History) -> bool:
    """Whether the last run that succeeded before this one deferred its re-strip (`runs.restrip`; runs recorded
    before the column have none: they re-stripped)."""
    done = [run for run in _runs_before(history, ["status", "restrip"]) if run["status"] == "succeeded"]
    return bool(done) and done[0]["restrip"] == RESTRIPPED_DEFERRED


def stripped_under(history: History, stored: pa.Table) -> list[pa.Table] | None:
    """The samples (`boilerplate_pages` as a run left it: `runs.table_versions`) the published documents were
    stripped under: the stored one (`stored`, the pinned version: a run killed after its commits left no row), the
    last run's that re-stripped (every document published until then strips as under it) and each deferred night's
    since (its own pages). None (every document, then) when one of those runs recorded no version of the table, or
    one failed in publish (its commits hold documents of a sample no row names)."""
    pinned = history.version(BOILERPLATE_PAGES)
    versions: list[int] = []
    for run in _runs_before(history, ["status", "failed_stage", "restrip", "table_versions"]):
        if run["status"] != "succeeded":
            if run["failed_stage"] == STAGES[-1]:  # publish
                return None
            continue
        version = dict(run["table_versions"] or ()).get(BOILERPLATE_PAGES.name)
        if version is None:
            return None
        versions.append(version)
        if run["restrip"] != RESTRIPPED_DEFERRED:
            older = dict.fromkeys(v for v in versions if v != pinned)
            return [stored, *(_sample_at(history.warehouse, version) for version in older)]
    return None


def _sample_at(warehouse: Path, version: int) -> pa.Table:
    """`boilerplate_pages` at `version`."""
    return History.pinned(warehouse, {BOILERPLATE_PAGES.name: version}).read(BOILERPLATE_PAGES)


def _runs_before(history: History, columns: list[str]) -> list[dict[str, Any]]:
    """`columns` of the runs recorded before this one, the last first."""
    runs = history.read(RUNS, ["finished_at", *columns])
    return runs.sort_by([("finished_at", "descending")]).select(columns).to_pylist()


def _restrip_published(
    spill: Spill,
    history: History,
    model_file: Path,
    scope: RestripScope,
    cfg: BoilerplateConfig,
    sizes: Sizes,
    out: Path,
    index: int,
    run_id: str | None,
) -> int:
    """Strip again the published documents of `scope` (changed.py) on shards of `sizes.restrip_rows` documents, and
    write those whose text changes, in the order of the documents' files, to the kept rows' part file `index`
    (written even when empty); returns their count."""
    if run_id is None:
        first = next(spill.batches(1, ["run_id"]), None)
        run_id = first.column(0)[0].as_py() if first is not None and first.num_rows else None
    shards: list[Shard] = []
    tonight: frozenset[str] = frozenset()
    if run_id is not None and not scope.empty:
        shards, tonight = _plan_restrip(history, scope, _night_uris(spill, sizes.key_rows), sizes)
    with step("stripping published documents again", records=sum(s.rows for s in shards)):
        manifests = map_shards(
            restrip_shard, shards, cfg=cfg, model_file=model_file, scope=scope, run_id=run_id, tonight=tonight, out=out
        )
    with SpillWriter(part_file(out / KEPT_DIR, index), STG_CLEAN) as writer:
        for shard in shards:
            writer.write(pq.read_table(part_file(out / RESTRIP_DIR, shard.index)))
    found: Counter[str] = sum((Counter(m) for m in manifests), Counter())
    if shards:
        note(
            f"re-strip: published documents read {found['read']:,}, stripped again {found['candidates']:,}, "
            f"changed {found['restripped']:,} ({found['rekeyed']:,} of them only in the line fingerprints read; "
            f"groups changed {len(scope.groups)}, "
            f"lines newly known or no longer known {len(scope.known)})"
        )
    return found["restripped"]


def _plan_restrip(
    history: History, scope: RestripScope, night: pa.Array, sizes: Sizes
) -> tuple[list[Shard], frozenset[str]]:
    """Shards of the published documents `scope` reads (row ranges of the pinned `documents` data files, each
    spanning at most `sizes.restrip_rows` of those documents), and which of those documents' source_uri are among
    the night's (`night`): one read of each file's site and source_uri columns, compared as Arrow arrays (1M
    published documents as a Python set took the run process +220 MB for the whole re-strip)."""
    shard_rows = sizes.restrip_rows
    shards: list[Shard] = []
    tonight: set[str] = set()
    for file in history.files(DOCUMENTS):
        docs = pq.read_table(file, columns=["site", "source_uri"], schema=DOCUMENTS.arrow_schema)
        rows = np.flatnonzero(scope.read(docs.column("site")).to_numpy(zero_copy_only=False))
        uris = docs.column("source_uri").take(pa.array(rows, pa.int64()))
        tonight.update(uris.filter(pc.is_in(uris, night)).to_pylist())
        for part in (rows[i : i + shard_rows] for i in range(0, len(rows), shard_rows)):
            shards.append(Shard(len(shards), Path(file), int(part[0]), int(part[-1]) + 1, sizes.chunk_rows))
    return shards, frozenset(tonight)


def _night_uris(spill: Spill, batch_rows: int) -> pa.Array:
    """The night's source_uri values, one Arrow array (~50 bytes a page)."""
    parts = [batch.column(0) for batch in spill.batches(batch_rows, ["source_uri"])]
    return pa.chunked_array(parts, pa.string()).combine_chunks()


def read_documents_in_scope(
    history: History, scope: RestripScope, columns: Iterable[str] = RESTRIP_COLUMNS
) -> Iterator[pa.Table]:
    """Published documents whose site `scope` reads (`RestripScope.read`), one data file at a time."""
    if scope.empty:
        return iter(())
    sites = pc.unique(history.read(DOCUMENTS, ["site"]).column("site")).drop_null()
    wanted = sites.filter(scope.read(sites)).to_pylist()
    return history.iter_where(DOCUMENTS, tuple(columns), "site", wanted) if wanted else iter(())
