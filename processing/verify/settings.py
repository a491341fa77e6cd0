"""Settings of the verification stage (TOML table `[verify]`)."""

from __future__ import annotations

from pydantic import Field

from processing.settings import Strict


class VerifyConfig(Strict):
    timeout: float = Field(10.0, gt=0, description="hard limit in seconds for one math check")
    workers: int = Field(1, ge=1)
