"""Fixtures shared by every test module (helpers live in tests/helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import seed_dir


@pytest.fixture
def seeds_raw(tmp_path: Path) -> Path:
    return seed_dir(tmp_path)
