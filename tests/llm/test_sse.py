"""The SSE reader's template path gives exactly what decoding every event would, for any
way the bytes are cut into reads, and really spares the decoding of token events."""

from __future__ import annotations

import json
import random

import orjson
import pytest

from processing.llm.extract import StreamAccumulator
from processing.llm.sse import EventStream

# Texts a template must carry or refuse: quotes, escapes, line breaks, non-BMP characters,
# text that looks like SSE or like the template itself.
TRICKY = ['他说："好"', "a\\b", "第一行\n第二行", "😀", "data: [DONE]", '"},"logprobs":null', "\t", "</think>"]


def event(delta: dict, finish: str | None = None, created: int = 1750000000, ensure_ascii: bool = False, **top) -> bytes:
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": created, "model": "m",
             "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **top}
    return b"data: " + json.dumps(chunk, ensure_ascii=ensure_ascii, separators=(",", ":")).encode() + b"\n\n"


def stream(seed: int, **style) -> list[bytes]:
    """A role event, reasoning then answer a token at a time (some tricky), the last chunk, usage, [DONE]."""
    rng = random.Random(seed)

    def token() -> str:
        return rng.choice(TRICKY) if rng.random() < 0.05 else chr(rng.randint(0x4E00, 0x9FA5))

    events = [event({"role": "assistant", "content": ""}, **style)]
    events += [event({"reasoning_content": token()}, **style) for _ in range(300)]
    events += [event({"content": token()}, **style) for _ in range(80)]
    events.append(event({}, "stop", **style))
    events.append(b'data: {"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":381}}\n\n')
    return events + [b"data: [DONE]\n\n"]


def decoded(events: list[bytes]):
    """The reference: every event decoded as JSON."""
    accumulator = StreamAccumulator()
    for raw in events:
        payload = raw.strip()[5:].strip()
        if payload != b"[DONE]":
            accumulator.add(orjson.loads(payload))
    return accumulator.reply()


def read(data: bytes, cuts: list[int]) -> tuple[object, EventStream]:
    events = EventStream(StreamAccumulator())
    for start, end in zip([0, *cuts], [*cuts, len(data)]):
        events.feed(data[start:end])
    events.close()
    return events.accumulator.reply(), events


def cuttings(data: bytes, events: list[bytes]) -> dict[str, list[int]]:
    rng = random.Random(len(data))
    ends = [sum(map(len, events[:number + 1])) for number in range(len(events))]
    return {"whole": [], "per event": ends[:-1], "7 bytes": list(range(7, len(data), 7)),
            "16 events": ends[15:-1:16], "random": sorted(rng.sample(range(1, len(data)), 200))}


@pytest.mark.parametrize("style", [{}, {"ensure_ascii": True}], ids=["utf-8", "ascii-escaped"])
def test_any_cutting_gives_what_decoding_every_event_gives(style):
    events = stream(1, **style)
    data = b"".join(events)
    expected = decoded(events)
    for name, cuts in cuttings(data, events).items():
        reply, reader = read(data, cuts)
        assert reply == expected, name
        assert reader.done
    # Most token events were read through templates, not decoded (an escaping server's
    # template waits for a text that it writes the way orjson does: an ASCII one).
    assert reader.decoded < len(events) / 3


def test_keep_alive_comments_crlf_and_role_in_every_delta_are_read_right():
    events = [raw.replace(b"\n", b"\r\n") for raw in stream(2)]
    events[150:150] = [b": keep-alive\r\n\r\n"]
    role_everywhere = [event({"role": "assistant", "reasoning": token}) for token in "一二三四五六七八九十" * 20]
    for sample in (events, role_everywhere + [b"data: [DONE]\n\n"]):
        data = b"".join(sample)
        for cuts in cuttings(data, sample).values():
            assert read(data, cuts)[0] == decoded([raw for raw in sample if not raw.startswith(b":")])


def test_a_server_that_changes_its_bytes_mid_stream_is_followed():
    """`created` changes halfway: the old template stops matching; the events are decoded and a
    new template is learned; the text stays exact."""
    events = stream(3)
    events[200:] = [raw.replace(b'"created":1750000000', b'"created":1750000001') for raw in events[200:]]
    data = b"".join(events)
    reply, reader = read(data, cuttings(data, events)["per event"])
    assert reply == decoded(events) and reader.decoded < 80


def test_short_streams_are_simply_decoded():
    events = stream(4)[:6] + [b"data: [DONE]\n\n"]
    reply, reader = read(b"".join(events), [])
    assert reply == decoded(events) and reader.decoded == 6
