"""One Verifier (and its Math-Verify workers) for all verification tests."""

from __future__ import annotations

import pytest

from processing.verify.settings import VerifyConfig
from processing.verify.verifier import Verifier


@pytest.fixture(scope="session")
def verifier():
    with Verifier(VerifyConfig(timeout=30, workers=2)) as shared:
        yield shared
