"""CLI behaviour that needs no pipeline run."""

from __future__ import annotations

from typer.testing import CliRunner

from flows.cli import app


def test_run_refuses_a_missing_raw_folder(tmp_path):
    result = CliRunner().invoke(app, ["run", "--raw", str(tmp_path / "nope"), "--warehouse", str(tmp_path / "wh")])
    assert result.exit_code == 2 and "no raw folder" in result.output
    assert not (tmp_path / "wh").exists()
