"""`runs`: one row per pipeline run that published something or failed."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from schemas._table import Column, Table, in_set

RUN_STATUSES = ("succeeded", "failed")
# The stages of a run, in order: the keys of `stage_stats` (flows/stages.py gives each its settings).
STAGES = ("ingest", "strip_boilerplate", "dedupe", "extract", "validate", "publish")
# Counters in a stage's stats (`stage_stats`, StageResult.stats): every stage counts records in, kept and
# quarantined (plus `quarantined.<reason>` per code); these are the stage-specific ones the `runs` counts read.
IN, KEPT, QUARANTINED = "in", "kept", "quarantined"
RESTRIPPED = "restripped"  # strip_boilerplate: published documents republished by a re-strip (changed.py)
# `docpipe run --restrip`: when the published documents a changed template model may strip differently are
# stripped again (tasks/strip_boilerplate/stage.py `_night_restrip`; BoilerplateConfig.restrip)
RESTRIP_AUTO = "auto"  # tonight, those the model change may move (after deferred runs: since their samples)
RESTRIP_DEFER = "defer"  # not tonight: published documents keep their text until a run that re-strips
RESTRIP_ALL = "all"  # tonight, every published document (the reference the scoped re-strip is tested against)
RESTRIP_MODES = (RESTRIP_AUTO, RESTRIP_DEFER, RESTRIP_ALL)
# strip_boilerplate's `restrip` (a word, not a counter; `runs.restrip`): how the run kept published texts current
# with the template model (`docpipe run --restrip`)
RESTRIP = "restrip"
RESTRIPPED_SCOPED, RESTRIPPED_ALL, RESTRIPPED_DEFERRED = "scoped", "all", "deferred"
RESTRIP_RECORDS = (RESTRIPPED_SCOPED, RESTRIPPED_ALL, RESTRIPPED_DEFERRED)
# strip_boilerplate (re-delivered as published, recognised by raw text) and dedupe (by body and version): records
# identical to their document; dedupe: records folded into a document, and strip_boilerplate on a night that
# defers its re-strip: records re-delivered as their recorded duplicate (same source_uri and raw text)
UNCHANGED, DUPLICATES = "unchanged", "duplicates"
DOCUMENTS_REJECTED = "documents_rejected"  # validate: documents a row-level expectation rejected
NEW, UPDATED = "new", "updated"  # validate: kept documents new tonight / published before (dedupe's is_update)
STAGE_COUNTERS: dict[str, tuple[str, ...]] = {
    "ingest": (IN, KEPT, QUARANTINED),
    "strip_boilerplate": (IN, KEPT, QUARANTINED, RESTRIPPED, UNCHANGED, DUPLICATES),
    "dedupe": (IN, KEPT, QUARANTINED, UNCHANGED, DUPLICATES),
    "extract": (IN, KEPT, QUARANTINED),
    "validate": (IN, KEPT, QUARANTINED, DOCUMENTS_REJECTED, NEW, UPDATED),
    "publish": (IN, KEPT),
}
# Each record count of a run, in reading order, as the sum of (stage, counter) pairs of its stage stats:
# read + restripped = new + updated + unchanged + duplicates + quarantined.
RUN_COUNT_SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "n_read": (("ingest", IN),),
    "n_restripped": (("strip_boilerplate", RESTRIPPED),),
    "n_new": (("validate", NEW),),
    "n_updated": (("validate", UPDATED),),
    "n_unchanged": (("strip_boilerplate", UNCHANGED), ("dedupe", UNCHANGED)),
    "n_duplicates": (("strip_boilerplate", DUPLICATES), ("dedupe", DUPLICATES)),
    "n_quarantined": (("ingest", QUARANTINED), ("strip_boilerplate", QUARANTINED), ("validate", DOCUMENTS_REJECTED)),
}
RUN_COUNTS = tuple(RUN_COUNT_SOURCES)
RUN_OUTCOMES = RUN_COUNTS[2:]  # where each record read (or restripped) ended


def run_counts(stage_stats: dict[str, dict[str, Any]]) -> dict[str, int]:
    """The `runs` record counts summed from stage stats (a counter a stage did not report counts 0)."""
    return {
        name: sum(int(stage_stats.get(stage, {}).get(counter) or 0) for stage, counter in sources)
        for name, sources in RUN_COUNT_SOURCES.items()
    }


RUNS = Table(
    name="runs",
    grain="one row per run that changed the warehouse or failed (a no-op run leaves only _runs/<id>/summary.json)",
    key=("run_id",),
    description="Run log. The runs row is committed last: a table version is part of a complete run only "
    "once the run's row lists it in table_versions.",
    columns=(
        Column("run_id", pa.string(), "Run id.", nullable=False),
        Column("started_at", pa.timestamp("us", tz="UTC"), "Start of the run.", nullable=False),
        Column("finished_at", pa.timestamp("us", tz="UTC"), "End of the run.", nullable=False),
        Column("status", pa.string(), "succeeded or failed.", nullable=False, expect=(in_set("status", RUN_STATUSES),)),
        Column("failed_stage", pa.string(), "Stage that failed, if any."),
        Column("error", pa.string(), "Error message of the failed stage, if any."),
        Column("n_read", pa.int64(), "Raw records read.", nullable=False),
        Column(
            "n_restripped",
            pa.int64(),
            "Published documents republished because their site's template model changed: their text changed, or "
            "it stayed but its cleaning looked up other line fingerprints (documents.line_keys) "
            "(read + restripped = new + updated + unchanged + duplicates + quarantined).",
        ),
        Column("n_new", pa.int64(), "Documents published for the first time.", nullable=False),
        Column(
            "n_updated",
            pa.int64(),
            "Documents republished with changed content (or re-stripped to the same text: n_restripped).",
            nullable=False,
        ),
        Column("n_unchanged", pa.int64(), "Records identical to their published document.", nullable=False),
        Column(
            "n_duplicates",
            pa.int64(),
            "Records folded into another document (with --restrip defer, also records re-delivered as their "
            "recorded duplicate: same source_uri and raw text).",
            nullable=False,
        ),
        Column("n_quarantined", pa.int64(), "Records held back in quarantine.", nullable=False),
        Column("stage_stats", pa.string(), "Per-stage counters and durations, JSON.", nullable=False),
        Column("table_versions", pa.map_(pa.string(), pa.int64()), "Delta version of each table after this run."),
        Column("config_fingerprint", pa.string(), "Hash of the run configuration.", nullable=False),
        Column("code_version", pa.string(), "docpipe version that ran.", nullable=False),
        Column(
            "restrip",
            pa.string(),
            "How the run kept published texts current with the template model (docpipe run --restrip): scoped "
            "(the published documents its model change could move were stripped again), all (every published "
            "document was), deferred (none was: they keep the texts of older models until a later run strips "
            "every one again). Empty for failed runs that stopped before stripping and runs recorded before "
            "the column.",
            expect=(in_set("restrip", RESTRIP_RECORDS),),
        ),
    ),
)
