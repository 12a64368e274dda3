"""bench_pipeline's generated crawl is what it claims: seeded and continuable, sized around page_kb, in several
languages, with copies, project pages and bad records that ingest quarantines with the expected reason codes.
(The pipeline's speed on it is measured by bench/bench_pipeline.py, not here.)"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from _pipeline_corpus import BAD_KINDS, PageStream, load_parts, write_raw
from bench_run import clock_map, idle_line, tree_cpu
from helpers import ingest

from schemas import reasons

N_PAGES = 1200


@pytest.fixture(scope="module")
def stream() -> PageStream:
    crawl = PageStream(load_parts(seed=7), seed=7)
    crawl.take(N_PAGES)
    return crawl


def test_stream_is_seeded_and_continues(stream):
    again = PageStream(load_parts(seed=7), seed=7)
    again.take(N_PAGES)
    new = again.take(N_PAGES // 10)  # a second night's pages follow the first night's, which stay as they were
    assert [p["text"] for p in again.pages[:N_PAGES]] == [p["text"] for p in stream.pages]
    assert len({p["url"] for p in again.pages}) == N_PAGES + len(new)


def test_pages_are_sized_multilingual_with_copies_and_projects(stream):
    good = [p for p in stream.pages if "bad" not in p]
    sizes = sorted(len(p["text"]) for p in good)
    assert 2_000 <= sizes[len(sizes) // 2] <= 4_500  # around the default 3 KB
    languages = Counter(p["language"] for p in good)
    assert {"en", "fr", "es"} <= set(languages) and languages["fr"] >= N_PAGES // 20
    texts = Counter(p["text"] for p in good)
    assert sum(n - 1 for n in texts.values()) == stream.planted["exact_copy"] > 0
    assert stream.planted["near_copy"] > 0 and stream.planted["project"] > 0
    assert any("Budget Amount (USD)" in p["text"] for p in good)


@pytest.mark.parametrize("shape", ["jsonl", "txt"])
def test_bad_records_are_quarantined_by_ingest(stream, shape, tmp_path: Path):
    index = write_raw(stream.pages, shape, tmp_path / "raw")
    result = ingest(tmp_path / "raw")
    reasons_by_page = {index[row["source_uri"]]: row["reason"] for row in result.quarantined.to_pylist()}
    bad = {i: p["bad"] for i, p in enumerate(stream.pages) if "bad" in p}
    assert set(reasons_by_page) == set(bad) and len(bad) >= len(BAD_KINDS)
    expected = {
        "jsonl": {
            "empty": reasons.INGEST_NO_TEXT,
            "cut_json": reasons.INGEST_BAD_JSON,
            "binary": reasons.INGEST_BAD_JSON,
        },
        "txt": {"empty": reasons.INGEST_EMPTY, "cut_json": reasons.INGEST_BAD_JSON, "binary": reasons.INGEST_BINARY},
    }[shape]
    assert {i: reasons_by_page[i] for i in bad} == {i: expected[kind] for i, kind in bad.items()}
    assert result.kept.num_rows == N_PAGES - len(bad)


def test_idle_core_seconds_by_phase_from_a_timeline(tmp_path: Path):
    """bench_run.idle_line: cores × wall − the tree's CPU seconds in each phase, a process that exited counting with
    its last sample (the run process and a worker that leaves half-way)."""
    timeline = tmp_path / "night1.rss.tsv"
    rows = [(0.0, 1, 0.0), (0.0, 2, 0.0), (2.0, 1, 1.0), (2.0, 2, 2.0), (4.0, 1, 3.0), (6.0, 1, 5.0)]
    timeline.write_text(
        "t\tpid\trole\trss_mb\tcpu_s\n" + "".join(f"{t}\t{pid}\trun\t100\t{cpu}\n" for t, pid, cpu in rows)
    )
    points = tree_cpu(timeline)
    assert points == [(0.0, 0.0), (2.0, 3.0), (4.0, 5.0), (6.0, 7.0)]
    line = idle_line(points, [("before", 0.0, 2.0), ("strip", 2.0, 6.0)], cores=2)
    assert line == (
        "idle core-seconds on 2 cores: 5.0: before 1.0 (3.0 CPU s in 2.0 s), strip 4.0 (4.0 CPU s in 4.0 s)"
    ), line


def test_phases_keep_their_monotonic_length_when_the_clock_steps(tmp_path: Path):
    """bench_run.clock_map: the host's clock steps 60 s forward between the samples at 1.0 and 2.0 s; a run log
    line written after the step is placed at its monotonic time, not 60 s later. A timeline without the epoch
    column falls back to epoch − start."""
    timeline = tmp_path / "night2.rss.tsv"
    rows = [(0.0, 1000.0), (1.0, 1001.0), (2.0, 1062.0), (3.0, 1063.0)]
    timeline.write_text(
        "t\tpid\trole\trss_mb\tcpu_s\tepoch\n" + "".join(f"{t}\t1\trun\t100\t0.5\t{e}\n" for t, e in rows)
    )
    since_start = clock_map(timeline, started=1000.0)
    assert [since_start(at) for at in (1000.5, 1001.5, 1062.5, 1063.2)] == pytest.approx([0.5, 1.5, 2.5, 3.2])
    assert tree_cpu(timeline) == [(0.0, 0.5), (1.0, 0.5), (2.0, 0.5), (3.0, 0.5)]  # reads the epoch column too
    old = tmp_path / "night1.rss.tsv"
    old.write_text("t\tpid\trole\trss_mb\tcpu_s\n0.0\t1\trun\t100\t0.5\n")
    assert clock_map(old, started=1000.0)(1062.5) == 62.5
