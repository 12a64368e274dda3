"""Export the warehouse as of a complete run to plain, self-contained files (not a stage; reads the warehouse).

Out: one file per table (Parquet with zstd and the column docs of schemas/ in its metadata, or CSV), README.md
(data dictionary, row counts, how to open the files) and manifest.json (checksums). The folder holds exactly
these files: it is built beside the target and swapped in, so no file of an earlier export survives.

Redaction (`redact_pii=True`): PII columns (`Column.pii`) are hashed with a salt drawn per export (values stay
joinable inside one export, not across exports); free-text PII columns (`*_text`) are blanked; then every text
cell of every table is scrubbed, since bodies and raw text quote contact blocks: the values of the PII columns
(contact names, e-mails, phones as written) become `[redacted]`, and any e-mail or phone pattern left becomes
`[email]` / `[phone]`.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from handoff.versions import RunVersions
from schemas import PUBLISHED, Table
from tasks._stage import file_sha256
from tasks._warehouse import RUN_ID_KEY, read_current

FORMATS = ("parquet", "csv")
MANIFEST = "manifest.json"
README = "README.md"
EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"
PII_MASK = "[redacted]"
MIN_KNOWN_PII_CHARS = 4  # shorter known values (initials, extensions) would mask ordinary words

# E-mails, also written "name [at] host.org"; "mailto:" prefixes go with them.
EMAIL_RE = r"(?i)(?:mailto:)?[\w.+'-]+\s*(?:@|\[at\]|\(at\))\s*[\w-]+(?:\s*(?:\.|\[dot\])\s*[\w-]+)*\.[a-z]{2,}"
PHONE_RES = (
    # international, "+976 11 99 00 69 61", "+41-79 103 8720", "+ 202-27365140"
    r"\+\s?\d[\d \t().\-/]{5,}\d",
    # international with a 00 prefix
    r"\b00\d{1,3}[ \t.\-]?\d[\d \t().\-]{5,}\d",
    # labelled local numbers, "Tel. 65659660", "Fax: (021) 555 1234"
    r"(?i)\b(?:tel|phone|fax|mobile|mob|cell|t[ée]l[ée]phone)\b\.?\s*[:.]?\s*\(?\d[\d \t().\-/]{5,}\d",
    # grouped local numbers, "(021) 555-1234", "555-123-4567", "212.555.1234"
    r"(?:\(\d{2,4}\)[ \t]?|\b\d{2,4}[\-.])\d{3,4}[\-.]\d{3,4}\b",
    # national numbers with a trunk 0, "022 717 9111" (years and amounts do not start with 0)
    r"\b0\d{1,3}[ \t]\d{3,4}[ \t]\d{3,4}\b",
)


@dataclass(frozen=True, slots=True)
class ExportConfig:
    tables: tuple[str, ...] = tuple(t.name for t in PUBLISHED)
    format: str = "parquet"
    redact_pii: bool = False


@dataclass(frozen=True, slots=True)
class ExportResult:
    out: Path
    run: RunVersions
    files: dict[str, Path]  # table name → file
    rows: dict[str, int]
    manifest: dict[str, Any] = field(default_factory=dict)


Step = Callable[[str, str], None]  # (table, what is being done)


def scrub_text(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Replace e-mail and phone patterns in a string array (email first: its digits must not read as a phone)."""
    out = pc.replace_substring_regex(values, EMAIL_RE, EMAIL_MASK)
    for pattern in PHONE_RES:
        out = pc.replace_substring_regex(out, pattern, PHONE_MASK)
    return out


def known_pii(warehouse: Path, run: RunVersions) -> list[str]:
    """Every value of a PII column as of `run` (names, e-mails, phones of contacts, ...), longest first: text
    columns quote them (a contact block in raw_text names the person), so they are masked wherever they appear."""
    values: set[str] = set()
    for table in PUBLISHED:
        version = run.version(table)
        if not table.pii_columns or version is None:
            continue
        data = read_current(warehouse, table, table.pii_columns, version)
        for name in data.column_names:
            column = data.column(name)
            if pa.types.is_list(column.type):
                column = pc.list_flatten(column)
            values.update(v.strip() for v in column.to_pylist() if v and "\n" not in v)
    return sorted((v for v in values if len(v) >= MIN_KNOWN_PII_CHARS), key=lambda v: (-len(v), v))


def _mask_known(values: pa.Array, known: list[str]) -> pa.Array:
    if not known:
        return values
    pattern = "|".join(re.escape(v) for v in known)
    return pc.replace_substring_regex(values, pattern, PII_MASK)


def _hash_strings(values: pa.Array, salt: str) -> pa.Array:
    hashed = [
        None if v is None else "h:" + hashlib.sha256((salt + v.strip().lower()).encode()).hexdigest()[:16]
        for v in values.to_pylist()
    ]
    return pa.array(hashed, pa.string())


