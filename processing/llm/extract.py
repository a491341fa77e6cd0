"""Splitting reasoning from response for every provider shape (REFERENCE.md §2).

A reader takes `reasoning_content`, else `reasoning`, else `thinking`, else OpenRouter's
`reasoning_details`, else the `thinking` parts of a content given as a list of typed parts
(Mistral's Magistral), else splits `<think>…</think>` out of the content, including
replies that lack the opening tag because the chat template (or a forced assistant
prefix) already put `<think>\\n` in the prompt.

Token counts are read wherever providers put them (`Usage.of`), the server's
`system_fingerprint` is kept as provenance (OpenAI and DeepSeek send `fp_…`, the crd
simulator `crd-simulator`, vLLM null), and a reply in a shape
this module does not know is a BadReply naming what was unexpected, never an exception
that escapes.

Everything here works on the decoded JSON of the wire payloads (plain dicts), the same
for streamed chunks and whole replies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

REASONING_FIELDS = ("reasoning_content", "reasoning", "thinking")
OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"
# Typed content parts that carry no text of the answer: Mistral's citations.
SILENT_PARTS = frozenset({"reference"})


@dataclass(frozen=True)
class Split:
    reasoning: str
    response: str
    complete: bool  # False when inline reasoning never closed: the reply was cut off


class BadReply(ValueError):
    """A reply arrived but cannot become a row: malformed, truncated, empty or unclosed."""


@dataclass(frozen=True)
class Usage:
    """Token counts of one reply, normalised from wherever the provider put them."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None

    @classmethod
    def of(cls, raw: object) -> Usage:
        """OpenAI's `usage` object, with SGLang's top-level `reasoning_tokens` and
        OpenAI's `completion_tokens_details.reasoning_tokens` read alike."""
        if not isinstance(raw, dict):
            return NO_USAGE
        details = raw.get("completion_tokens_details")
        reasoning = _count(details.get("reasoning_tokens")) if isinstance(details, dict) else None
        prompt, completion = _count(raw.get("prompt_tokens")), _count(raw.get("completion_tokens"))
        total = _count(raw.get("total_tokens"))
        if total is None and prompt is not None and completion is not None:
            total = prompt + completion
        return cls(prompt, completion, reasoning if reasoning is not None else _count(raw.get("reasoning_tokens")), total)


NO_USAGE = Usage()


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def usage_in(payload: dict, choice: object = None) -> object:
    """The raw usage object of a reply or chunk, wherever this provider put it:
    top level (OpenAI), in the choice (Moonshot/Kimi streams) or in `x_groq` (Groq streams)."""
    usage = payload.get("usage")
    if usage:
        return usage
    if isinstance(choice, dict) and choice.get("usage"):
        return choice["usage"]
    groq = payload.get("x_groq")
    return groq.get("usage") if isinstance(groq, dict) else None


@dataclass(frozen=True)
class Reply:
    """One answer as it arrived, whichever shape it arrived in."""

    content: str  # the answer text (with inline think tags when the server left them in)
    reasoning: str  # from a reasoning field or thinking parts; "" when none
    finish_reason: str | None
    usage: Usage = NO_USAGE
    system_fingerprint: str | None = None  # the server's build, as it names it; None when it sends none

    def split(self, opened: bool = False) -> Split:
        """`opened`: the request forced the reply to start inside `<think>`."""
        return split_reply(self.content, self.reasoning, opened)

    def check(self, opened: bool = False) -> Split:
        """The split of a reply that may become a finished row; else BadReply says why not."""
        if self.finish_reason == "length":
            raise BadReply("truncated (finish_reason=length)")
        if self.finish_reason == "error":  # OpenRouter: the upstream provider failed mid-answer
            raise BadReply("provider error (finish_reason=error)")
        split = self.split(opened)
        if not split.complete:
            raise BadReply("unclosed reasoning: the reply ended inside its reasoning, with no </think>")
        if not split.response:
            raise BadReply("empty response")
        return split


def reasoning_field(message: dict) -> str | None:
    """The first reasoning field a provider filled in a message or a streamed delta."""
    for field in REASONING_FIELDS:
        value = message.get(field)
        if isinstance(value, str) and value:
            return value
    details = message.get("reasoning_details")
    if isinstance(details, list):
        text = "".join(_detail_text(detail) for detail in details)
        return text or None
    return None


def _detail_text(detail: object) -> str:
    """OpenRouter's structured reasoning: plain text or a summary; encrypted parts are opaque."""
    if not isinstance(detail, dict):
        return ""
    value = detail.get("text") if detail.get("type") == "reasoning.text" else detail.get("summary")
    return value if isinstance(value, str) else ""


def content_parts(content: object) -> tuple[str, str]:
    """(thinking, text) of a message content: a string, null, or a list of typed parts.

    Magistral sends `[{"type": "thinking", "thinking": [{"type": "text", "text": …}]},
    {"type": "text", "text": …}]`, whole and per streamed delta; other servers give
    `thinking` as a plain string.
    """
    if content is None or isinstance(content, str):
        return "", content or ""
    if not isinstance(content, list):
        raise BadReply(f"content is a JSON {_kind(content)}, neither text nor a list of parts")
    thinking: list[str] = []
    text: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            raise BadReply(f"a content part is a JSON {_kind(part)}, not a typed object")
        kind = part.get("type")
        if kind == "text":
            text.append(_text(part.get("text"), "a text part"))
        elif kind == "thinking":
            thinking.append(_thinking_text(part.get("thinking")))
        elif kind not in SILENT_PARTS:
            raise BadReply(f"content part of unknown type {str(kind)[:40]!r}")
    return "".join(thinking), "".join(text)


