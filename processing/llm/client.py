"""The one place that builds API clients and per-provider request arguments."""

from __future__ import annotations

import os

import openai

from processing.config import ModelConfig
from processing.errors import CrdError

# Request extras each provider needs to return its reasoning (REFERENCE.md §2).
PRESET_EXTRA_BODY: dict[str, dict] = {
    "dashscope": {"enable_thinking": True},
    "siliconflow": {"enable_thinking": True},
    "openrouter": {"reasoning": {"effort": "high"}},
}
# DashScope's thinking models answer only when streamed.
STREAMING_ONLY = {"dashscope"}


def api_key(model: ModelConfig) -> str:
    """The key from the environment; local servers that need none get a placeholder."""
    if model.api_key_env is None:
        return "not-needed"
    key = os.environ.get(model.api_key_env)
    if not key:
        raise CrdError(
            f"model {model.name}: environment variable {model.api_key_env} is not set; "
            f"export it with the API key for {model.base_url}"
        )
    return key


def make_client(model: ModelConfig, base_url: str | None = None) -> openai.AsyncOpenAI:
    """aiohttp transport: the default httpx one caps at ~35 req/s here (REFERENCE.md §3).

    Retries are ours (backoff, Retry-After, journal), so the SDK's own are off.
    """
    return openai.AsyncOpenAI(
        api_key=api_key(model),
        base_url=base_url or model.base_url,
        timeout=model.timeout,
        max_retries=0,
        http_client=openai.DefaultAioHttpClient(timeout=model.timeout),
    )


def uses_stream(model: ModelConfig) -> bool:
    if model.preset in STREAMING_ONLY:
        return True
    return True if model.stream is None else model.stream


def request_arguments(model: ModelConfig) -> dict:
    """Sampling arguments and provider extras for chat.completions.create."""
    arguments: dict = {"model": model.name, "max_tokens": model.max_tokens, "temperature": model.temperature}
    if model.top_p is not None:
        arguments["top_p"] = model.top_p
    if model.preset in PRESET_EXTRA_BODY:
        arguments["extra_body"] = PRESET_EXTRA_BODY[model.preset]
    if uses_stream(model):
        arguments["stream"] = True
        arguments["stream_options"] = {"include_usage": True}
    return arguments