def _map_strings(column: pa.ChunkedArray, fn: Callable[[pa.Array], pa.Array]) -> pa.ChunkedArray:
    """Apply `fn` to every string inside a string, list<string> or map<string, string> column."""
    chunks = []
    for chunk in column.chunks:
        t = chunk.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            chunks.append(fn(chunk))
        elif pa.types.is_list(t) and pa.types.is_string(t.value_type):
            flat = fn(chunk.values.slice(chunk.offsets[0].as_py(), len(chunk.values)))
            chunks.append(
                pa.ListArray.from_arrays(pc.subtract(chunk.offsets, chunk.offsets[0]), flat, mask=chunk.is_null())
            )
        elif pa.types.is_map(t) and pa.types.is_string(t.item_type):
            start = chunk.offsets[0].as_py()
            offsets = pc.subtract(chunk.offsets, chunk.offsets[0])
            keys, items = chunk.keys.slice(start), fn(chunk.items.slice(start))
            chunks.append(pa.MapArray.from_arrays(offsets, keys, items, mask=chunk.is_null()))
        else:
            chunks.append(chunk)
    return pa.chunked_array(chunks, column.type)


def redact(table: Table, data: pa.Table, salt: str, known: Sequence[str] = ()) -> pa.Table:
    """`data` with PII columns hashed (free text blanked) and every text cell scrubbed of the `known` PII values,
    e-mails and phones."""
    columns = []
    for col in table.columns:
        values = data.column(col.name)
        if col.pii and col.name.endswith("_text"):
            values = pa.chunked_array([pa.nulls(len(values), col.type)], col.type)
        elif col.pii:
            values = _map_strings(values, lambda a: _hash_strings(a, salt))
        values = _map_strings(values, lambda a: scrub_text(_mask_known(a, list(known))))
        columns.append(values)
    return pa.Table.from_arrays(columns, schema=data.schema)


def _parquet_metadata(table: Table, run: RunVersions, version: int | None) -> dict[str, str]:
    return {
        "table": table.name,
        "grain": table.grain,
        "description": table.description or table.grain,
        RUN_ID_KEY: run.run_id,
        "docpipe.delta_version": "" if version is None else str(version),
        "docpipe.column_docs": json.dumps({c.name: c.doc for c in table.columns}, ensure_ascii=False),
    }


def _csv_ready(data: pa.Table) -> pa.Table:
    """Nested columns (lists, maps) as JSON text: CSV has no nested types."""
    columns = []
    for name in data.column_names:
        values = data.column(name)
        if pa.types.is_list(values.type) or pa.types.is_map(values.type):
            as_json = [
                None if v is None else json.dumps(dict(v) if pa.types.is_map(values.type) else v, ensure_ascii=False)
                for v in values.to_pylist()
            ]
            values = pa.chunked_array([pa.array(as_json, pa.string())])
        columns.append(values)
    return pa.Table.from_arrays(columns, names=data.column_names)


