"""What a run says while a stage works, without a terminal (a log, a scheduled run): each pass's records, rate
and time left, and, when no record moves (a night-wide reduce), what the stage is doing."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

import tasks._progress
from flows import progress
from flows.progress import StageMeter, stage_progress
from tasks._progress import advance, step


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def lines() -> Iterator[list[str]]:
    handler = _Lines()
    progress.log.addHandler(handler)
    yield handler.lines
    progress.log.removeHandler(handler)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_pass_shows_its_own_rate_and_time_left(lines):
    """Strip reads its input twice (sample, then strip) with dedupe's reduce-like pause between: the second pass's
    rate counts from its own start, not the stage's (it read 4,000 records at "65/s" on the 1M night's log)."""
    clock = _Clock()
    meter = StageMeter("strip_boilerplate", 1000, None, clock=clock)
    clock.now += 40
    meter.advance(200)
    clock.now += 40
    meter.advance(800)  # pass 1 done: 1,000 in 80 s
    clock.now += 300  # a pause between the passes
    meter.advance(100)  # pass 2's first records
    clock.now += 40
    meter.advance(300)
    clock.now += 10
    meter.advance(100)  # under 30 s since the last line: no line
    assert lines == [
        "  strip_boilerplate: 200/1,000 records (5/s, about 2 min 40 s left)",
        "  strip_boilerplate: 1,000/1,000 records (12/s, about 0 s left)",
        "  strip_boilerplate (pass 2): 100/1,000 records (-)",
        "  strip_boilerplate (pass 2): 400/1,000 records (8/s, about 1 min 20 s left)",
    ]


def test_a_named_step_is_a_pass_of_its_own_counted_from_its_start(lines, monkeypatch):
    """The records read inside a named step (strip: sampling, then its re-strip of published documents, then
    stripping) are a pass named by it, counted from when the step opened, out of the step's own records if it
    names them."""
    clock = _Clock()
    monkeypatch.setattr(tasks._progress, "clock", clock)
    meter = StageMeter("strip_boilerplate", 1000, None, clock=clock)
    clock.now += 5  # the stage's spill, before the first step
    with step("sampling pages"):
        clock.now += 40
        meter.advance(600)
        clock.now += 20
        meter.advance(400)  # under 30 s since the last line
    clock.now += 100  # the model's merge: no records
    with step("stripping published documents again", records=4000):
        clock.now += 40
        meter.advance(1000)
    with step("stripping pages"):
        clock.now += 30
        meter.advance(300)
    assert lines == [
        "  strip_boilerplate (sampling pages): 600/1,000 records (15/s, about 27 s left)",
        "  strip_boilerplate (stripping published documents again): 1,000/4,000 records (25/s, about 2 min 00 s left)",
        "  strip_boilerplate (stripping pages): 300/1,000 records (10/s, about 1 min 10 s left)",
    ]


def test_a_stage_reading_no_records_says_what_it_does(lines):
    """No record and no line for 30 s: the stage's named step (or "working") and its time so far, once per 30 s."""
    clock = _Clock()
    meter = StageMeter("dedupe", 10, None, clock=clock)
    clock.now += 29
    meter.beat()
    assert lines == []
    clock.now += 1
    meter.beat()
    with step("deciding duplicates"):
        clock.now += 20
        meter.beat()  # 20 s after the last line: none
        clock.now += 10
        meter.beat()
        clock.now += 3600
        meter.beat()
    meter.advance(5)
    clock.now += 29
    meter.beat()  # a record was read 29 s ago: none
    assert lines == [
        "  dedupe: working (30 s into the stage)",
        "  dedupe: deciding duplicates (1 min 00 s into the stage)",
        "  dedupe: deciding duplicates (1 h 01 min into the stage)",
    ]


def test_a_stage_is_not_silent_while_its_reduce_runs(lines, monkeypatch):
    """The liveness thread that `stage_progress` runs says the open step while the block reads nothing, and stops
    with the block."""
    monkeypatch.setattr(progress, "PLAIN_EVERY_SECONDS", 0.05)
    monkeypatch.setattr(progress, "BEAT_EVERY_SECONDS", 0.01)
    with stage_progress("dedupe", 10):
        advance(10)
        with step("deciding duplicates"):
            time.sleep(0.5)
    said = len(lines)
    time.sleep(0.2)
    assert lines[0] == "▶ dedupe: 10 records in"
    assert any(line.startswith("  dedupe: deciding duplicates (") for line in lines), lines
    assert len(lines) == said  # the thread left with the stage


def test_the_liveness_line_reaches_the_flow_runs_log_in_prefect(tmp_path, monkeypatch):
    """The liveness thread runs in the context of the stage's thread: in a flow run its lines reach Prefect's log
    of that flow run (what the UI shows), like the stage's other lines."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler
    from prefect.runtime import flow_run

    monkeypatch.setattr(progress, "PLAIN_EVERY_SECONDS", 0.05)
    monkeypatch.setattr(progress, "BEAT_EVERY_SECONDS", 0.01)
    run_logger = logging.getLogger("prefect.flow_runs")
    monkeypatch.setattr(run_logger, "level", logging.INFO)  # the test harness sets Prefect's loggers to WARNING

    @flow
    def quiet_stage() -> str:
        with progress.run_log(tmp_path), stage_progress("dedupe", 1):
            advance(1)
            with step("deciding duplicates"):
                time.sleep(0.5)
        return flow_run.id

    run_id = quiet_stage()
    APILogHandler().flush()  # the batches still queued reach the API
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    messages = [log.message for log in logs]
    assert "▶ dedupe: 1 records in" in messages, messages
    assert any(m.startswith("  dedupe: deciding duplicates (") for m in messages), messages
    assert "deciding duplicates" in (tmp_path / progress.LOG_FILE).read_text()
