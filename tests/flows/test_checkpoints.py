"""A stage checkpoint's fingerprint covers the stage's whole package (flows/checkpoints.py)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

from flows.checkpoints import code_fingerprint, shared_source_files, stage_source_files
from schemas.runs import STAGES


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_is_fingerprinted_by_all_its_files(stage):
    package = importlib.import_module(f"tasks.{stage}")
    files = stage_source_files(f"tasks.{stage}.stage")
    assert Path(package.__file__).name == "__init__.py"
    assert files == sorted(Path(package.__file__).parent.rglob("*.py"))


def test_every_shared_module_and_schema_is_fingerprinted():
    """A stage also depends on the plumbing every stage imports (doc identity, history, spills, shards, sizes):
    editing any module at the top of tasks/ or in schemas/ must invalidate the checkpoints."""
    root = Path(__file__).resolve().parents[2]
    shared = set(shared_source_files())
    expected = set((root / "tasks").glob("*.py")) | set((root / "schemas").glob("*.py"))
    assert {root / "tasks" / name for name in ("identity.py", "history.py", "sizes.py", "_shards.py")} <= shared
    assert shared == expected


def test_editing_a_rule_module_changes_the_stage_fingerprint(tmp_path, monkeypatch):
    folder = tmp_path / "fake_stage"
    folder.mkdir()
    (folder / "__init__.py").write_text("from tasks.fake_stage.rules import RULES\n")
    (folder / "rules.py").write_text("RULES = ('a',)\n")
    (folder / "stage.py").write_text("def run():\n    return 1\n")
    spec = importlib.util.spec_from_file_location("tasks.fake_stage", folder / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "tasks.fake_stage", module)
    before = code_fingerprint("tasks.fake_stage.stage")
    assert code_fingerprint("tasks.fake_stage.stage") == before
    (folder / "rules.py").write_text("RULES = ('a', 'b')\n")
    after_rule = code_fingerprint("tasks.fake_stage.stage")
    (folder / "stage.py").write_text("def run():\n    return 2\n")
    assert len({before, after_rule, code_fingerprint("tasks.fake_stage.stage")}) == 3
