"""Balancing one model's requests over several servers (e.g. a few vLLM replicas)."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from time import monotonic
from typing import Iterator

from processing.llm.http import ChatClient, TransportError

MAX_REST = 30.0  # seconds an unreachable server is skipped, at most


@dataclass
class Endpoint:
    client: ChatClient
    in_flight: int = 0
    down_until: float = 0.0
    refusals: int = 0  # connection failures in a row


class Endpoints:
    """Least-loaded choice among the servers that answer.

    A server that refuses connections rests for 1, 2, 4 … seconds, so a dead replica
    does not attract the retries its fast failures would otherwise earn it.
    """

    def __init__(self, clients: list[ChatClient]) -> None:
        self.all = [Endpoint(client) for client in clients]

    @contextmanager
    def use(self) -> Iterator[ChatClient]:
        endpoint = self._pick()
        endpoint.in_flight += 1
        try:
            yield endpoint.client
        except TransportError as exc:
            if exc.connect:
                endpoint.refusals += 1
                endpoint.down_until = monotonic() + min(MAX_REST, 2.0 ** (endpoint.refusals - 1))
            raise
        else:
            endpoint.refusals = 0
        finally:
            endpoint.in_flight -= 1

    def _pick(self) -> Endpoint:
        if len(self.all) == 1:
            return self.all[0]
        now = monotonic()
        up = [endpoint for endpoint in self.all if endpoint.down_until <= now]
        if not up:
            return min(self.all, key=lambda endpoint: endpoint.down_until)
        return min(up, key=lambda endpoint: endpoint.in_flight)

    async def close(self) -> None:
        for endpoint in self.all:
            await endpoint.client.close()
