"""Fixtures of the publishing tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from output_folder import write_output


@pytest.fixture
def out(tmp_path) -> Path:
    return write_output(tmp_path / "out")
