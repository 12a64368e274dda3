"""A stage stopped from outside (SIGTERM/Ctrl-C reach Python as BaseException) is never reported as succeeded."""

from __future__ import annotations

import logging

import pytest

from flows.ledger import RunLedger, StageFailed
from flows.progress import stage_line


def test_an_interrupted_stage_is_interrupted_not_succeeded(caplog):
    ledger = RunLedger(cfg=None, store=None)  # stage() keeps only its stats
    with (
        caplog.at_level(logging.INFO, logger="docpipe.run"),
        pytest.raises(KeyboardInterrupt),
        ledger.stage("strip_boilerplate", 10),
    ):
        raise KeyboardInterrupt
    assert ledger.stats["strip_boilerplate"]["status"] == "interrupted"
    closing = stage_line("strip_boilerplate", ledger.stats["strip_boilerplate"])
    assert closing.startswith("✗ strip_boilerplate interrupted") and "succeeded" not in closing
    assert any("interrupted" in r.getMessage() for r in caplog.records)


def test_a_failing_stage_is_failed_and_named():
    ledger = RunLedger(cfg=None, store=None)
    with pytest.raises(StageFailed) as failure, ledger.stage("extract"):
        raise ValueError("bad page")
    assert failure.value.stage == "extract" and ledger.stats["extract"]["status"] == "failed"
    assert ledger.failed_stage == "extract" and "bad page" in ledger.error
