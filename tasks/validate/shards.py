"""Row-level validation of one shard group of a checked table (consecutive shards, `Sizes.check_rows` rows at most):
its narrow frame through the row-level expectations (uniqueness excepted) in the process's reusable ephemeral
GX context (suites/FrameChecker; success only, then the failed expectations again for their rows). Writes two
part files into the stage's folder and returns a small manifest:
- rejects/<table>/part-NNNNN.parquet: one row per rejected row (sort order, key, parent document, reason, message);
- checks/<table>/part-NNNNN.parquet: what the night-wide checks read (the key and its 64-bit hash; for documents
  also whether the page has a URL and a site, and the hash of site + title), so the reduce never opens the pages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas import CONTACTS, DOCUMENTS, DUPLICATES, PROJECTS, Expect, Table
from tasks._shards import Shard, fault_drill, trim_memory
from tasks._spill import part_file
from tasks._stage import with_columns
from tasks.validate.config import ValidateConfig, ValidationHistory
from tasks.validate.derived import (
    DERIVED_COLUMNS,
    DERIVED_INPUTS,
    KEY_HASH,
    PAIR_HASH,
    PAIR_NULL,
    ROW_DERIVED,
    hash64,
    pair_hash,
)
from tasks.validate.suites import ROW, Batch, frame_checker, is_list_column, table_batches

STAGE = "validate"
VALIDATED: tuple[Table, ...] = (DOCUMENTS, PROJECTS, CONTACTS, DUPLICATES)
BY_NAME = {t.name: t for t in VALIDATED}
CHILDREN = (PROJECTS, CONTACTS)  # rows that belong to a document (key -> doc_id)
UNIQUE = "ExpectColumnValuesToBeUnique"
CHECKS, REJECTS = "checks", "rejects"
TEXT_HEAD_CHARS = 80  # what a frame keeps of a text column an expectation reads (its nulls, a quotable head)
# Read by the stage itself besides the checked columns: run id, messages (source_uri), parents, repeated titles.
_BOOKKEEPING = ("doc_id", "source_uri", "run_id", "site", "title")
# checks columns of documents: the page has a URL (the site null share is measured over those), and a site
HAS_URL, HAS_SITE = "has_url", "has_site"
REJECT_SCHEMA = pa.schema(
    [
        ("table", pa.int32()),  # index in VALIDATED
        ("batch", pa.int32()),  # 0: the table's frame; 1 + n: its n-th checked list column
        ("expectation", pa.int32()),  # index in the table's declared expectations
        ("shard", pa.int32()),
        (ROW, pa.int64()),  # row in the shard
        ("key", pa.string()),
        ("parent", pa.string()),  # the document the row belongs to (its source_uri names the quarantine row)
        ("reason", pa.string()),
        ("message", pa.string()),
    ]
)


@dataclass(frozen=True, slots=True)
class ShardGroup:
    """Consecutive shards one task validates, `Sizes.check_rows` rows at most together: the shards of small part files
    (extract writes one a shard of its own) share the GX runs, which cost mostly by the run, not by the row."""

    index: int
    parts: tuple[Shard, ...]

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts)


def group_shards(shards: list[Shard], max_rows: int) -> list[ShardGroup]:
    """The shards (in order) in consecutive groups of at most `max_rows` rows (a larger shard alone)."""
    groups: list[list[Shard]] = []
    rows = 0
    for shard in shards:
        if groups and rows + shard.rows <= max_rows:
            groups[-1].append(shard)
            rows += shard.rows
        else:
            groups.append([shard])
            rows = shard.rows
    return [ShardGroup(i, tuple(g)) for i, g in enumerate(groups)]


def narrow_table(group: ShardGroup, table: Table, history: ValidationHistory, cfg: ValidateConfig) -> pa.Table:
    """The columns validation reads, in memory: the key, the checked columns (text columns cut to their first
    TEXT_HEAD_CHARS characters) and bookkeeping, plus the row-level derived check columns computed from the
    full texts. The shards are read a chunk at a time, and only those columns and the derived checks' inputs."""
    expects = table.expectations()
    row_derived = [e for e in expects if e.derive in ROW_DERIVED]
    needed = {e.kwargs.get(k) for e in expects for k in ("column", "column_A", "column_B")}
    needed |= {e.on for e in expects} | {e.where for e in expects} | set(table.key) | set(_BOOKKEEPING)
    texts = set(table.text_columns)
    narrow = [c for c in table.column_names if c in needed]
    inputs = {c for e in row_derived for c in DERIVED_INPUTS[e.derive]} - set(narrow)
    parts = []
    for batch in _batches(group, narrow, inputs):
        part = pa.Table.from_batches([batch])
        extra = {e.kwargs["column"]: DERIVED_COLUMNS[e.derive](part, e.on, history, cfg) for e in row_derived}
        heads = [
            pc.utf8_slice_codeunits(part.column(c), 0, TEXT_HEAD_CHARS) if c in texts else part.column(c)
            for c in narrow
        ]
        parts.append(with_columns(pa.table(heads, names=narrow), extra))
    if parts:
        return pa.concat_tables(parts)
    extra = {e.kwargs["column"]: pa.array([], pa.bool_()) for e in row_derived}
    return with_columns(table.empty().select(narrow), extra)


