"""Settings of the published output (TOML table `[output]`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from processing.settings import Strict


class OutputConfig(Strict):
    configs: list[Literal["default", "sft", "messages", "full"]] = ["default", "sft", "messages", "full"]
    license: str = "apache-2.0"
    pretty_name: str | None = None
    task_categories: list[str] = ["text-generation", "question-answering"]
    max_shard_bytes: int = Field(256 * 2**20, ge=1, description="uncompressed bytes per shard")
    row_group_bytes: int = Field(32 * 2**20, ge=1, description="uncompressed bytes per row group")