def _write_table(data: pa.Table, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(data, path, compression="zstd")
    else:
        pacsv.write_csv(_csv_ready(data), path)


def _readme(tables: Sequence[Table], rows: dict[str, int], files: dict[str, Path], manifest: dict[str, Any]) -> str:
    """README.md of an export: what it holds, how to open it, redaction, the data dictionary."""
    first = files[tables[0].name].name if tables else "documents.parquet"
    lines = _readme_head(tables, rows, files, manifest)
    lines += ["", "## Opening the files", ""]
    lines += _opening(first, tables[0].columns[0].name if tables else "doc_id", manifest["format"])
    lines += _REDACTION if manifest["redacted"] else []
    lines += ["", "## Data dictionary", ""]
    lines += [t.to_markdown() for t in tables]
    return "\n".join(lines)


def _readme_head(
    tables: Sequence[Table], rows: dict[str, int], files: dict[str, Path], manifest: dict[str, Any]
) -> list[str]:
    """Title, run, format, checksums and the table of files."""
    lines = [
        "# docpipe warehouse export",
        "",
        f"As of run `{manifest['run_id']}` (finished {manifest['run_finished_at']}), "
        f"exported {manifest['exported_at']}.",
        f"Format: {manifest['format']}. PII redacted: {'yes' if manifest['redacted'] else 'no'}. "
        f"Checksums (SHA-256) of every file: `{MANIFEST}`.",
        "",
        "| table | file | rows | Delta version |",
        "|---|---|---:|---:|",
    ]
    for t in tables:
        version = manifest["tables"][t.name]["delta_version"]
        lines.append(f"| `{t.name}` | `{files[t.name].name}` | {rows[t.name]} | {'' if version is None else version} |")
    return lines


def _opening(first: str, first_column: str, file_format: str) -> list[str]:
    """How to open the first file in pandas, R and DuckDB."""
    if file_format == "parquet":
        return [
            "```python",
            "import pandas as pd",
            f'docs = pd.read_parquet("{first}")',
            "import pyarrow.parquet as pq  # column descriptions: field metadata 'doc'",
            f'print(pq.read_schema("{first}").field("{first_column}").metadata)',
            "```",
            "",
            "```r",
            f'docs <- arrow::read_parquet("{first}")',
            "```",
            "",
            "```sql",
            f"-- duckdb: SELECT count(*) FROM '{first}';",
            "CREATE VIEW documents AS SELECT * FROM read_parquet('documents.parquet');",
            "```",
        ]
    return [
        "List and map columns are JSON text.",
        "",
        "```python",
        f'import pandas as pd; docs = pd.read_csv("{first}")',
        "```",
        "",
        "```r",
        f'docs <- read.csv("{first}")',
        "```",
        "",
        "```sql",
        f"SELECT count(*) FROM read_csv_auto('{first}');",
        "```",
    ]


_REDACTION = [
    "",
    "## Redaction",
    "",
    "Columns marked (PII) below are hashed (`h:` + 16 hex digits, salted per export: joinable within this "
    "export only); free-text PII columns are empty. In every text column, the values of PII columns "
    f"(contact names, e-mails, phones) are replaced by `{PII_MASK}`, and any other e-mail address or phone "
    f"number by `{EMAIL_MASK}` / `{PHONE_MASK}`.",
]


def _chosen_tables(cfg: ExportConfig) -> list[Table]:
    """The published tables the export names, in dictionary order; an unknown name or format is an error."""
    if cfg.format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {cfg.format!r}")
    by_name = {t.name: t for t in PUBLISHED}
    unknown = [n for n in cfg.tables if n not in by_name]
    if unknown:
        raise ValueError(f"unknown table(s) {unknown}; published tables: {sorted(by_name)}")
    return [by_name[n] for n in by_name if n in cfg.tables]


def _export_table(
    warehouse: Path,
    run: RunVersions,
    table: Table,
    folder: Path,
    cfg: ExportConfig,
    pii: tuple[str, list[str]],
    note: Step,
) -> dict[str, Any]:
    """Write one table as of `run` into `folder` (redacted with `pii` = (salt, known values)); its manifest entry."""
    version = run.version(table)
    note(table.name, "reading")
    data = read_current(warehouse, table, version=version) if version is not None else table.empty()
    if cfg.redact_pii:
        note(table.name, "redacting")
        data = redact(table, data, *pii)
    data = data.replace_schema_metadata(_parquet_metadata(table, run, version))
    note(table.name, "writing")
    path = folder / f"{table.name}.{cfg.format}"
    _write_table(data, path, cfg.format)
    return {
        "file": path.name,
        "rows": data.num_rows,
        "delta_version": version,
        "sha256": file_sha256(path),
        "bytes": path.stat().st_size,
        "columns": table.column_names,
    }


def export_warehouse(
    warehouse: Path,
    run: RunVersions,
    out: Path,
    cfg: ExportConfig = ExportConfig(),
    now: datetime | None = None,
    step: Step | None = None,
) -> ExportResult:
    """Write the published tables as of `run` to `out`, replacing whatever export was there."""
    tables = _chosen_tables(cfg)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).exists():
        raise FileExistsError(f"{out} is not empty and holds no earlier export ({MANIFEST}); not replacing it")
    stage = out.parent / f".{out.name}.tmp-{secrets.token_hex(4)}"
    stage.mkdir(parents=True)
    pii = (secrets.token_hex(16), known_pii(warehouse, run) if cfg.redact_pii else [])
    try:
        entries = {t.name: _export_table(warehouse, run, t, stage, cfg, pii, step or (lambda *_: None)) for t in tables}
        files = {name: out / entry["file"] for name, entry in entries.items()}
        rows = {name: entry["rows"] for name, entry in entries.items()}
        manifest = {
            "run_id": run.run_id,
            "run_finished_at": run.finished_at.isoformat(),
            "exported_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
            "format": cfg.format,
            "redacted": cfg.redact_pii,
            "tables": entries,
        }
        (stage / README).write_text(_readme(tables, rows, files, manifest))
        manifest["files"] = {p.name: file_sha256(p) for p in sorted(stage.iterdir())}
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
        if out.exists():
            shutil.rmtree(out)
        stage.rename(out)
    finally:
        if stage.exists():
            shutil.rmtree(stage)
    return ExportResult(out, run, files, rows, manifest)
