"""Settings of the pool stage: sources, and the [clean], [dedup], [decontam] tables."""

from __future__ import annotations

from pydantic import Field

from processing.pool.clean import CleanSettings
from processing.pool.decontam import DecontamSettings
from processing.pool.dedup import DedupSettings
from processing.pool.sources import CategoryRule, SourceConfig
from processing.settings import Strict

__all__ = ["CategoryRule", "PoolConfig", "SourceConfig"]


class PoolConfig(Strict):
    """What `crd pool` reads: the sources and the pool stages ([clean], [dedup], [decontam])."""

    name: str = "dataset"
    sources: list[SourceConfig] = Field(min_length=1)
    source_priority: list[str] = Field([], description="dedup keeps the copy from the earliest listed source")
    clean: CleanSettings = CleanSettings()
    dedup: DedupSettings = DedupSettings()
    decontam: DecontamSettings = DecontamSettings()
