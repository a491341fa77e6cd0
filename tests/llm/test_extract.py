"""Reasoning extraction from every provider's exact wire payload, streamed and whole.

Each fixture in tests/fixtures/wire is served over real HTTP to the engine's transport,
whole and trickled a few bytes at a time, so line reassembly is tested along with the
field reading.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from processing.llm.extract import BadReply, content_parts, split_inline
from processing.llm.http import ApiError, ChatClient, TransportError, _error_message, _retry_after

from helpers import FIXTURES

WIRE = FIXTURES / "wire"
EXPECTED = json.loads((WIRE / "expected.json").read_text(encoding="utf-8"))


def test_every_fixture_has_an_expectation():
    payloads = {path.name for path in WIRE.iterdir() if path.suffix in (".json", ".sse")} - {"expected.json"}
    assert payloads == set(EXPECTED)


async def _serve_fixture(request: web.Request) -> web.StreamResponse:
    """The request's model names the fixture; `trickle` sends it 7 bytes at a time."""
    body = await request.json()
    name = body["model"]
    payload = (WIRE / name).read_bytes()
    kind = "text/event-stream" if name.endswith(".sse") else "application/json"
    response = web.StreamResponse(headers={"Content-Type": kind})
    await response.prepare(request)
    step = 7 if body.get("trickle") else len(payload)
    for start in range(0, len(payload), step):
        await response.write(payload[start:start + step])
    await response.write_eof()
    return response


async def _ask(handler, body: bytes, stream: bool):
    """One chat request from the engine's transport to `handler` on a local server."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    server = TestServer(app)
    await server.start_server()
    client = ChatClient(str(server.make_url("/v1")), "sk-test", timeout=10, connections=4)
    try:
        return await client.complete(body, stream)
    finally:
        await client.close()
        await server.close()


def _fetch(name: str, trickle: bool):
    stream = name.endswith(".sse")
    body = json.dumps({"model": name, "stream": stream, "trickle": trickle}).encode()
    return asyncio.run(_ask(_serve_fixture, body, stream))


@pytest.mark.parametrize("trickle", [False, True], ids=["whole", "trickled"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_wire_payload(name, trickle):
    expected = EXPECTED[name]
    opened = expected.get("opened", False)
    if "rejected" in expected:
        with pytest.raises(BadReply, match=re.escape(expected["rejected"])):
            _fetch(name, trickle).check(opened)
        return
    reply = _fetch(name, trickle)
    split = reply.check(opened)
    assert split.reasoning == expected["reasoning"]
    assert split.response == expected["response"]
    assert reply.finish_reason == "stop"
    assert reply.usage.completion_tokens == expected["completion_tokens"]
    # Kept as sent; null, absent and SiliconFlow's "" alike are none.
    assert reply.system_fingerprint == expected.get("system_fingerprint")
    for count in ("reasoning_tokens", "total_tokens"):
        if count in expected:
            assert getattr(reply.usage, count) == expected[count]


@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        (lambda payload: payload.index(b"data: [DONE]") - 250, "stream ended inside a chunk"),
        (lambda payload: payload.rindex(b"\n\ndata:", 0, payload.index(b'"finish_reason":"stop"')) + 2,
         "stream ended before its last chunk"),
    ],
    ids=["mid-line", "between-chunks"],
)
def test_stream_cut_before_its_end_is_a_transport_error(cut, reason):
    """A stream that stops without finish_reason or [DONE] was cut: it must not be kept."""
    payload = (WIRE / "vllm.sse").read_bytes()

    async def cut_short(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(payload[: cut(payload)])
        await response.write_eof()
        return response

    with pytest.raises(TransportError, match=reason):
        asyncio.run(_ask(cut_short, b"{}", stream=True))


@pytest.mark.parametrize(
    ("content", "reasoning", "response", "complete"),
    [
        ("<think>\n想一想\n</think>\n\n答案", "想一想", "答案", True),
        ("想一想\n</think>\n\n答案", "想一想", "答案", True),  # the template opened the tag
        ("<think>\n想到一半", "想到一半", "", False),  # cut off while thinking
        ("直接回答", "", "直接回答", True),  # no reasoning at all
        ("  <think></think>答案", "", "答案", True),
    ],
)
def test_split_inline(content, reasoning, response, complete):
    split = split_inline(content)
    assert (split.reasoning, split.response, split.complete) == (reasoning, response, complete)


def test_split_inline_after_a_forced_prefix_needs_the_closing_tag():
    assert split_inline("想一想\n</think>\n\n答案", opened=True).complete
    assert split_inline("想到一半", opened=True) == split_inline("<think>想到一半")


@pytest.mark.parametrize(
    ("content", "parts"),
    [
        (None, ("", "")),
        ("答案", ("", "答案")),
        ([{"type": "thinking", "thinking": "想一想"}, {"type": "text", "text": "答案"}], ("想一想", "答案")),
        ([{"type": "thinking", "thinking": [{"type": "text", "text": "想"}, {"type": "text", "text": "一想"}]},
          {"type": "reference", "reference_ids": [1]}, {"type": "text", "text": "答案"}], ("想一想", "答案")),
    ],
)
def test_content_parts(content, parts):
    assert content_parts(content) == parts


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ({"text": "答案"}, "content is a JSON object"),
        ([{"type": "text", "text": ["答案"]}], "a text part holds a JSON array"),
        (["答案"], "a content part is a JSON string, not a typed object"),
        ([{"type": "image_url", "image_url": {"url": "x"}}], "content part of unknown type 'image_url'"),
    ],
)
def test_content_in_an_unknown_shape_is_a_bad_reply(content, reason):
    with pytest.raises(BadReply, match=re.escape(reason)):
        content_parts(content)


def test_error_message_reads_openai_style_bodies_and_plain_text():
    assert _error_message('{"error": {"message": "Model Not Exist", "type": "invalid_request_error"}}') == "Model Not Exist"
    assert _error_message("<html>\n<h1>502 Bad   Gateway</h1></html>") == "<html> <h1>502 Bad Gateway</h1></html>"
    assert len(_error_message("x" * 5000)) < 400


def test_retry_after_in_seconds_or_as_a_date():
    assert _retry_after("2.5") == 2.5
    assert _retry_after("-3") == 0.0
    assert _retry_after(None) is None
    assert _retry_after("soon") is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: retry now


def test_api_error_keeps_status_and_retry_after():
    error = ApiError(429, "slow down", 1.5)
    assert (error.status, error.retry_after, str(error)) == (429, 1.5, "HTTP 429: slow down")
