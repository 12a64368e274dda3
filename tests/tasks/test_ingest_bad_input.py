"""Every bad-input kind (tests/helpers.py BAD_INPUT_KINDS) on its own, beside a good page: the exact reason code
at the exact source_uri, the good records of the same file still arrive, nothing outside raw/ is read, and the
records reconcile. Then the cases that need timing or another user: a file that grows or vanishes while the
run reads, and a file without read permission."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from helpers import BAD_INPUT_KINDS, NOW, build_bad_inputs, good_line, good_text, ingest, tree_snapshot

from schemas import INGESTED_FILES, reasons
from tasks.ingest import IngestConfig, IngestTally, iter_ingest


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    raw, outside = tmp_path / "raw", tmp_path / "outside"
    raw.mkdir()
    outside.mkdir()
    (raw / "good.txt").write_text(good_text(1))
    return raw, outside


@pytest.mark.parametrize("kind", list(BAD_INPUT_KINDS))
def test_bad_input_kind(dirs, kind):
    raw, outside = dirs
    expected_rejects, expected_pages = build_bad_inputs(raw, outside, [kind])
    result = ingest(raw)
    rejects = {r["source_uri"]: r["reason"] for r in result.quarantined.to_pylist()}
    pages = {r["source_uri"]: r for r in result.kept.to_pylist()}
    assert rejects == expected_rejects
    assert set(pages) == expected_pages | {"good.txt"}  # nothing more: no part of a cut or bombed page
    assert not any("secret" in (p["raw_text"] or "") or "root:x:0" in (p["raw_text"] or "") for p in pages.values())
    assert result.stats["read"] == result.kept.num_rows + result.quarantined.num_rows
    assert all(len(p["raw_text"] or p["raw_html"]) <= IngestConfig().max_text_chars for p in pages.values())


def test_entries_not_read_are_registered_so_a_rerun_passes_them_over(dirs):
    raw, outside = dirs
    build_bad_inputs(raw, outside, ["link_to_file_outside", "link_to_folder_outside", "fifo", "name_not_utf8"])
    first = ingest(raw)
    registry = first.outputs["ingested_files"]
    assert {"secret.txt", "mounted", "pipe.jsonl", "caf%E9-report.txt", "good.txt"} == set(registry["path"].to_pylist())
    again = ingest(raw, registry=registry)
    assert again.kept.num_rows == 0 and again.quarantined.num_rows == 0 and again.stats["files_skipped"] == 5


def test_ingest_never_writes_into_raw(dirs):
    raw, outside = dirs
    build_bad_inputs(raw, outside)

    before = tree_snapshot(raw)
    ingest(raw)
    assert tree_snapshot(raw) == before


def _drive(raw: Path, between) -> tuple[IngestTally, list]:
    """Reads `raw` one record per batch, calling `between()` after the first batch."""
    tally = IngestTally()
    batches = iter_ingest(raw, INGESTED_FILES.empty(), IngestConfig(), "test-run", NOW, tally, chunk_rows=1)
    rows = next(batches).to_pylist()
    between()
    rows += [r for b in batches for r in b.to_pylist()]
    return tally, rows


def test_a_file_that_grows_while_read_is_kept_but_not_registered(dirs):
    raw, _ = dirs
    (raw / "good.txt").unlink()
    dump = raw / "growing.jsonl"
    dump.write_text("\n".join(good_line(i) for i in range(1, 4)) + "\n")

    def append() -> None:
        with dump.open("a") as fh:
            fh.write(good_line(4) + "\n")

    tally, rows = _drive(raw, append)
    assert [q["reason"] for q in tally.quarantine] == [reasons.INGEST_FILE_CHANGED]
    assert tally.quarantine[0]["source_uri"] == "growing.jsonl"
    assert len(rows) >= 3  # the records read stay; the file is not registered, so the next run reads it again
    assert tally.files == []


def test_a_file_rewritten_in_place_while_read_is_flagged(dirs):
    raw, _ = dirs
    (raw / "a.jsonl").write_text(good_line(1) + "\n" + good_line(2) + "\n")

    def rewrite() -> None:
        with (raw / "a.jsonl").open("r+") as fh:  # same size, same inode, new content and mtime
            fh.write(good_line(3)[: len(good_line(1))])
        os.utime(raw / "a.jsonl", ns=(0, 10**18))

    tally, _ = _drive(raw, rewrite)
    assert {q["source_uri"]: q["reason"] for q in tally.quarantine} == {"a.jsonl": reasons.INGEST_FILE_CHANGED}
    assert [f["path"] for f in tally.files] == ["good.txt"]


def test_a_file_that_vanishes_after_listing_is_quarantined_not_a_crash(dirs):
    raw, _ = dirs
    (raw / "z.txt").write_text(good_text(2))
    tally, rows = _drive(raw, (raw / "z.txt").unlink)
    assert [r["source_uri"] for r in rows] == ["good.txt"]
    assert {q["source_uri"]: q["reason"] for q in tally.quarantine} == {"z.txt": reasons.INGEST_FILE_CHANGED}


def test_a_file_without_read_permission_is_unreadable_and_the_others_go_on():
    """Root reads any file whatever its mode, so as root the ingest runs with the effective user `nobody`
    (seteuid, restored after: the real user stays root)."""
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        raw = Path(tmp) / "raw"
        raw.mkdir()
        (raw / "good.txt").write_text(good_text(1))
        (raw / "locked.txt").write_text(good_text(2))
        os.chmod(raw / "locked.txt", 0o000)
        as_root = os.geteuid() == 0
        if as_root:
            os.seteuid(65534)
        try:
            result = ingest(raw)
        finally:
            if as_root:
                os.seteuid(0)
    assert result.kept["source_uri"].to_pylist() == ["good.txt"]
    rejects = {r["source_uri"]: r["reason"] for r in result.quarantined.to_pylist()}
    assert rejects == {"locked.txt": reasons.INGEST_UNREADABLE}
    assert [f["path"] for f in result.outputs["ingested_files"].to_pylist()] == ["good.txt"]  # read again next run
