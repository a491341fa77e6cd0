"""The async generation engine: bounded concurrency, retries, and an append-only journal.

Every finished request is one JSON line in the journal, flushed at once, so a crash
loses only the requests then in flight and a rerun asks nothing twice.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import openai

from processing.config import ModelConfig
from processing.errors import CrdError
from processing.llm.client import make_client, request_arguments, uses_stream
from processing.llm.extract import Split, StreamAccumulator, reasoning_field, split_reply

RETRYABLE_STATUS = {408, 409, 429}
FATAL_STATUS = {401: "check the API key", 403: "check the API key's permissions", 404: "check the model name and base_url"}


@dataclass(frozen=True)
class Job:
    prompt_id: str
    model: str
    sample: int
    messages: tuple[tuple[str, str], ...]  # (role, content) pairs

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.prompt_id, self.model, self.sample)


@dataclass
class Record:
    prompt_id: str
    model: str
    sample: int
    status: str  # "ok" or "failed"
    reasoning: str = ""
    response: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    error: str | None = None
    attempts: int = 0
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))


class RetryableReply(Exception):
    """A reply that arrived but must not be kept (truncated, empty, unclosed think)."""


class Journal:
    """Append-only JSON Lines of Records; the last line for a key wins."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[tuple[str, str, int], dict] = {}
        if path.exists():
            self._load()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("a", encoding="utf-8")

    def _load(self) -> None:
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the tail of a line cut by a crash; its request is asked again
                self.records[(record["prompt_id"], record["model"], record["sample"])] = record

    def done(self, key: tuple[str, str, int]) -> bool:
        record = self.records.get(key)
        return record is not None and record["status"] == "ok"

    def failed(self, key: tuple[str, str, int]) -> bool:
        record = self.records.get(key)
        return record is not None and record["status"] == "failed"

    def write(self, record: Record) -> None:
        row = asdict(record)
        self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._handle.flush()
        self.records[(record.prompt_id, record.model, record.sample)] = row

    def close(self) -> None:
        self._handle.close()


def pending(jobs: Iterable[Job], journal: Journal, retry_failed: bool) -> list[Job]:
    """Jobs still to send: never a finished one; failed ones only when asked."""
    return [
        job for job in jobs if not journal.done(job.key) and (retry_failed or not journal.failed(job.key))
    ]


async def run_jobs(jobs: list[Job], model: ModelConfig, journal: Journal, progress=None, base_url: str | None = None) -> None:
    """Send `jobs` to one model with at most `max_concurrency` requests in flight."""
    if not jobs:
        return
    client = make_client(model, base_url)
    queue: Iterator[Job] = iter(jobs)
    try:
        workers = [_worker(client, model, queue, journal, progress) for _ in range(min(model.max_concurrency, len(jobs)))]
        await asyncio.gather(*workers)
    finally:
        await client.close()


async def _worker(client, model: ModelConfig, queue: Iterator[Job], journal: Journal, progress) -> None:
    for job in queue:
        record = await _attempt_with_retries(client, model, job)
        journal.write(record)
        if progress is not None:
            progress.update(record)


async def _attempt_with_retries(client, model: ModelConfig, job: Job) -> Record:
    last_error = ""
    for attempt in range(1, model.max_retries + 2):
        try:
            record = await _request(client, model, job)
            record.attempts = attempt
            return record
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status in FATAL_STATUS:
                raise CrdError(f"{model.base_url}: HTTP {status} for model {model.name}; {FATAL_STATUS[status]}") from None
            if status not in RETRYABLE_STATUS and status < 500:
                return _failed(job, f"HTTP {status}: {_short(exc.message)}", attempt)
            last_error = f"HTTP {status}"
            delay = _retry_after(exc) or _backoff(attempt)
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            last_error = type(exc).__name__
            delay = _backoff(attempt)
        except (RetryableReply, openai.APIResponseValidationError, json.JSONDecodeError) as exc:
            last_error = str(exc) or type(exc).__name__
            delay = _backoff(attempt)
        if attempt <= model.max_retries:
            await asyncio.sleep(delay)
    return _failed(job, f"gave up after {model.max_retries + 1} attempts: {last_error}", model.max_retries + 1)


async def _request(client, model: ModelConfig, job: Job) -> Record:
    arguments = request_arguments(model)
    messages = [{"role": role, "content": content} for role, content in job.messages]
    if uses_stream(model):
        stream = await client.chat.completions.create(messages=messages, **arguments)
        accumulator = StreamAccumulator()
        async for chunk in stream:
            accumulator.add(chunk)
        split, finish_reason, usage = accumulator.split(), accumulator.finish_reason, accumulator.usage
    else:
        reply = await client.chat.completions.create(messages=messages, **arguments)
        if not reply.choices:
            raise RetryableReply("reply without choices")
        choice = reply.choices[0]
        split = split_reply(choice.message.content, reasoning_field(choice.message))
        finish_reason, usage = choice.finish_reason, reply.usage
    _check_complete(split, finish_reason)
    return Record(job.prompt_id, job.model, job.sample, "ok", split.reasoning, split.response, finish_reason, **_token_counts(usage))


def _check_complete(split: Split, finish_reason: str | None) -> None:
    if finish_reason == "length":
        raise RetryableReply("truncated (finish_reason=length)")
    if not split.complete:
        raise RetryableReply("reasoning never closed with </think>")
    if not split.response:
        raise RetryableReply("empty response")


def _token_counts(usage) -> dict:
    if usage is None:
        return {}
    details = getattr(usage, "completion_tokens_details", None)
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "reasoning_tokens": getattr(details, "reasoning_tokens", None) if details else None,
    }


def _failed(job: Job, reason: str, attempts: int) -> Record:
    return Record(job.prompt_id, job.model, job.sample, "failed", error=reason, attempts=attempts)


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _backoff(attempt: int) -> float:
    """Exponential with full jitter, so hundreds of workers do not retry in lockstep."""
    return random.uniform(0, min(60.0, 0.5 * 2**attempt))


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
