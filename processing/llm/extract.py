"""Splitting reasoning from response for every provider shape (REFERENCE.md §2).

A reader takes `reasoning_content`, else `reasoning`, else `thinking`, else OpenRouter's
`reasoning_details`, else splits `<think>…</think>` out of the content, including
replies that lack the opening tag because the chat template (or a forced assistant
prefix) already put `<think>\\n` in the prompt.

Everything here works on the decoded JSON of the wire payloads (plain dicts), the same
for streamed chunks and whole replies.
"""

from __future__ import annotations

from dataclasses import dataclass

REASONING_FIELDS = ("reasoning_content", "reasoning", "thinking")
OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


@dataclass(frozen=True)
class Split:
    reasoning: str
    response: str
    complete: bool  # False when inline reasoning never closed: the reply was cut off


class BadReply(ValueError):
    """A reply arrived but cannot become a row: malformed, truncated, empty or unclosed."""


@dataclass(frozen=True)
class Reply:
    """One answer as the engine keeps it, whichever shape it arrived in."""

    split: Split
    finish_reason: str | None
    usage: dict | None

    def check(self) -> Reply:
        """The reply itself, if it may become a finished row; else BadReply says why not."""
        if self.finish_reason == "length":
            raise BadReply("truncated (finish_reason=length)")
        if self.finish_reason == "error":  # OpenRouter: the upstream provider failed mid-answer
            raise BadReply("provider error (finish_reason=error)")
        if not self.split.complete:
            raise BadReply("reasoning never closed with </think>")
        if not self.split.response:
            raise BadReply("empty response")
        return self


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


def split_reply(content: str | None, reasoning: str | None) -> Split:
    """Reasoning from its own field when present, else from think tags in the content."""
    content = content or ""
    if reasoning:
        return Split(reasoning.strip(), _strip_stray_tags(content).strip(), True)
    return split_inline(content)


def split_inline(content: str) -> Split:
    stripped = content.lstrip()
    if CLOSE_TAG in stripped:
        head, _, tail = stripped.partition(CLOSE_TAG)
        if head.startswith(OPEN_TAG):
            head = head[len(OPEN_TAG):]
        return Split(head.strip(), tail.strip(), True)
    if stripped.startswith(OPEN_TAG):
        return Split(stripped[len(OPEN_TAG):].strip(), "", False)
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
    if not choices or not isinstance(choices[0], dict) or not isinstance(choices[0].get("message"), dict):
        raise BadReply("reply without choices")
    choice = choices[0]
    message = choice["message"]
    split = split_reply(message.get("content"), reasoning_field(message))
    return Reply(split, choice.get("finish_reason"), payload.get("usage"))


def _raise_embedded_error(payload: dict) -> None:
    """Some gateways answer 200 with an error object in the body, or mid-stream."""
    error = payload.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else error
        raise BadReply(f"error in reply body: {str(message)[:200]}")


class StreamAccumulator:
    """Collects streamed chunks; `reply()` gives what the non-streamed call would."""

    def __init__(self) -> None:
        self.reasoning_parts: list[str] = []
        self.content_parts: list[str] = []
        self.finish_reason: str | None = None
        self.usage: dict | None = None

    def add(self, chunk: object) -> None:
        if not isinstance(chunk, dict):
            raise BadReply("stream chunk is not a JSON object")
        _raise_embedded_error(chunk)
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta")
            if delta:
                piece = reasoning_field(delta)
                if piece:
                    self.reasoning_parts.append(piece)
                if delta.get("content"):
                    self.content_parts.append(delta["content"])
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def reply(self) -> Reply:
        split = split_reply("".join(self.content_parts), "".join(self.reasoning_parts) or None)
        return Reply(split, self.finish_reason, self.usage)
