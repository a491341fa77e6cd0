"""The pipeline config (TOML), validated early with errors that name the key."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from processing.clean import CleanSettings
from processing.decontam import DecontamSettings
from processing.dedup import DedupSettings
from processing.errors import CrdError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 has no tomllib; tomli is the same parser
    import tomli as tomllib

Preset = Literal["openai", "deepseek", "dashscope", "vllm", "sglang", "siliconflow", "openrouter", "ollama"]
Category = Literal["math", "exam", "stem", "general", "code"]
MATH_SUFFIX = "请一步步推理，并把最终答案放到 \\boxed{}。"


class Strict(BaseModel):
    """Unknown keys are typos: refuse them instead of silently ignoring them."""

    model_config = ConfigDict(extra="forbid")


class CategoryRule(Strict):
    column: str = Field("source", description="column whose text the pattern is searched in")
    pattern: str = Field(description="regular expression")
    category: Category


class SourceConfig(Strict):
    path: str = Field(description="file, glob, `hf:NAME` (Hugging Face Hub) or a folder saved by `datasets`")
    name: str | None = Field(None, description="source label; default: the `source` column, else the file stem")
    prompt_column: str = "prompt"
    category: Category | None = Field(None, description="one category for every row of this source")
    category_column: str = "category"
    reference_column: str = "reference_answer"
    template: str | None = Field(None, description='prompt from several columns, e.g. "{instruction}\\n{input}"')
    category_rules: list[CategoryRule] = Field([], description="the first rule whose pattern matches decides")
    test_cases_column: str = "test_cases"
    split: str = Field("train", description="split of a Hugging Face dataset")
    on_error: Literal["raise", "skip"] = Field("raise", description="malformed records fail, or are skipped and counted")


class PoolConfig(Strict):
    """What `crd pool` reads: the sources and the pool stages ([clean], [dedup], [decontam])."""

    name: str = "dataset"
    sources: list[SourceConfig] = Field(min_length=1)
    source_priority: list[str] = Field([], description="dedup keeps the copy from the earliest listed source")
    clean: CleanSettings = CleanSettings()
    dedup: DedupSettings = DedupSettings()
    decontam: DecontamSettings = DecontamSettings()


class ModelConfig(Strict):
    name: str = Field(description="model id sent to the API")
    base_url: str
    base_urls: list[str] = Field([], description="more servers of the same model; requests are balanced over all")
    api_key_env: str | None = Field(None, description="name of the environment variable holding the key")
    preset: Preset = "openai"
    stream: bool | None = Field(None, description="default: what the preset requires")
    weight: float = Field(1.0, gt=0, description="share of prompts routed to this model")
    max_concurrency: int = Field(64, ge=1, description="requests in flight at most; lowered on 429, then regained")
    rpm: float | None = Field(None, gt=0, description="requests per minute at most")
    tpm: float | None = Field(None, gt=0, description="tokens (prompt + completion) per minute at most")
    max_tokens: int = Field(32768, ge=1)
    temperature: float = 0.6
    top_p: float | None = None
    force_think_prefix: bool = Field(False, description="start the answer with <think>\\n (vllm, sglang, deepseek)")
    timeout: float = Field(600.0, gt=0, description="seconds to wait for a reply, or between two streamed chunks")
    samples: int = Field(1, ge=1, description="answers per prompt")
    max_retries: int = Field(5, ge=0)
    backoff: float = Field(1.0, ge=0, description="seconds before the first retry; doubles per retry, with jitter")
    input_price: float | None = Field(None, ge=0, description="price per million prompt tokens, for the cost shown")
    output_price: float | None = Field(None, ge=0, description="price per million completion tokens")


class GenerationConfig(Strict):
    system_prompt: str | None = None
    math_suffix: str = MATH_SUFFIX
    suffix_categories: list[Category] = ["math"]


class VerifyConfig(Strict):
    timeout: float = Field(10.0, gt=0, description="hard limit in seconds for one math check")
    workers: int = Field(1, ge=1)


class OutputConfig(Strict):
    configs: list[Literal["default", "sft", "messages", "full"]] = ["default", "sft", "messages", "full"]
    license: str = "apache-2.0"
    pretty_name: str | None = None
    task_categories: list[str] = ["text-generation", "question-answering"]
    max_shard_bytes: int = Field(256 * 2**20, ge=1, description="uncompressed bytes per shard")
    row_group_bytes: int = Field(32 * 2**20, ge=1, description="uncompressed bytes per row group")


class Config(PoolConfig):
    models: list[ModelConfig] = Field(min_length=1)
    generation: GenerationConfig = GenerationConfig()
    verify: VerifyConfig = VerifyConfig()
    output: OutputConfig = OutputConfig()


def load_config(path: str | Path, schema: type[PoolConfig] = Config) -> Config:
    """Read and validate a TOML config; source and benchmark paths are relative to it.

    With schema=PoolConfig the generation tables of a full config are not read."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CrdError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise CrdError(f"{path}: invalid TOML: {exc}") from None
    if schema is not Config:
        raw = {key: value for key, value in raw.items() if key in schema.model_fields or key not in Config.model_fields}
    config = parse_config(raw, origin=str(path), schema=schema)
    for source in config.sources:
        source.path = str((path.parent / source.path).resolve()) if not _is_remote(source.path) else source.path
    for benchmark in config.decontam.benchmarks:
        benchmark.path = str((path.parent / benchmark.path).resolve())
    return config


def parse_config(raw: dict, origin: str = "config", schema: type[PoolConfig] = Config) -> Config:
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise CrdError(f"{origin}: {key}: {first['msg']}{more}") from None


def _is_remote(path: str) -> bool:
    return "://" in path or path.startswith("hf:")
