"""The HTTP transport: one aiohttp session per endpoint, a chat request in, a Reply out.

Why aiohttp directly and not the openai SDK: measured on this 2-core machine against
the simulator in another process (C=500, L=2 s, 5,000 requests, workers started one by
one as the engine does), as a share of the ceiling C/L without / with streaming:
  - `AsyncOpenAI(http_client=DefaultAioHttpClient()).chat.completions.create`: 79% / 51%
    (2.9 / 7.2 ms of CPU per request: request-param transforms, a pydantic model per
    streamed chunk);
  - the SDK's low-level `client.post(..., cast_to=object)`: 90% / 84% (1.8 / 3.0 ms);
  - this module: 97–98% / 97% (`bench/generation.py`).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import aiohttp
import orjson

from processing.llm.degenerate import Degenerate, LoopDetector, scan
from processing.llm.extract import BadReply, Reply, StreamAccumulator, parse_completion
from processing.llm.pacing import Pacemaker
from processing.llm.sse import EventStream
from processing.llm.keys import Redactor
from processing.sim_labels import HEADER, HEADER_VALUE

ERROR_TEXT_LIMIT = 300
NETWORK_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


class ApiError(Exception):
    """The server answered with an HTTP error status."""

    def __init__(self, status: int, message: str, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}: {message}" if message else f"HTTP {status}")
        self.status = status
        self.message = message
        self.retry_after = retry_after


class TransportError(Exception):
    """No usable answer arrived: refused or dropped connection, timeout, broken stream.

    `connect` is True when the request never reached the server, which says something
    about the endpoint and nothing about the prompt.
    """

    def __init__(self, reason: str, connect: bool = False) -> None:
        super().__init__(reason)
        self.connect = connect


class ChatClient:
    """Sends chat completions to one base URL; the API key stays in its headers only."""

    def __init__(self, base_url: str, api_key: str, timeout: float, connections: int, stop_loops: bool = True) -> None:
        """`stop_loops`: a reply caught in a loop raises Degenerate; a stream is cancelled at once."""
        self.base_url = base_url.rstrip("/")
        self.stop_loops = stop_loops
        self.redact = Redactor(api_key)  # servers sometimes quote the key they refused
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        # Streams may legitimately run for many minutes: for them `timeout` bounds the
        # silence between two reads, for whole replies the total wait.
        self._stream_timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout, sock_connect=min(timeout, 30))
        self._reply_timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 30))
        self._timeout = timeout
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._pacemaker = Pacemaker()

    def _open(self) -> aiohttp.ClientSession:
        """Created on first use, inside the running event loop, as aiohttp requires."""
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._connections, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        self._pacemaker.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def complete(self, body: bytes, stream: bool) -> Reply:
        """POST a serialized request body; raise ApiError, TransportError, BadReply or Degenerate."""
        timeout = self._stream_timeout if stream else self._reply_timeout
        try:
            async with self._open().post(self.base_url + "/chat/completions", data=body, headers=self._headers,
                                         timeout=timeout) as response:
                if response.status != 200:
                    raise await self._api_error(response)
                return await (self._read_stream(response) if stream else _read_whole(response, self.stop_loops))
        except (ApiError, TransportError, Degenerate):
            raise  # their messages are redacted where they are made
        except BadReply as exc:  # a 200 reply may carry an error object quoting the key
            raise BadReply(_shorten(self.redact(str(exc)))) from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadReply("reply is not valid JSON") from None
        except NETWORK_ERRORS as exc:
            raise self._transport_error(exc) from None
        except Exception as exc:  # noqa: BLE001 - a reply in a shape nobody foresaw fails its request, not the run
            raise BadReply(_shorten(self.redact(f"unreadable reply ({type(exc).__name__}: {exc})"))) from None

    async def _read_stream(self, response: aiohttp.ClientResponse) -> Reply:
        """Server-sent events: `data:` lines carry chunks; comments (`: keep-alive`) are skipped.

        Leaving early (Degenerate) closes the connection, which tells the server to stop.
        """
        accumulator = StreamAccumulator(LoopDetector().feed if self.stop_loops else None)
        events = EventStream(accumulator)
        pace = self._pacemaker.pace(response.connection.transport if response.connection else None, self._timeout)
        async for data in response.content.iter_any():
            events.feed(data)
            if not events.done:
                pace.after_read()
        try:
            events.close()  # servers may omit the last newline
        except json.JSONDecodeError:
            raise TransportError("stream ended inside a chunk") from None
        if not events.done and accumulator.finish_reason is None:
            raise TransportError("stream ended before its last chunk")
        return accumulator.reply()

    async def probe(self) -> tuple[int, bool]:
        """Status of GET /models, a cheap check that the endpoint answers and takes the key, and
        whether the server says it is the crd simulator (the label header of its every reply)."""
        try:
            async with self._open().get(self.base_url + "/models", headers=self._headers,
                                        timeout=aiohttp.ClientTimeout(total=min(self._timeout, 30))) as response:
                return response.status, response.headers.get(HEADER) == HEADER_VALUE
        except NETWORK_ERRORS as exc:
            raise self._transport_error(exc) from None

    def _transport_error(self, exc: Exception) -> TransportError:
        if isinstance(exc, asyncio.TimeoutError):
            return TransportError(f"timed out after {self._timeout:g} s")
        connect = isinstance(exc, aiohttp.ClientConnectorError)
        detail = str(exc) or type(exc).__name__
        return TransportError(self.redact(f"{'cannot connect' if connect else 'connection failed'}: {detail}"), connect)

    async def _api_error(self, response: aiohttp.ClientResponse) -> ApiError:
        text = (await response.content.read(64 * 1024)).decode("utf-8", "replace")
        return ApiError(response.status, _error_message(self.redact(text)), _retry_after(response.headers.get("Retry-After")))


async def _read_whole(response: aiohttp.ClientResponse, stop_loops: bool) -> Reply:
    reply = parse_completion(orjson.loads(await response.read()))
    if stop_loops:  # paid for already, but a looping reply must not become a row either way
        scan(reply.reasoning)
        scan(reply.content)
    return reply


def _error_message(text: str) -> str:
    """The `error.message` of an OpenAI-style error body, else the start of the text."""
    try:
        payload = json.loads(text)
        error = payload.get("error", payload) if isinstance(payload, dict) else payload
        message = error.get("message") if isinstance(error, dict) else error
        text = message if isinstance(message, str) else text
    except ValueError:
        pass
    return _shorten(text)


def _shorten(text: str) -> str:
    """One line of at most ERROR_TEXT_LIMIT characters; cut only after redaction, so no
    part of a key survives a cut through it."""
    text = " ".join(text.split())
    return text if len(text) <= ERROR_TEXT_LIMIT else text[:ERROR_TEXT_LIMIT] + "…"


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds or as an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None