def _thinking_text(value: object) -> str:
    if isinstance(value, list):
        return "".join(_text(item.get("text") if isinstance(item, dict) else item, "a thinking part") for item in value)
    return _text(value, "a thinking part")


def _text(value: object, where: str) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    raise BadReply(f"{where} holds a JSON {_kind(value)} where text belongs")


def _kind(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), "value")


def split_reply(content: str, reasoning: str, opened: bool = False) -> Split:
    """Reasoning from its own field when present, else from think tags in the content."""
    if reasoning:
        return Split(reasoning.strip(), _strip_stray_tags(content).strip(), True)
    return split_inline(content, opened)


def split_inline(content: str, opened: bool = False) -> Split:
    """Think tags out of the content. `opened`: the reply began inside `<think>` (a forced
    prefix), so text without `</think>` is reasoning cut short, not an answer."""
    stripped = content.lstrip()
    if CLOSE_TAG in stripped:
        head, _, tail = stripped.partition(CLOSE_TAG)
        if head.startswith(OPEN_TAG):
            head = head[len(OPEN_TAG):]
        return Split(head.strip(), tail.strip(), True)
    if stripped.startswith(OPEN_TAG):
        return Split(stripped[len(OPEN_TAG):].strip(), "", False)
    if opened:
        return Split(stripped.strip(), "", False)
    return Split("", stripped.strip(), True)


def _strip_stray_tags(content: str) -> str:
    """Some servers echo an empty `<think></think>` pair next to a separate reasoning field."""
    stripped = content.lstrip()
    if stripped.startswith(OPEN_TAG) and CLOSE_TAG in stripped:
        return stripped.partition(CLOSE_TAG)[2]
    return content


def parse_completion(payload: object) -> Reply:
    """A whole (non-streamed) chat completion."""
    if not isinstance(payload, dict):
        raise BadReply("reply is not a JSON object")
    _raise_embedded_error(payload)
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BadReply("reply without choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise BadReply("reply without a message")
    thinking, text = content_parts(message.get("content"))
    reasoning = reasoning_field(message) or thinking
    return Reply(text, reasoning, _finish_reason(choice), Usage.of(usage_in(payload, choice)),
                 fingerprint_in(payload))


def fingerprint_in(payload: dict) -> str | None:
    """`system_fingerprint` of a reply or chunk; an empty one (SiliconFlow) counts as none."""
    value = payload.get("system_fingerprint")
    return value if isinstance(value, str) and value else None


def _finish_reason(choice: dict) -> str | None:
    reason = choice.get("finish_reason")
    return reason if isinstance(reason, str) and reason else None


def _raise_embedded_error(payload: dict) -> None:
    """Some gateways answer 200 with an error object in the body, or mid-stream."""
    error = payload.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else error
        raise BadReply(f"error in reply body: {message}")  # shortened by the transport, after redaction


class StreamAccumulator:
    """Collects streamed chunks; `reply()` gives what the non-streamed call would.

    `watch`, when given, is fed every piece of text as it arrives (the loop detector)
    and may raise to stop the stream.
    """

    def __init__(self, watch: Callable[[str], None] | None = None) -> None:
        self.reasoning_parts: list[str] = []
        self.content_parts: list[str] = []
        self.finish_reason: str | None = None
        self.usage: object = None
        self.system_fingerprint: str | None = None
        self._watch = watch

    def add(self, chunk: object) -> None:
        if not isinstance(chunk, dict):
            raise BadReply("stream chunk is not a JSON object")
        if "error" in chunk:
            _raise_embedded_error(chunk)
        if self.system_fingerprint is None:  # every chunk repeats it; the first that has one tells
            self.system_fingerprint = fingerprint_in(chunk)
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta")
            if delta:
                self._add_delta(delta)
            reason = choice.get("finish_reason")
            if reason:
                self.finish_reason = reason
            if "usage" in choice:
                self.usage = usage_in(chunk, choice) or self.usage
        if "usage" in chunk or "x_groq" in chunk:
            self.usage = usage_in(chunk) or self.usage

    def _add_delta(self, delta: dict) -> None:
        piece = reasoning_field(delta)
        content = delta.get("content")
        if content and not isinstance(content, str):
            thinking, content = content_parts(content)
            piece = (piece or "") + thinking
        if piece:
            self.add_reasoning(piece)
        if content:
            self.add_content(content)

    def add_reasoning(self, text: str) -> None:
        self.reasoning_parts.append(text)
        if self._watch:
            self._watch(text)

    def add_content(self, text: str) -> None:
        self.content_parts.append(text)
        if self._watch:
            self._watch(text)

    def reply(self) -> Reply:
        return Reply("".join(self.content_parts), "".join(self.reasoning_parts), self.finish_reason,
                     Usage.of(self.usage), self.system_fingerprint)
