"""The request engine: one model's servers, limits and retries.

It turns Jobs into Records: a finished row, or a failure with its reason. Fatal
problems (a refused key, an unknown model, a server gone for good) raise CrdError
and cancel the requests still in flight.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Coroutine, Iterable, Iterator

from processing.llm.settings import ModelConfig
from processing.errors import CrdError
from processing.llm.client import RequestBuilder, make_clients
from processing.llm.endpoints import Endpoints
from processing.llm.degenerate import Degenerate
from processing.llm.extract import BadReply, Reply, Split, Usage
from processing.llm.http import ApiError, TransportError
from processing.llm.ratelimit import AdaptiveLimit, RateLimits
from processing.llm.retry import after_retry_after, backoff, fatal_message, retryable
from processing.progress import report_loop
from processing.sim_labels import announce_simulator

Key = tuple[str, str, int]  # (prompt id, model, sample index)
Entry = tuple[str, str, int, str]  # a key and the request fingerprint (journal.py)


@dataclass(frozen=True)
class Job:
    prompt_id: str
    model: str
    sample: int
    messages: tuple[tuple[str, str], ...]  # (role, content) pairs
    fingerprint: str = ""  # of everything that shapes the answer: journal.make_job

    @property
    def key(self) -> Key:
        return (self.prompt_id, self.model, self.sample)

    @property
    def entry(self) -> Entry:
        return (self.prompt_id, self.model, self.sample, self.fingerprint)


@dataclass
class Record:
    prompt_id: str
    model: str
    sample: int
    status: str  # "ok" or "failed"
    # The request's (journal.make_job); an answer counts only for its own. Declared before
    # the long texts so a journal line's head alone tells key, status and fingerprint.
    fingerprint: str = field(default="", kw_only=True)
    reasoning: str = ""
    response: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    error: str | None = None
    attempts: int = 0
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    # The server's own label for the build that answered (extract.Reply); the crd simulator's
    # is sim_labels.FINGERPRINT. Journal lines written before it existed read as null.
    system_fingerprint: str | None = None


class Engine:
    """One model's servers, limits and request format, shared by all its requests.

    `async with Engine(model) as engine` checks the endpoints first, so a wrong URL or
    key fails in a second, before the caller writes anything.
    """

    def __init__(self, model: ModelConfig) -> None:
        self.model = model
        self.requests = RequestBuilder(model)
        self.endpoints = Endpoints(make_clients(model))
        self.limit = AdaptiveLimit(model.max_concurrency)
        self.rates = RateLimits(model.rpm, model.tpm, min(model.max_tokens, 2048)) if model.rpm or model.tpm else None

    async def __aenter__(self) -> Engine:
        try:
            await self.check_endpoints()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def check_endpoints(self) -> None:
        """Servers without GET /models (any status but 401/403) pass: the first chat request tells.
        A server that says it is the crd simulator gets one line saying its answers will be
        marked as simulated."""
        for endpoint in self.endpoints.all:
            client = endpoint.client
            try:
                status, simulator = await client.probe()
            except TransportError as exc:
                raise CrdError(f"cannot reach {client.base_url} ({exc}); check the base_url and that the server is running") from None
            if status in (401, 403):
                raise CrdError(fatal_message(status, "", client.base_url, self.model))
            if simulator:
                announce_simulator(client.base_url)

    async def run(self, jobs: list[Job], keep: Callable[[Record], None]) -> None:
        """Complete every job; `keep` receives each Record as soon as it is final."""
        # Twice as many workers as slots: those waiting out a backoff hold no slot, and
        # the others keep the slots busy meanwhile.
        queue = iter(jobs)
        workers = min(len(jobs), 2 * self.model.max_concurrency)
        await _all_or_none(self._worker(queue, keep) for _ in range(workers))

    async def close(self) -> None:
        await self.endpoints.close()

    def cost(self, record: Record) -> float | None:
        return request_cost(self.model, record)

    async def _worker(self, queue: Iterator[Job], keep: Callable[[Record], None]) -> None:
        for job in queue:
            keep(await self._complete(job))

    async def _complete(self, job: Job) -> Record:
        """Ask until a reply may be kept or a retry budget is spent.

        A looping reply has its own budget, `degenerate_retries`, and is asked again at
        once: a loop says nothing about the server, so it neither waits nor uses up
        `max_retries`.
        """
        body = self.requests.body(job.messages)
        prompt_size = sum(len(content) for _, content in job.messages)
        attempt = loops = 0
        while True:
            attempt += 1
            wait = None
            try:
                reply = await self._attempt(body, prompt_size)
                return _finished(job, reply, reply.check(self.requests.opened), attempt)
            except Degenerate:
                loops += 1
                if loops > self.model.degenerate_retries:
                    return _failed(job, f"degenerate: the reply looped in {loops} attempts", attempt)
                continue
            except ApiError as exc:
                if not retryable(exc.status):
                    return _failed(job, str(exc), attempt)
                error, wait = exc, exc.retry_after
            except (TransportError, BadReply) as exc:
                error = exc
            if attempt - loops > self.model.max_retries:
                break
            await asyncio.sleep(after_retry_after(wait) if wait is not None else backoff(attempt - loops, self.model.backoff))
        if isinstance(error, TransportError) and error.connect:
            # Nothing reached the server: that says nothing about this prompt, so stop
            # instead of marking every remaining prompt failed.
            raise CrdError(f"lost {self.model.base_url} ({error}); finished requests are saved, rerun to resume")
        return _failed(job, f"gave up after {attempt - loops} attempts: {error}", attempt)

    async def _attempt(self, body: bytes, prompt_size: int) -> Reply:
        epoch = await self.limit.acquire()
        try:
            charged = await self.rates.admit(prompt_size) if self.rates else 0.0
            with self.endpoints.use() as client:
                try:
                    reply = await client.complete(body, self.requests.stream)
                except ApiError as exc:
                    self._on_api_error(exc, epoch, client.base_url)
                    raise
                except Degenerate as exc:
                    self._on_loop(exc, charged, prompt_size)
                    raise
            self.limit.succeeded()
            if self.rates:
                self.rates.settle(charged, reply.usage)
            return reply
        finally:
            self.limit.release()

    def _on_loop(self, exc: Degenerate, charged: float, prompt_size: int) -> None:
        """A cancelled loop: charge what it used, count what cancelling it saved.

        Left alone, a loop runs to max_tokens. Counting a token per character generated
        (more than tokenizers spend on Chinese) makes the saving a lower bound.
        """
        if self.rates:
            self.rates.settle(charged, Usage(total_tokens=prompt_size + exc.chars))
        if self.requests.stream:  # a whole reply was paid for in full
            report_loop(max(0, self.model.max_tokens - exc.chars))

    def _on_api_error(self, exc: ApiError, epoch: int, url: str) -> None:
        if exc.status == 429:
            self.limit.throttled(epoch)
        message = fatal_message(exc.status, exc.message, url, self.model)
        if message:
            raise CrdError(message + "; finished requests are saved")


def request_cost(model: ModelConfig, record: Record) -> float | None:
    """Spent on one request at the configured real-time prices; None when no price is set."""
    if model.input_price is None and model.output_price is None:
        return None
    prompt = (record.prompt_tokens or 0) * (model.input_price or 0.0)
    completion = (record.completion_tokens or 0) * (model.output_price or 0.0)
    return (prompt + completion) / 1e6


def _finished(job: Job, reply: Reply, split: Split, attempts: int) -> Record:
    """`split`: the reply's reasoning and response, once `reply.check` let it become a row."""
    usage = reply.usage
    return Record(
        job.prompt_id, job.model, job.sample, "ok", split.reasoning, split.response, reply.finish_reason,
        prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
        reasoning_tokens=usage.reasoning_tokens, attempts=attempts, fingerprint=job.fingerprint,
        system_fingerprint=reply.system_fingerprint,
    )


def _failed(job: Job, reason: str, attempts: int) -> Record:
    return Record(job.prompt_id, job.model, job.sample, "failed", error=reason, attempts=attempts,
                  fingerprint=job.fingerprint)


async def _all_or_none(coroutines: Iterable[Coroutine]) -> None:
    """Run together; the first exception cancels the others and is raised.

    (asyncio.TaskGroup does this from Python 3.11; the package supports 3.10.)
    """
    tasks: list[asyncio.Task] = []
    try:
        for coroutine in coroutines:
            tasks.append(asyncio.ensure_future(coroutine))
            # Let each task send its first request before the next one starts. Started all
            # at once, 500 tasks opened every connection before any request left, and the
            # server saw the first request only 0.25 s in.
            await asyncio.sleep(0)
        if tasks:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()
