"""The pipeline config (TOML): composes each stage's settings, validated early with errors that name the key."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, model_validator

from processing.errors import CrdError
from processing.llm.settings import GenerationConfig, ModelConfig
from processing.pool.settings import PoolConfig
from processing.route.settings import ComplexitySettings, RoutingSettings, check_routing
from processing.publish.settings import OutputConfig
from processing.textio import read_text
from processing.verify.settings import JudgeSettings, VerifyConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 has no tomllib; tomli is the same parser
    import tomli as tomllib


class Config(PoolConfig):
    models: list[ModelConfig] = Field(min_length=1)
    generation: GenerationConfig = GenerationConfig()
    verify: VerifyConfig = VerifyConfig()
    judge: JudgeSettings | None = Field(None, description="the LLM judge; without it rows no verifier can check stay unscored")
    output: OutputConfig = OutputConfig()
    complexity: ComplexitySettings = ComplexitySettings()
    routing: RoutingSettings = RoutingSettings()

    @model_validator(mode="after")
    def _routing_names_teachers(self) -> Config:
        check_routing(self.routing, self.complexity, [model.name for model in self.models])
        return self


def load_config(path: str | Path, schema: type[PoolConfig] = Config) -> Config:
    """Read and validate a TOML config; source and benchmark paths are relative to it.

    With schema=PoolConfig the generation tables of a full config are not read. The file
    may be UTF-8 (with or without a BOM), GB18030/GBK or UTF-16 with a BOM (detected)."""
    path = Path(path)
    raw = _read_toml(path)
    if schema is not Config:
        raw = {key: value for key, value in raw.items() if key in schema.model_fields or key not in Config.model_fields}
    config = parse_config(raw, origin=str(path), schema=schema)
    for source in config.sources:
        source.path = str((path.parent / source.path).resolve()) if not _is_remote(source.path) else source.path
    for benchmark in config.decontam.benchmarks:
        benchmark.path = str((path.parent / benchmark.path).resolve())
    tokenizer = config.output.tokenizer if isinstance(config, Config) else None
    if tokenizer and (path.parent / tokenizer).exists():  # a path beside the config; else a model id in the cache
        config.output.tokenizer = str((path.parent / tokenizer).resolve())
    return config


def load_tables(path: Path, tables: dict[str, type[BaseModel]], required: tuple[str, ...] = ()) -> dict[str, BaseModel]:
    """Some tables of a TOML file (e.g. [verify] and [judge] for `crd verify`), validated; the rest is ignored."""
    raw = _read_toml(path)
    missing = [name for name in required if name not in raw]
    if missing:
        raise CrdError(f"{path}: no [{missing[0]}] table; tables present: {', '.join(sorted(raw)) or 'none'}")
    return {name: parse_config(raw[name], origin=f"{path}: {name}", schema=model)
            for name, model in tables.items() if name in raw}


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(read_text(path, hint="save the config as UTF-8"))  # UTF-8, GBK or with a BOM
    except FileNotFoundError:
        raise CrdError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise CrdError(f"{path}: invalid TOML: {exc}") from None


def parse_config(raw: dict, origin: str = "config", schema: type[BaseModel] = Config) -> BaseModel:
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        where = f"{key}: " if key else ""  # a check of the whole config names its keys itself
        message = first["msg"].removeprefix("Value error, ")  # a validator's own sentence
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise CrdError(f"{origin}: {where}{message}{more}") from None


def _is_remote(path: str) -> bool:
    return "://" in path or path.startswith("hf:")
