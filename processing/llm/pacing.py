"""Pacing token streams: a long trickle of events gathers between two reads.

A server streaming a token at a time wakes the client once per token, and each wake runs
the event loop, a socket read, aiohttp's parser and the event reader again: most of the
client's CPU per token. After each read of a stream that has been running a while, its
connection stops reading for a moment, so the kernel gathers the next events and one
read takes them all.

The pause is PAUSE_SHARE of the time the stream has been running (at most MAX_PAUSE, and
a quarter of the read timeout, which keeps running meanwhile), so a reply is noticed
finished at most that much later; a reply that arrives in a few reads never pauses. One
ticker per client resumes the paused connections together, every TICK: no timer per
stream, and the woken streams are read in one turn of the event loop.
"""

from __future__ import annotations

import asyncio

PAUSE_SHARE = 0.05  # of a stream's running time
MAX_PAUSE = 1.0  # seconds
MIN_PAUSE = 0.05  # seconds: shorter pauses gather too little to be worth one
TICK = 0.025  # seconds between two resumptions


class Pacemaker:
    """Resumes the paused connections of one client when their pause is over."""

    def __init__(self) -> None:
        self._until: dict[asyncio.Transport, float] = {}
        self._ticker: asyncio.Task | None = None

    def pace(self, transport: asyncio.Transport | None, read_timeout: float) -> StreamPace:
        return StreamPace(self, transport, min(MAX_PAUSE, read_timeout / 4))

    def pause(self, transport: asyncio.Transport, until: float) -> None:
        transport.pause_reading()
        self._until[transport] = until
        if self._ticker is None:
            self._ticker = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._until:
                await asyncio.sleep(TICK)
                now = loop.time()
                for transport, until in list(self._until.items()):
                    if until <= now:
                        del self._until[transport]
                        if not transport.is_closing():
                            transport.resume_reading()
        finally:
            self._ticker = None

    def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        self._until.clear()


class StreamPace:
    """The pauses of one stream: none at first, then growing with its age."""

    def __init__(self, maker: Pacemaker, transport: asyncio.Transport | None, longest: float) -> None:
        # The transport itself, not aiohttp's protocol: the protocol's pause is for full
        # buffers and expects to be in the middle of a message.
        self._maker = maker
        self._transport = transport
        self._longest = longest
        self._loop = asyncio.get_running_loop()
        self._first: float | None = None

    def after_read(self) -> None:
        now = self._loop.time()
        if self._first is None:
            self._first = now
            return
        pause = min(self._longest, PAUSE_SHARE * (now - self._first))
        if pause >= MIN_PAUSE and self._transport is not None and not self._transport.is_closing():
            self._maker.pause(self._transport, now + pause)
