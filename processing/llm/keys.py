"""API keys: read from the environment, never confused with a variable's name, never echoed.

A key must reach no disk, log or error message. Users paste keys where a variable name
belongs, copy them with a trailing newline, and servers quote them back, sometimes
URL- or base64-encoded; each of those is handled here.
"""

from __future__ import annotations

import base64
import json
import os
import re
from urllib.parse import quote, quote_plus

from processing.errors import CrdError

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# How providers' keys begin (OpenAI, DeepSeek, Moonshot and most Chinese providers use sk-).
KEY_PREFIXES = ("sk-", "sk_", "gsk_", "hf_", "xai-", "nvapi-", "r8_", "pplx-", "AIza", "Bearer ")
RANDOM_WORD = 20  # letters and digits in one run, lower case included: a random token, not a name
MASK = "***"


def env_name_problem(value: str) -> str | None:
    """Why `value` cannot be the name of an environment variable, without quoting it."""
    if value.startswith(KEY_PREFIXES) or any(_random(word) for word in value.split("_")):
        return ("this looks like an API key itself, not the name of the environment variable holding it "
                "(the value is not shown); export the key, e.g. export DEEPSEEK_API_KEY=..., and give that name")
    if value.startswith("$") and ENV_NAME.fullmatch(value[1:]):
        return "give the variable's name without the leading $"
    if not ENV_NAME.fullmatch(value):
        return ("not an environment variable name (letters, digits and _, not starting with a digit); "
                "the value is not shown in case it is a key")
    return None


def _random(word: str) -> bool:
    return len(word) >= RANDOM_WORD and any(c.isdigit() for c in word) and any(c.islower() for c in word)


def read_key(variable: str, who: str, url: str) -> str:
    """The key in `$variable`, without the newline or spaces a copy and paste adds."""
    problem = env_name_problem(variable)
    if problem:
        raise CrdError(f"{who}: api_key_env: {problem}")
    key = os.environ.get(variable, "").strip()
    if not key:
        raise CrdError(f"{who}: environment variable {variable} is not set or empty; "
                       f"export it with the API key for {url}")
    return key


class Redactor:
    """Masks a secret in text, as given and in the encodings servers echo it in."""

    def __init__(self, secret: str) -> None:
        self._pattern = _echo_pattern(secret) if secret else None

    def __call__(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern else text


def _echo_pattern(secret: str) -> re.Pattern:
    raw = secret.encode()
    echoes = {
        quote(secret, safe=""), quote(secret), quote_plus(secret), quote(quote(secret, safe=""), safe=""),
        json.dumps(secret)[1:-1], base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
    } - {secret}
    # Longest first, so no form leaves the tail of a longer one behind. Encoded forms match
    # in any case (%2f or %2F, hex in capitals); masking a look-alike costs nothing.
    encoded = "|".join(re.escape(form) for form in sorted(echoes, key=len, reverse=True))
    return re.compile(f"(?i:{encoded})|{re.escape(secret)}" if encoded else re.escape(secret))
