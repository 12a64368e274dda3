"""validate on shards inside a Prefect flow: the same quarantine rows, reason codes, stats and kept tables
however each table is cut (1, 7 or 10,000 rows a shard) and wherever the shards run; a table-level check still
sees the whole night."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import records_by_step, step_totals
from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner
from validate_rows import seed_night, set_value, with_copies, with_urls

from tasks._shards import worker_processes
from tasks._spill import Spill, materialise, part_file
from tasks.sizes import Sizes
from tasks.validate import TableExpectationFailed, ValidateConfig, validate_stage, validate_tables

SHARD_SIZES = (1, 7, 10_000)
NAV_LINE = "Who we are"  # stripped as boilerplate from the head of the four Mongolia pages
QUARANTINE_FIELDS = ("source_uri", "stage", "reason", "message", "run_id")


@flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
def _sharded_validate(tables, cfg, out, processes: int, check_rows: int, local_check_rows: int = 0):
    """validate_stage with shard groups of `check_rows`, on the task runner and `processes` worker processes unless
    the night has at most `local_check_rows` documents (0, the default here: never checked in the run process)."""
    sizes = Sizes(check_rows=check_rows, local_check_rows=local_check_rows)
    with worker_processes(processes):
        return validate_stage(tables, cfg, sizes=sizes, out=out)


@pytest.fixture(scope="module")
def seed_tables(tmp_path_factory) -> dict[str, pa.Table]:
    return seed_night(tmp_path_factory.mktemp("validate-shards"))


@pytest.fixture
def planted(seed_tables):
    """Seed tables grown to 15 documents, with one bad row of each kind: a nav line as title, a bad email in a
    document's list, a document's doc_id repeated (uniqueness across shards), a negative project budget, a bad
    contact email."""
    docs = with_copies(seed_tables["documents"], 2)
    docs = set_value(docs, "title", 0, NAV_LINE)
    emails = docs.column("emails").to_pylist()
    row = next(i for i, e in enumerate(emails) if e and i > 4)
    docs = set_value(docs, "emails", row, [*emails[row], "someone@iom"])
    docs = pa.concat_tables([docs, docs.slice(7, 1)])  # row 7's doc_id twice, far apart
    projects = set_value(seed_tables["projects"], "budget_usd", 0, -5.0)
    contacts = set_value(seed_tables["contacts"], "email", 0, "someone at iom")
    return dict(seed_tables, documents=docs, projects=projects, contacts=contacts)


def _quarantine(result) -> list[tuple]:
    return [tuple(r[f] for f in QUARANTINE_FIELDS) for r in result.quarantined.to_pylist()]


def test_every_shard_size_gives_the_same_rejects_and_tables(planted, tmp_path):
    alone = validate_tables(planted, ValidateConfig())
    reasons = {r[2] for r in _quarantine(alone)}
    assert reasons == {
        "validate.documents.title.template_line",
        "validate.documents.emails.bad_format",
        "validate.documents.doc_id.not_unique",
        "validate.projects.budget_usd.out_of_range",
        "validate.contacts.email.bad_format",
    }
    assert sum(r[2] == "validate.documents.doc_id.not_unique" for r in _quarantine(alone)) == 2
    assert alone.kept.num_rows == 16 - 4  # nav title, bad email, both rows of the repeated doc_id
    small_night = Sizes().local_check_rows  # checked in one process of its own, shard group after shard group
    for shard_rows, local in [*((n, 0) for n in SHARD_SIZES), (7, small_night)]:
        out = tmp_path / f"cut-{shard_rows}-{local}"
        sharded = _sharded_validate(planted, ValidateConfig(), out, 2, shard_rows, local)
        assert _quarantine(sharded) == _quarantine(alone), shard_rows
        assert materialise(sharded.kept).equals(alone.kept), shard_rows
        for name in ("projects", "contacts", "duplicates"):
            assert materialise(sharded.outputs[name]).equals(alone.outputs[name]), (name, shard_rows)
        assert sharded.stats == alone.stats, shard_rows


def test_each_table_is_checked_under_its_named_step(planted, tmp_path):
    """The run's progress sees each checked table as a pass named by its step, counting that table's rows once (a
    table without rows reads none). A small night checked in a process of its own reports no records to the run;
    its step names what the stage does instead."""
    with records_by_step() as seen:
        _sharded_validate(planted, ValidateConfig(), tmp_path / "out", 2, 7)
    tables = [name for name in ("documents", "projects", "contacts", "duplicates") if planted[name].num_rows]
    assert len(tables) >= 3
    assert step_totals(seen) == [(f"checking {name}", planted[name].num_rows) for name in tables]


def test_a_table_level_failure_is_seen_across_shards(seed_tables, tmp_path):
    docs = with_urls(seed_tables["documents"], range(5))
    docs = set_value(set_value(docs, "site", 0, None), "site", 3, None)  # 3/5 sites among pages with a URL < mostly 0.8
    cfg = ValidateConfig(min_rows_for_share=5)
    with pytest.raises(TableExpectationFailed, match="validate.documents.site.null_share") as failure:
        _sharded_validate(dict(seed_tables, documents=docs), cfg, tmp_path / "cut", 2, 1)  # no shard has 5 rows
    assert failure.value.stats["failed_expectations"] == ["validate.documents.site.null_share"]


def test_tables_in_several_part_files_give_the_same_rejects(planted, tmp_path):
    """Tables as extract hands them over (a folder of part files, one per extract shard): shard groups that
    span part files check the same rows."""
    alone = validate_tables(planted, ValidateConfig())
    tables = {}
    for name, table in planted.items():
        folder, cuts = tmp_path / "parts" / name, [0, table.num_rows // 3, 2 * table.num_rows // 3, table.num_rows]
        for index, (lo, hi) in enumerate(itertools.pairwise(cuts)):
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table.slice(lo, hi - lo), part_file(folder, index))
        tables[name] = Spill(folder)
    assert len(tables["documents"].files) == 3
    sharded = _sharded_validate(tables, ValidateConfig(), tmp_path / "cut", 2, 7)
    assert _quarantine(sharded) == _quarantine(alone)
    kept = materialise(sharded.kept)
    assert [(f.name, f.type) for f in kept.schema] == [(f.name, f.type) for f in alone.kept.schema]
    assert kept.to_pylist() == alone.kept.to_pylist()
    assert sharded.stats == alone.stats


_SMALL_NIGHT_IN_A_RUN = """
import sys
from pathlib import Path
from validate_rows import seed_night
from tasks._shards import worker_processes
from tasks.validate import ValidateConfig, validate_stage
tables = seed_night(Path(sys.argv[1]))
assert "great_expectations" not in sys.modules
with worker_processes(2):
    result = validate_stage(tables, ValidateConfig(), out=Path(sys.argv[1]) / "validate")
print(result.kept.num_rows, "great_expectations" in sys.modules)
"""


def test_a_small_night_is_checked_without_loading_great_expectations_in_the_run_process(tmp_path):
    """With worker processes, a small night's checks run in one process of their own: Great Expectations never
    loads in the run process, which goes on to publish (1M night 2: GX resident there took publish's peak from
    1,413 to 1,806 MB)."""
    tests = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _SMALL_NIGHT_IN_A_RUN, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": f"{tests}:{tests.parent}"},
    )
    assert done.returncode == 0, done.stderr
    kept, loaded = done.stdout.split()
    assert int(kept) == 5 and loaded == "False"  # the five seed pages checked, GX loaded elsewhere only
