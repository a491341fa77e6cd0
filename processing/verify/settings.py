"""Settings of the verification stage (TOML table `[verify]`)."""

from __future__ import annotations

from pydantic import Field

from processing.settings import Strict


class VerifyConfig(Strict):
    timeout: float = Field(
        10.0, gt=0,
        description="hard limit in seconds for one Math-Verify check; the worker running it is killed and replaced",
    )
    workers: int = Field(2, ge=1, description="Math-Verify worker processes (most rows never reach them)")
