"""Records re-delivered as they were published: recognised before any stripping, so an unchanged page costs a hash.

A text record is *unchanged* when its doc_id (canonical URL, or a one-page file's path: tasks/identity.py) is
published with the same `raw_text` and no other record of the night has that doc_id. Its published text was stripped
from that raw_text under the model of its group and is kept current by the re-strip (a group whose model changes has
its published documents stripped again, these included; on nights that defer the re-strip, `docpipe run --restrip
defer`, it waits with the other published documents for the next run that re-strips, which reaches it when the
change since the sample it was stripped under may move it), so stripping it again would give the published text
back, and dedupe would call it `unchanged` (same doc_id, body and version). Such records leave the night here,
counted in the stage's `unchanged`; the others go on.

On a night that defers its re-strip, a record re-delivered as a recorded duplicate leaves too, counted in the
stage's `duplicates`: a `duplicates` row with its raw_key (so its stripped body is the one decided on, models being
deferred), not `superseded`, whose `duplicate_of` is no doc_id of the night's other records (the document it was
folded into comes unchanged or not at all), and its own doc_id, when known before stripping, comes once and is not
published (else it would be that document's update). The row is the one of its source_uri, kept as it is; else
(the crawl delivered again as a new file, or its lines moved) one of its doc_id, or for a record known only by its
body and alone tonight with its raw text, a body-identified row of that raw_key: the decision is carried to a new
row under the record's source_uri, url and run_id (`Leaving.moved`, which strip returns among its outputs), the
row dedupe would write for it (where its new source_uri names another record's row, a line of a dump rewritten
in another order, publish puts it in that row's place, as it does dedupe's).
Nights that do not defer decide every re-delivered duplicate again, under the night's models.

Not recognised as unchanged here (they take the whole path): HTML records (their raw_text is what stripping
produces), records identified by their body (a JSON line or archive member without URL), and every record of a
night delivering a doc_id twice.

Tonight's side is the stg_pages `raw_key` ingest took while reading (`raw_keys`: the first 16 hex digits of the
SHA-256 of raw_text's UTF-8 bytes), hashed here only for a spill that does not hold every key (`keyed`). The
published side is the stored `documents.raw_key`, the same hash taken when the row was extracted, so only the
doc_id and raw_key columns are read; a data file written before docpipe stored raw_key (its statistics show keys
missing) has DuckDB hash its raw_text instead, in the same query, until publish rewrites the file (rewrite.py fills
the keys of the rows it copies). A recorded duplicate is matched on the `duplicates` columns source_uri or doc_id,
url, raw_key, kind and duplicate_of. Only the ids of the matches come back, and the decisions of the moved ones
(their url and run_id are read from the spill at those rows). Memory: ~110 bytes a record of the night (doc_id,
hash and source_uri as Arrow strings), released once the matches are known.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas import DOCUMENTS, DUPLICATES, RUNS, STG_PAGES
from schemas.duplicates import DECISION_COLUMNS
from schemas.stg_pages import RAW_OFFSET
from tasks._spill import Spill, non_null_counts, write_spill
from tasks._stage import RAW_KEY_CHARS, raw_keys
from tasks._warehouse import query_arrow, sql_list
from tasks.history import History
from tasks.identity import doc_ids

_COLUMNS = ("url", "source_uri", "raw_text")


def night_keys(spill: Spill, chunk_rows: int) -> pa.Table:
    """(row, doc_id, raw_key, source_uri) of every record of the night, in spill order (read `chunk_rows` at a
    time): doc_id null when known only from the body, raw_key null for a record without raw_text. The raw_key is
    the one ingest stored when every file holds it (`keyed`), so raw_text is not read; else it is hashed here."""
    stored = all(keyed(str(file)) for file in spill.files)
    ids: list[pa.Array] = []
    keys: list[pa.Array] = []
    uris: list[pa.Array] = []
    for batch in spill.batches(chunk_rows, ("url", "source_uri", "raw_key" if stored else "raw_text")):
        ids.append(pa.array(doc_ids(batch.column("url"), None, batch.column("source_uri")), pa.string()))
        keys.append(batch.column("raw_key") if stored else raw_keys(batch.column("raw_text")))
        uris.append(batch.column("source_uri"))
    n = sum(len(a) for a in ids)
    return pa.table(
        {
            "row": pa.array(np.arange(n, dtype=np.int64)),
            "doc_id": pa.chunked_array(ids, pa.string()),
            "raw_key": pa.chunked_array(keys, pa.string()),
            "source_uri": pa.chunked_array(uris, pa.string()),
        }
    )


def _repeated(values: pa.ChunkedArray) -> pa.Array:
    """The values (nulls aside) that appear more than once."""
    counts = pc.value_counts(values.drop_null())
    return counts.field("values").filter(pc.greater(counts.field("counts"), 1))


def _delivered_once(night: pa.Table) -> pa.Array:
    """Whether each record's doc_id (when known before stripping) is no other record's tonight."""
    return pc.invert(pc.is_in(night["doc_id"], _repeated(night["doc_id"])))


def candidates(night: pa.Table) -> pa.Table:
    """The records that may be unchanged: a doc_id known before stripping and delivered once tonight, with a
    raw_text."""
    known = pc.and_(night["doc_id"].is_valid(), night["raw_key"].is_valid())
    return night.filter(pc.and_(known, _delivered_once(night))).select(["row", "doc_id", "raw_key"])


def keyed(file: str) -> bool:
    """Whether every row of a `documents` data file or a stg_pages spill with a raw_text has its raw_key (from the
    file's row-group statistics; a file without them, or without the column, is not keyed). A speed choice only: a
    row whose key is missing from a file taken as keyed takes the whole path, and dedupe finds it unchanged."""
    meta = pq.read_metadata(file)
    keys, texts = non_null_counts(meta, "raw_key"), non_null_counts(meta, "raw_text")
    # a row whose raw_text ingest left out has its key (tasks/ingest/elide.py)
    left_out = non_null_counts(meta, RAW_OFFSET) if RAW_OFFSET in meta.schema.names else [0] * len(keys or [])
    if keys is None or texts is None or left_out is None:
        return False
    return all(k == t + o for k, t, o in zip(keys, texts, left_out, strict=True))


def published_matches(doc_files: Sequence[str], wanted: pa.Table) -> set[int]:
    """Rows of `wanted` (row, doc_id, raw_key) whose doc_id is published with the same raw_text: compared by the
    stored raw_key, or by hashing raw_text in files that do not hold every key (`keyed`)."""
    if not doc_files or wanted.num_rows == 0:
        return set()
    with_keys: list[str] = []
    without: list[str] = []
    for file in doc_files:
        (with_keys if keyed(file) else without).append(file)
    parts = []
    if with_keys:
        parts.append(
            f"SELECT w.row FROM {_parquet(with_keys)} d "
            "JOIN wanted w ON d.doc_id = w.doc_id WHERE d.raw_key = w.raw_key"
        )
    if without:
        parts.append(
            f"SELECT w.row FROM {_parquet(without)} d "
            "JOIN wanted w ON d.doc_id = w.doc_id "
            f"WHERE d.raw_text IS NOT NULL AND left(sha256(d.raw_text), {RAW_KEY_CHARS}) = w.raw_key"
        )
    return set(query_arrow(" UNION ALL ".join(parts), wanted=wanted).column("row").to_pylist())


def recorded_duplicates(
    dup_files: Sequence[str], doc_files: Sequence[str], night: pa.Table, left: set[int], run_files: Sequence[str] = ()
) -> tuple[set[int], pa.Table]:
    """Rows of `night` re-delivered as a recorded duplicate (module docstring; `left`: the rows found unchanged;
    `run_files`: the `runs` table's, to know the latest row), and of those re-delivered at another source_uri,
    the recorded decision (`_RECORDED` columns) under its `row` and its source_uri."""
    dup_files = [f for f in dup_files if "raw_key" in pq.read_schema(f).names]  # rows written before: no key
    if not dup_files or night.num_rows == 0:
        return set(), _NO_MOVES
    still = pc.invert(pc.is_in(night["row"], pa.array(sorted(left), pa.int64())))  # the rows not unchanged
    rest = night.filter(still)
    changed = pa.table({"doc_id": pc.unique(rest["doc_id"].drop_null())})
    wanted = rest.filter(pc.and_(rest["raw_key"].is_valid(), _delivered_once(night).filter(still)))
    if wanted.num_rows == 0:
        return set(), _NO_MOVES
    sql = _recorded_sql(_parquet(dup_files), _parquet(doc_files), _parquet(run_files))
    found = query_arrow(sql, wanted=_with_lone_bodies(wanted), changed=changed)
    moved = found.filter(pc.invert(found["same"]))
    return set(found["row"].to_pylist()), moved.select(["row", "source_uri", *_RECORDED])


_RECORDED = tuple(c for c in DECISION_COLUMNS if c != "url")  # a moved record's url is its own
_NO_MOVES = pa.schema(
    [("row", pa.int64()), *(DUPLICATES.arrow_schema.field(c) for c in ("source_uri", *_RECORDED))]
).empty_table()


def _parquet(files: Sequence[str]) -> str | None:
    return f"read_parquet([{sql_list(files)}], union_by_name = true)" if files else None


def _with_lone_bodies(wanted: pa.Table) -> pa.Table:
    """`wanted` with `lone_body`: a record known only by its body whose raw_key no other such record has tonight
    (two equal raw texts without URL would be the same document twice, which dedupe decides)."""
    body = wanted["doc_id"].is_null()
    repeated = _repeated(wanted.filter(body)["raw_key"])
    return wanted.append_column("lone_body", pc.and_(body, pc.invert(pc.is_in(wanted["raw_key"], repeated))))


def _recorded_sql(recorded: str, published: str | None, runs: str | None) -> str:
    """The query behind `recorded_duplicates`. A record's rows are those of its raw_key and its identity (its
    doc_id, or known by its body: a body-identified row, at its own source_uri or, for a lone body, anywhere);
    the one that decides is its own source_uri's, else the latest run's. The record leaves when that row is not
    superseded, its document comes unchanged or not at all, and the record's own doc_id is not published."""
    columns = ", ".join(f"d.{c}" for c in _RECORDED)
    latest = f"(SELECT max(r.started_at) FROM {runs} r WHERE r.run_id = d.run_id) DESC NULLS LAST, " if runs else ""
    body = "w.doc_id IS NULL AND d.url IS NULL AND contains(d.source_uri, '#')"
    sql = (
        f"WITH m AS (SELECT w.row, w.doc_id AS own_id, d.source_uri = w.source_uri AS same, w.source_uri, {columns} "
        f"FROM wanted w JOIN {recorded} d ON d.raw_key = w.raw_key "
        f"WHERE d.doc_id = w.doc_id OR ({body} AND (d.source_uri = w.source_uri OR w.lone_body)) "
        f"QUALIFY row_number() OVER (PARTITION BY w.row ORDER BY same DESC, {latest}d.run_id DESC, d.source_uri) = 1) "
        "SELECT * EXCLUDE (own_id) FROM m WHERE kind <> 'superseded' "
        "AND NOT EXISTS (SELECT 1 FROM changed c WHERE c.doc_id = m.duplicate_of)"
    )
    if published:
        sql += f" AND NOT EXISTS (SELECT 1 FROM {published} p WHERE p.doc_id = coalesce(m.own_id, m.doc_id))"
    return sql


@dataclass(frozen=True, slots=True)
class Leaving:
    """What `without_unchanged` took out of the night: the records that go on, how many left as unchanged and as
    recorded duplicates, and the `duplicates` rows of those re-delivered at another source_uri."""

    spill: Spill
    unchanged: int = 0
    duplicates: int = 0
    moved: pa.Table = field(default_factory=DUPLICATES.empty)


def without_unchanged(
    spill: Spill, history: History, path: Path, chunk_rows: int, duplicates_too: bool = False
) -> Leaving:
    """The night's records without the unchanged ones, and with `duplicates_too` (a night that defers its
    re-strip) without those re-delivered as a recorded duplicate (written to `path`, `chunk_rows` at a time,
    when any is found; else `spill` as it is)."""
    files = history.files(DOCUMENTS)
    if not files or spill.num_rows == 0:
        return Leaving(spill)
    night = night_keys(spill, chunk_rows)
    unchanged = published_matches(files, candidates(night))
    duplicates, moved = set(), _NO_MOVES
    if duplicates_too:
        recorded, runs = history.files(DUPLICATES), history.files(RUNS)
        duplicates, moved = recorded_duplicates(recorded, files, night, unchanged, runs)
    if not unchanged and not duplicates:
        return Leaving(spill)
    drop = np.zeros(spill.num_rows, bool)
    drop[list(unchanged | duplicates)] = True
    kept = write_spill(path, STG_PAGES, _kept_parts(spill, drop, chunk_rows))
    return Leaving(kept, len(unchanged), len(duplicates), _moved_rows(spill, moved))


def _moved_rows(spill: Spill, moved: pa.Table) -> pa.Table:
    """`duplicates` rows of the records re-delivered at another source_uri: the recorded decision, under the
    record's own source_uri, url and run_id (these two read from the spill at its row)."""
    at = moved["row"].to_pylist()
    night = {name: spill.take(at, name) for name in ("url", "run_id")}
    return DUPLICATES.conform(pa.table({**night, **{name: moved[name] for name in ("source_uri", *_RECORDED)}}))


def _kept_parts(spill: Spill, drop: np.ndarray, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """The spill's rows not in `drop`, `chunk_rows` at a time; a row group none of whose rows stays is not read
    (a re-delivered crawl whose new pages come together reads little more than them)."""
    start = 0
    for file in spill.files:
        with pq.ParquetFile(file, pre_buffer=False) as f:
            for group in range(f.metadata.num_row_groups):
                stop = start + f.metadata.row_group(group).num_rows
                if not drop[start:stop].all():
                    at = start
                    for batch in f.iter_batches(batch_size=chunk_rows, row_groups=[group]):
                        yield batch.filter(pa.array(~drop[at : at + batch.num_rows]))
                        at += batch.num_rows
                start = stop
