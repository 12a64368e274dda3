"""Time validate_tables on synthetic rows shaped like documents/projects/contacts; print seconds and peak RSS.

    .venv/bin/python bench/bench_validate.py [--docs 100000] [--projects 20000] [--contacts 30000] [--spill]
        [--shard-rows N]

--spill writes the night as spill folders first (as extract leaves it), in a child process, so this process never
holds the synthetic rows: the RSS after import is a clean baseline and peak RSS is validate's own (printed as the
growth over that baseline).
Shard groups (Sizes.check_rows, or --shard-rows) run one after another in this process; CPU seconds are
printed beside wall seconds (other benchmarks may share the machine).

Two runs: in memory (ephemeral GX context), then with a warehouse folder (file context, results stored, Data Docs
rebuilt). Each synthetic page carries ~1.5 kB of text and a 6-line navigation header in raw_text; a few rows
of each table are corrupted so the row-level path (quarantine) is exercised too.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyarrow.parquet as pq  # noqa: E402

from schemas import CONTACTS, DUPLICATES, PROJECTS  # noqa: E402
from schemas.stg_pages import STG_DOCUMENTS  # noqa: E402
from tasks._spill import Spill, part_file  # noqa: E402
from tasks.sizes import Sizes  # noqa: E402

NAV = "Who we are\nOur Work\nWhat We Do\nWhere We Work\nNews\nContact"
BODY = " ".join(["Migration governance and border management support for member states."] * 20)


def _hex(i: int, salt: str) -> str:
    return hashlib.sha256(f"{salt}{i}".encode()).hexdigest()


def synthetic_tables(n_docs: int, n_projects: int, n_contacts: int, first: int = 0) -> dict:
    """Rows `first`… of each table (a later slice of the same synthetic night when `first` > 0)."""
    now = datetime(2026, 11, 26, tzinfo=UTC)
    docs = []
    for i in range(first, first + n_docs):
        site = f"site{i % 50}.iom.int"
        title = f"Story number {i} about migration"
        text = f"{title}\n{BODY}"
        docs.append(
            {
                "doc_id": _hex(i, "d")[:32],
                "url": f"https://{site}/news/{i}",
                "site": site,
                "source_uri": f"dump.jsonl#line={i}",
                "title": title,
                "title_source": "first_line",
                "doc_type": "news",
                "language": "en",
                "language_confidence": 0.99,
                "text": text,
                "word_count": len(text.split()),
                "emails": [f"press{i}@iom.int"] if i % 10 == 0 else None,
                "raw_text": f"{NAV}\n{text}",
                "n_boilerplate_lines": 6,
                "content_hash": _hex(i, "c"),
                "ingested_at": now,
                "run_id": "bench",
                "is_update": i % 4 == 0,
            }
        )
    if first == 0:
        docs[7]["title"] = "Our Work"  # nav line as title
        docs[20]["emails"] = ["not-an-email"]
    projects = [
        {
            "doc_id": _hex(first + i, "d")[:32],
            "prima_id": f"MN{first + i:05d}P0001",
            "start_year": 2014,
            "end_year": 2016,
            "budget_usd": 1000.0 * (first + i),
            "year": 2014,
            "benefiting_member_state_codes": ["MNG", "CHN"],
            "run_id": "bench",
        }
        for i in range(n_projects)
    ]
    if first == 0:
        projects[3]["budget_usd"] = -5.0
        projects[4]["start_year"] = 2020
    contacts = [
        {
            "contact_id": _hex(first + i, "k")[:32],
            "doc_id": _hex(first + i % n_docs, "d")[:32],
            "name": f"Person {first + i}",
            "email": f"person{first + i}@iom.int",
            "phone": "+97670143100",
            "run_id": "bench",
        }
        for i in range(n_contacts)
    ]
    if first == 0:
        contacts[5]["email"] = "person at iom"
    return {
        "documents": STG_DOCUMENTS.conform(docs),
        "projects": PROJECTS.conform(projects),
        "contacts": CONTACTS.conform(contacts),
        "duplicates": DUPLICATES.empty(),
    }


def spilled_tables(n_docs: int, n_projects: int, n_contacts: int, folder: Path, chunk_docs: int = 10_000) -> dict:
    """The synthetic night written as spill folders (one part file per `chunk_docs` documents), as extract
    leaves it; only one chunk is ever in memory."""
    parts = max(1, -(-n_docs // chunk_docs))
    for p in range(parts):
        first, n = p * chunk_docs, min(chunk_docs, n_docs - p * chunk_docs)
        chunk = synthetic_tables(n, n_projects * n // n_docs, n_contacts * n // n_docs, first)
        for name, table in chunk.items():
            (folder / name).mkdir(parents=True, exist_ok=True)
            pq.write_table(table, part_file(folder / name, p), row_group_size=2_000)
    return {name: Spill(folder / name) for name in ("documents", "projects", "contacts", "duplicates")}


def spilled_in_child(n_docs: int, n_projects: int, n_contacts: int, folder: Path) -> dict:
    """`spilled_tables` run in a forked child process (its garbage never inflates this process's RSS)."""
    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply(spilled_tables, (n_docs, n_projects, n_contacts, folder))


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc), MB."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=20_000)
    parser.add_argument("--contacts", type=int, default=30_000)
    parser.add_argument(
        "--spill", action="store_true", help="validate spill folders (as a run does) instead of in-memory tables"
    )
    parser.add_argument("--shard-rows", type=int, default=None, help="rows a validate task checks (default: Sizes)")
    args = parser.parse_args()
    t = time.perf_counter()
    if args.spill:
        tables = spilled_in_child(args.docs, args.projects, args.contacts, Path(tempfile.mkdtemp()))
    else:
        tables = synthetic_tables(args.docs, args.projects, args.contacts)
    print(
        f"built {args.docs} documents, {args.projects} projects, {args.contacts} contacts in "
        f"{time.perf_counter() - t:.1f} s"
    )

    t = time.perf_counter()
    import great_expectations  # noqa: F401  (timed apart: ~2 s, once per process)

    from tasks.validate import ValidateConfig, ValidationHistory, validate_tables

    baseline = rss_mb()
    print(f"import tasks.validate + great_expectations: {time.perf_counter() - t:.2f} s; RSS {baseline:.0f} MB")
    history = ValidationHistory(recent_counts=(args.docs,) * 5)
    cfg = ValidateConfig()
    sizes = Sizes() if args.shard_rows is None else Sizes(check_rows=args.shard_rows)
    for label, warehouse in (("in memory", None), ("file context + Data Docs", Path(tempfile.mkdtemp()))):
        t, cpu = time.perf_counter(), time.process_time()
        result = validate_tables(tables, cfg, history, warehouse, out=Path(tempfile.mkdtemp()), sizes=sizes)
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        n_rows = sum(tables[n].num_rows for n in ("documents", "projects", "contacts"))
        print(
            f"{label}: {seconds:.2f} s ({cpu:.2f} CPU s) for {n_rows} rows ({n_rows / seconds:,.0f} rows/s); "
            f"quarantined {result.quarantined.num_rows}: {result.stats['failed_expectations']}"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mb:.0f} MB ({peak_mb - baseline:+.0f} MB over the RSS after import)")


if __name__ == "__main__":
    main()
