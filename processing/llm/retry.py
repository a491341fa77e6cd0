"""What a failed attempt means: retry it, record it as failed, or stop the whole run."""

from __future__ import annotations

import random

from processing.llm.settings import ModelConfig

RETRY_STATUS = {408, 409, 429}
MAX_BACKOFF = 60.0


def retryable(status: int) -> bool:
    """Timeouts, conflicts, throttling and server errors pass; other 4xx are about the request."""
    return status in RETRY_STATUS or status >= 500


def backoff(attempt: int, base: float) -> float:
    """Exponential with full jitter, so hundreds of waiting requests do not retry in lockstep."""
    return random.uniform(0, min(MAX_BACKOFF, base * 2 ** (attempt - 1)))


def after_retry_after(seconds: float) -> float:
    """Honour Retry-After, plus a little jitter so the throttled requests do not return at once."""
    return seconds * random.uniform(1.0, 1.1)


def fatal_message(status: int, detail: str, url: str, model: ModelConfig) -> str | None:
    """A one-line explanation for statuses that no retry and no other prompt can fix."""
    hint = _fatal_hint(status, model)
    if hint is None:
        return None
    said = f" ({detail})" if detail else ""
    return f"{url}: HTTP {status}{said}; {hint}"


def _fatal_hint(status: int, model: ModelConfig) -> str | None:
    if status == 401:
        if model.api_key_env:
            return f"the API key in ${model.api_key_env} was refused; check it"
        return "this server needs an API key: name its environment variable with api_key_env (--api-key-env)"
    if status == 402:
        return "the account has no credit left; top it up and rerun to resume"
    if status == 403:
        return f"the API key may not use model {model.name!r}; check its permissions"
    if status == 404:
        return f"check the model name {model.name!r} and the base_url (it usually ends in /v1)"
    return None
