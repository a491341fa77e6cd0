"""Settings of a model (teacher, scorer or judge) and of the prompts teachers see."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from processing.llm.keys import env_name_problem
from processing.settings import Category, Strict

Preset = Literal["openai", "deepseek", "dashscope", "vllm", "sglang", "siliconflow", "openrouter", "ollama"]
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
    temperature: float = 0.6
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
