"""Splitting reasoning from response for every provider shape (REFERENCE.md §2).

A reader takes `reasoning_content`, else `reasoning`, else `thinking`, else splits
`<think>…</think>` out of the content, including replies that lack the opening tag
because the chat template already put `<think>\\n` in the prompt.
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


def reasoning_field(message: object) -> str | None:
    """The first reasoning field a provider filled, from an SDK object or a dict."""
    extra = message if isinstance(message, dict) else (getattr(message, "model_extra", None) or {})
    for field in REASONING_FIELDS:
        value = extra.get(field) if isinstance(extra, dict) else None
        if value is None and not isinstance(message, dict):
            value = getattr(message, field, None)
        if isinstance(value, str) and value:
            return value
    return None


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


class StreamAccumulator:
    """Collects streamed deltas; `split()` gives the same result as a non-streamed reply."""

    def __init__(self) -> None:
        self.reasoning_parts: list[str] = []
        self.content_parts: list[str] = []
        self.finish_reason: str | None = None
        self.usage: object | None = None

    def add(self, chunk: object) -> None:
        if getattr(chunk, "usage", None):
            self.usage = chunk.usage
        for choice in getattr(chunk, "choices", None) or []:
            delta = choice.delta
            if delta is not None:
                piece = reasoning_field(delta)
                if piece:
                    self.reasoning_parts.append(piece)
                if delta.content:
                    self.content_parts.append(delta.content)
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason

    def split(self) -> Split:
        return split_reply("".join(self.content_parts), "".join(self.reasoning_parts) or None)