def _batches(group: ShardGroup, columns: list[str], optional: set[str]) -> Iterator[pa.RecordBatch]:
    """The group's rows, a chunk at a time (Shard.chunk_rows): `columns`, and those of `optional` a part file has."""
    for shard in group.parts:
        present = set(pq.read_schema(shard.path).names)
        yield from shard.batches([*columns, *sorted(optional & present)])


def checked_per_shard(expect: Expect) -> bool:
    """Row-level expectations other than uniqueness: each row is judged on its own."""
    return expect.level == "row" and expect.gx_type != UNIQUE


def batch_rank(table: Table, expect: Expect) -> int:
    """Where today's suites list the expectation's rejects: 0 for the table's frame, 1 + n for its n-th checked
    list column (in declared order)."""
    lists = list(dict.fromkeys(e.column for e in table.expectations() if is_list_column(table, e.column)))
    return 1 + lists.index(expect.column) if expect.column in lists else 0


def _describe(value: Any) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"{value[0]!r} vs {value[1]!r}"
    return repr(value)


def reject_message(reason: str, config: Any, value: Any) -> str:
    """The quarantine message: the expectation with its arguments, and the offending value."""
    args = ", ".join(f"{a}={v!r}" for a, v in config.kwargs.items() if a not in ("column", "batch_id"))
    return f"{reason}: {config.type}({args}) rejected {_describe(value)}"


def table_failure(res: Any, cfg: ValidateConfig) -> str:
    """One line naming a failed table-level expectation, what GX observed and a few examples."""
    reason = (res.expectation_config.meta or {}).get("reason", "validate.unknown")
    observed = res.result.get("observed_value", res.result.get("unexpected_percent"))
    examples = (res.result.get("partial_unexpected_list") or [])[: cfg.max_examples]
    return f"{reason} ({res.expectation_config.type}, observed {observed!r}, examples {examples})"


def _row_rejects(res: Any, batch: Batch, narrow: pa.Table, shard: ShardGroup) -> list[dict[str, Any]]:
    """One reject per row the expectation rejected, quoting the offending value."""
    table, config = batch.table, res.expectation_config
    meta = config.meta or {}
    reason, on = meta.get("reason", "validate.unknown"), meta.get("on")
    declared = next(i for i, e in enumerate(table.expectations()) if e.reason(table.name) == reason)
    items = res.result.get("unexpected_index_list") or []
    values = res.result.get("unexpected_list") or [None] * len(items)
    derived = on and on != config.kwargs.get("column", on)  # a derived check column: quote the declared column
    out = []
    for item, value in zip(items, values, strict=False):
        row = int(item[ROW])
        parent = narrow.column("doc_id")[row].as_py() if table in CHILDREN else item.get(table.key[0])
        shown = narrow.column(on)[row].as_py() if derived else value
        out.append(
            {
                "table": VALIDATED.index(table),
                "batch": batch_rank(table, table.expectations()[declared]),
                "expectation": declared,
                "shard": shard.index,
                ROW: row,
                "key": item.get(table.key[0]),
                "parent": parent,
                "reason": reason,
                "message": reject_message(reason, config, shown),
            }
        )
    return out


