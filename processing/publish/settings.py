"""Settings of the published output (TOML table `[output]`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from processing.license_ids import hub_license
from processing.settings import Strict


class OutputConfig(Strict):
    configs: list[Literal["default", "sft", "messages", "full"]] = ["default", "sft", "messages", "full"]
    license: str = Field("apache-2.0", description="the Hub's identifier; a source's stricter licence is warned about, never applied")
    pretty_name: str | None = None
    task_categories: list[str] = ["text-generation", "question-answering"]
    max_shard_bytes: int = Field(256 * 2**20, ge=1, description="uncompressed bytes per shard")
    row_group_bytes: int = Field(32 * 2**20, ge=1, description="uncompressed bytes per row group")
    tokenizer: str | None = Field(
        None, description="the training model's tokenizer, for token counts in the card: a tokenizer.json, a folder "
        "holding one (relative to the config), or a model id already in the local Hugging Face cache; never "
        "downloaded; needs the `tokens` extra")

    @field_validator("license")
    @classmethod
    def _hub_license(cls, value: str) -> str:
        return hub_license(value)
