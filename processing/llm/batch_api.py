"""The OpenAI-compatible Files and Batches endpoints (REFERENCE.md §8), with retries.

Built on the chat client: the same session, key handling (never in a message) and error
classes. Retryable statuses and dropped connections are retried with backoff; anything
else stops the run with one line, since a refused upload or batch says nothing about a
single prompt.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import orjson

from processing.errors import CrdError
from processing.files import atomic_path
from processing.llm.batch_files import ENDPOINT
from processing.llm.client import api_key
from processing.llm.http import NETWORK_ERRORS, ApiError, ChatClient, TransportError
from processing.llm.retry import after_retry_after, backoff, fatal_message, retryable
from processing.llm.settings import ModelConfig
from processing.sim_labels import HEADER, HEADER_VALUE, announce_simulator

LIVE = frozenset({"validating", "in_progress", "finalizing", "cancelling"})
PAGE = 100  # batches per page when looking one up
DOWNLOAD_CHUNK = 1 << 20


class BatchClient(ChatClient):
    """Files and batches of one model's first server."""

    def __init__(self, model: ModelConfig) -> None:
        super().__init__(model.base_url, api_key(model), model.timeout, 4)
        self.model = model

    async def upload(self, name: str, data: bytes) -> str:
        def form() -> aiohttp.FormData:  # a FormData is spent once sent, so each attempt builds its own
            parts = aiohttp.FormData()
            parts.add_field("purpose", "batch")
            parts.add_field("file", data, filename=name, content_type="application/jsonl")
            return parts
        return (await self._call("POST", "/files", form=form))["id"]

    async def create(self, file: str) -> dict:
        request = {"input_file_id": file, "endpoint": ENDPOINT, "completion_window": self.model.batch_window}
        if self.model.preset == "siliconflow":  # one model per file, named on create
            request["replace"] = {"model": self.model.name}
        return await self._call("POST", "/batches", json=request)

    async def get(self, batch: str) -> dict:
        return await self._call("GET", f"/batches/{batch}")

    async def cancel(self, batch: str) -> dict:
        return await self._call("POST", f"/batches/{batch}/cancel")

    async def find(self, file: str, since: float) -> dict | None:
        """The batch made from `file`, looking back (newest first) to `since` (epoch seconds)."""
        after = None
        while True:
            page = await self._call("GET", "/batches", params={"limit": PAGE, **({"after": after} if after else {})})
            batches = page.get("data") or []
            for batch in batches:
                if batch.get("input_file_id") == file:
                    return batch
            if not batches or not page.get("has_more") or batches[-1].get("created_at", 0) < since:
                return None
            after = batches[-1]["id"]

    async def download(self, file: str, path: Path) -> None:
        """A file's content into `path`, atomically: a kill mid-download leaves no half file."""
        for attempt in range(1, self.model.max_retries + 2):
            try:
                with atomic_path(path) as temporary:
                    await self._save(file, temporary)
                return
            except (ApiError, TransportError) as exc:
                await self._pause_or_raise(exc, attempt)

    async def _save(self, file: str, temporary: Path) -> None:
        try:
            async with self._open().get(f"{self.base_url}/files/{file}/content", headers=self._auth(),
                                        timeout=self._stream_timeout) as response:
                if response.status != 200:
                    raise await self._api_error(response)
                with temporary.open("wb") as handle:
                    async for data in response.content.iter_chunked(DOWNLOAD_CHUNK):
                        handle.write(data)
        except NETWORK_ERRORS as exc:
            raise self._transport_error(exc) from None

    async def _call(self, method: str, path: str, form=None, **options) -> dict:
        for attempt in range(1, self.model.max_retries + 2):
            try:
                return await self._once(method, path, form() if form else None, options)
            except (ApiError, TransportError) as exc:
                await self._pause_or_raise(exc, attempt)
        raise AssertionError("unreachable: the last attempt raises")

    async def _once(self, method: str, path: str, data, options: dict) -> dict:
        try:
            async with self._open().request(method, self.base_url + path, data=data, headers=self._auth(),
                                            timeout=self._reply_timeout, **options) as response:
                if response.status != 200:
                    raise await self._api_error(response)
                if response.headers.get(HEADER) == HEADER_VALUE:  # batch mode never probes /models
                    announce_simulator(self.base_url)
                return orjson.loads(await response.read())
        except orjson.JSONDecodeError:
            raise TransportError(f"{method} {path}: reply is not JSON") from None
        except NETWORK_ERRORS as exc:
            raise self._transport_error(exc) from None

    async def _pause_or_raise(self, exc: Exception, attempt: int) -> None:
        if isinstance(exc, ApiError) and exc.status == 404:
            raise CrdError(f"{self.base_url}: {exc}; the server has no Batch API, or the batch or file is gone "
                           f"(see crd batches)") from None
        if isinstance(exc, ApiError) and not retryable(exc.status):
            message = fatal_message(exc.status, exc.message, self.base_url, self.model)
            raise CrdError(message or f"{self.base_url}: batch API refused: {exc}") from None
        if attempt > self.model.max_retries:
            raise CrdError(f"{self.base_url}: batch API unavailable after {attempt} attempts ({exc}); "
                           "rerun to resume: uploaded batches are in the ledger") from None
        wait = exc.retry_after if isinstance(exc, ApiError) else None
        await asyncio.sleep(after_retry_after(wait) if wait is not None else backoff(attempt, self.model.backoff))

    def _auth(self) -> dict:
        """The key alone: JSON and multipart bodies set their own Content-Type."""
        return {"Authorization": self._headers["Authorization"]}
