"""The one place that builds API clients and per-provider request bodies."""

from __future__ import annotations

import orjson

from processing.llm.settings import ModelConfig
from processing.errors import CrdError
from processing.llm.http import ChatClient
from processing.llm.keys import read_key

# Request extras each provider needs to return its reasoning (REFERENCE.md §2).
PRESET_EXTRA_BODY: dict[str, dict] = {
    "dashscope": {"enable_thinking": True},
    "siliconflow": {"enable_thinking": True},
    "openrouter": {"reasoning": {"effort": "high"}},
}
# DashScope's thinking models answer only when streamed.
STREAMING_ONLY = {"dashscope"}

# The recipe forces replies to begin with "<think>\n". Servers that continue a final
# assistant message do this: vLLM and SGLang with `continue_final_message`, DeepSeek with
# prefix completion (`"prefix": true`, on its https://api.deepseek.com/beta base URL).
# DashScope, SiliconFlow, OpenRouter, Ollama and OpenAI offer no such continuation.
THINK_PREFIX = "<think>\n"
PREFIX_CONTINUATION: dict[str, tuple[dict, dict]] = {
    # preset: (extra request fields, extra fields of the assistant prefix message)
    "vllm": ({"continue_final_message": True, "add_generation_prompt": False}, {}),
    "sglang": ({"continue_final_message": True}, {}),
    "deepseek": ({}, {"prefix": True}),
}


def api_key(model: ModelConfig) -> str:
    """The key from the environment; local servers that need none get a placeholder."""
    if model.api_key_env is None:
        return "not-needed"
    return read_key(model.api_key_env, f"model {model.name}", model.base_url)


def base_urls(model: ModelConfig) -> list[str]:
    return [model.base_url, *model.base_urls]


def make_clients(model: ModelConfig) -> list[ChatClient]:
    """One client per server of this model; requests are balanced over them."""
    key = api_key(model)
    return [ChatClient(url, key, model.timeout, model.max_concurrency, model.stop_degenerate) for url in base_urls(model)]


def uses_stream(model: ModelConfig) -> bool:
    if model.preset in STREAMING_ONLY:
        return True
    return True if model.stream is None else model.stream


class RequestBuilder:
    """Serializes chat requests for one model: sampling arguments, provider extras, prefix."""

    def __init__(self, model: ModelConfig) -> None:
        self.stream = uses_stream(model)
        # The reply continues an opened <think>: without </think> it was cut inside its reasoning.
        self.opened = model.force_think_prefix
        self._fields = request_arguments(model)
        self._prefix_message = prefix_message(model)

    def body(self, messages: tuple[tuple[str, str], ...]) -> bytes:
        chat = [{"role": role, "content": content} for role, content in messages]
        if self._prefix_message:
            chat.append(self._prefix_message)
        return orjson.dumps({**self._fields, "messages": chat})


def request_arguments(model: ModelConfig) -> dict:
    """Every request field except the messages."""
    arguments: dict = {"model": model.name, "max_tokens": model.max_tokens, "temperature": model.temperature}
    if model.top_p is not None:
        arguments["top_p"] = model.top_p
    arguments.update(PRESET_EXTRA_BODY.get(model.preset, {}))
    if model.thinking_budget is not None:  # ModelConfig allows it only for presets that take it
        arguments.update(_thinking_budget(model.preset, model.thinking_budget))
    if model.force_think_prefix:
        arguments.update(_continuation(model)[0])
    if uses_stream(model):
        arguments["stream"] = True
        arguments["stream_options"] = {"include_usage": True}
    return arguments


def _thinking_budget(preset: str, budget: int) -> dict:
    if preset == "openrouter":
        return {"reasoning": {"max_tokens": budget}}  # in place of the effort
    return {"thinking_budget": budget}


def prefix_message(model: ModelConfig) -> dict | None:
    if not model.force_think_prefix:
        return None
    return {"role": "assistant", "content": THINK_PREFIX, **_continuation(model)[1]}


def _continuation(model: ModelConfig) -> tuple[dict, dict]:
    if model.preset not in PREFIX_CONTINUATION:
        raise CrdError(
            f"model {model.name}: force_think_prefix needs a server that continues an assistant prefix "
            f"(presets {', '.join(PREFIX_CONTINUATION)}); preset {model.preset} has none, so leave it off"
        )
    return PREFIX_CONTINUATION[model.preset]
