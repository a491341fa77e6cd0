"""Settings of a model (teacher, scorer or judge) and of the prompts teachers see."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from processing.llm.keys import env_name_problem
from processing.settings import Category, Strict

Preset = Literal["openai", "deepseek", "dashscope", "vllm", "sglang", "siliconflow", "openrouter", "ollama"]
# How requests travel in batch mode (processing/llm/batch.py); never what a teacher answers.
BATCH_FIELDS = frozenset({"mode", "batch_discount", "batch_window", "batch_max_requests", "batch_max_bytes",
                          "batch_poll"})
# Settings that change how requests travel, never what a teacher answers: they may change
# mid-run without re-asking anything (journal.recipe_fingerprint leaves them out).
TRANSPORT_FIELDS = frozenset({"base_url", "base_urls", "api_key_env", "stream", "max_concurrency", "rpm", "tpm",
                              "timeout", "max_retries", "backoff", "input_price", "output_price",
                              "expected_completion_tokens"}) | BATCH_FIELDS
MATH_SUFFIX = "请一步步推理，并把最终答案放到 \\boxed{}。"
# Presets whose servers cap the reasoning at `thinking_budget` tokens, with the range they
# accept. OpenRouter calls it `reasoning.max_tokens`; SiliconFlow caps at 4,096 if none is sent.
THINKING_BUDGET_RANGE: dict[str, tuple[int, int | None]] = {
    "dashscope": (1, None),
    "siliconflow": (128, 32768),
    "openrouter": (1, None),
}


class ModelConfig(Strict):
    # A key pasted where a variable name belongs must not be echoed by a validation error.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

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
    temperature: float = Field(0.6, ge=0, le=2)
    top_p: float | None = None
    force_think_prefix: bool = Field(False, description="start the answer with <think>\\n (vllm, sglang, deepseek)")
    thinking_budget: int | None = Field(None, description="tokens of reasoning at most (dashscope, siliconflow, openrouter)")
    timeout: float = Field(600.0, gt=0, description="seconds to wait for a reply, or between two streamed chunks")
    samples: int = Field(1, ge=1, description="answers per prompt")
    max_retries: int = Field(5, ge=0)
    backoff: float = Field(1.0, ge=0, description="seconds before the first retry; doubles per retry, with jitter")
    stop_degenerate: bool = Field(True, description="cancel a reply caught in a loop (one passage again and again)")
    degenerate_retries: int = Field(2, ge=0, description="times a looping reply is asked again before it is failed")
    input_price: float | None = Field(None, ge=0, description="price per million prompt tokens, for the cost shown")
    output_price: float | None = Field(None, ge=0, description="price per million completion tokens")
    expected_completion_tokens: int = Field(4000, ge=1, description="completion tokens per request assumed by `crd build --dry-run`")
    mode: Literal["realtime", "batch"] = Field("realtime", description="batch: the provider's Batch API (README: Batch mode)")
    batch_discount: float = Field(0.5, ge=0, le=1, description="share of the real-time price a batch request costs")
    batch_window: str = Field("24h", pattern=r"^[1-9][0-9]*h$", description="completion window (siliconflow: up to 336h)")
    batch_max_requests: int | None = Field(None, ge=1, description="requests per batch file; default: the preset's limit")
    batch_max_bytes: int | None = Field(None, ge=1, description="bytes per batch file; default: the preset's limit")
    batch_poll: float = Field(30.0, gt=0, description="seconds before the first status check; grows to 10 minutes")

    @model_validator(mode="after")
    def _budget_the_preset_takes(self) -> ModelConfig:
        if self.thinking_budget is None:
            return self
        if self.preset not in THINKING_BUDGET_RANGE:
            raise ValueError(f"thinking_budget: preset {self.preset} has no thinking budget; it is sent to presets "
                             f"{', '.join(THINKING_BUDGET_RANGE)} only, so leave it out")
        low, high = THINKING_BUDGET_RANGE[self.preset]
        if self.thinking_budget < low or (high is not None and self.thinking_budget > high):
            allowed = f"{low:,}–{high:,}" if high else f"at least {low:,}"
            raise ValueError(f"thinking_budget: preset {self.preset} takes {allowed} tokens, not {self.thinking_budget:,}")
        return self

    @field_validator("api_key_env")
    @classmethod
    def _a_variable_name(cls, value: str | None) -> str | None:
        problem = value and env_name_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class GenerationConfig(Strict):
    system_prompt: str | None = None
    math_suffix: str = MATH_SUFFIX
    suffix_categories: list[Category] = ["math"]