def checks_frame(narrow: pa.Table, table: Table) -> pa.Table:
    """What the night-wide checks read of these rows: the key and its 64-bit hash (uniqueness: the reduce holds
    the hashes and reads back the keys of repeated hashes only); documents also whether the page has a URL and a
    site (site null share), and the hashed (site, title) pair (repeated titles)."""
    key = table.key[0]
    columns = {key: narrow.column(key), KEY_HASH: hash64(narrow.column(key))}
    if table is DOCUMENTS:
        pair, has_null = pair_hash(narrow.column("site"), narrow.column("title"))
        columns |= {
            HAS_URL: pc.is_valid(narrow.column("url")),
            HAS_SITE: pc.is_valid(narrow.column("site")),
            PAIR_HASH: pair,
            PAIR_NULL: has_null,
        }
    return pa.table(columns)


def validate_shard(shard: ShardGroup, table_name: str, cfg: ValidateConfig, out: Path) -> dict[str, Any]:
    """Run the row-level expectations on one shard; write its rejects and checks parts; return counts, the
    failed reasons and any table-level (column type) failures."""
    fault_drill(STAGE, shard)
    table = BY_NAME[table_name]
    narrow = narrow_table(shard, table, ValidationHistory(), cfg)
    narrow = narrow.append_column(ROW, pa.array(range(narrow.num_rows), pa.int64()))
    pq.write_table(checks_frame(narrow, table), part_file(_folder(out, CHECKS, table), shard.index))
    expects = [e for e in table.expectations() if checked_per_shard(e)]
    batches = [b for b in table_batches(narrow, table, 0, ValidationHistory(), cfg, expects) if b.frame.num_rows]
    rejects: list[dict[str, Any]] = []
    failures: list[str] = []
    failed: dict[str, int] = {}
    for batch in batches:
        for res in failed_results(batch):
            reason = (res.expectation_config.meta or {}).get("reason", "validate.unknown")
            if (res.expectation_config.meta or {}).get("level") == "table":
                failures.append(table_failure(res, cfg))
                failed[reason] = failed.get(reason, 0) + 1
            else:
                found = _row_rejects(res, batch, narrow, shard)
                rejects.extend(found)
                failed[reason] = failed.get(reason, 0) + len(found)
    pq.write_table(pa.Table.from_pylist(rejects, REJECT_SCHEMA), part_file(_folder(out, REJECTS, table), shard.index))
    n_rows = narrow.num_rows
    del narrow, batches
    trim_memory()
    return {"rows": n_rows, "rejects": len(rejects), "failed": failed, "table_failures": failures}


def failed_results(batch: Batch) -> list[Any]:
    """GX's results of the batch's failed expectations, in full (COMPLETE: every rejected row and value). A first
    pass asks GX only for success (BOOLEAN_ONLY computes no row lists: ~40 % less work), then the failed
    expectations run again on the same frame, the one case that needs the rows."""
    checker = frame_checker()
    quick = checker.validate(batch, "BOOLEAN_ONLY")
    bad = {(r.expectation_config.meta or {}).get("reason") for r in quick if not r.success}
    if not bad:
        return []
    again = [e for e in batch.expectations if e.reason(batch.table.name) in bad]
    results = checker.validate(dataclasses.replace(batch, expectations=again), "COMPLETE")
    for res in results:
        if res.exception_info and res.exception_info.get("raised_exception"):
            reason = (res.expectation_config.meta or {}).get("reason", "validate.unknown")
            raise RuntimeError(f"{reason}: GX error {res.exception_info.get('exception_message')}")
    return [r for r in results if not r.success]


def _folder(out: Path, kind: str, table: Table) -> Path:
    folder = Path(out) / kind / table.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
