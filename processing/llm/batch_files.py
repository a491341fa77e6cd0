"""Batch input files: one JSONL line per request, packed under each provider's limits.

A line's `custom_id` encodes its journal entry (sample, fingerprint, prompt id), so any
output line maps back to the request it answers without a local index. The body is what
real-time mode sends (client.RequestBuilder) minus the streaming fields: batch requests
never stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import orjson

from processing.errors import CrdError
from processing.llm.client import RequestBuilder
from processing.llm.engine import Entry, Job
from processing.llm.settings import ModelConfig

ENDPOINT = "/v1/chat/completions"
MB = 1_000_000
# (requests, bytes) per batch file, REFERENCE.md §8. OpenAI also caps a file at 200 MB;
# the others publish no byte limit, and 100 MB keeps a file within every provider's.
PRESET_LIMITS: dict[str, tuple[int, int]] = {
    "dashscope": (50_000, 100 * MB),
    "siliconflow": (5_000, 1000 * MB),
    "openai": (50_000, 200 * MB),
}
DEFAULT_LIMITS = (50_000, 100 * MB)  # Together and any other OpenAI-compatible batch API
STREAM_FIELDS = ("stream", "stream_options")


@dataclass(frozen=True)
class Limits:
    requests: int
    bytes: int


def limits(model: ModelConfig) -> Limits:
    requests, size = PRESET_LIMITS.get(model.preset, DEFAULT_LIMITS)
    return Limits(model.batch_max_requests or requests, model.batch_max_bytes or size)


def custom_id(job: Job) -> str:
    """`sample:fingerprint:prompt id`; the prompt id comes last, so it may hold any character."""
    return f"{job.sample}:{job.fingerprint}:{job.prompt_id}"


def entry_of(custom: str, model: str) -> Entry:
    """The journal entry a `custom_id` names (the inverse of `custom_id`)."""
    sample, fingerprint, prompt_id = custom.split(":", 2)
    return (prompt_id, model, int(sample), fingerprint)


class LineBuilder:
    """Serializes one model's batch lines."""

    def __init__(self, model: ModelConfig) -> None:
        self._requests = RequestBuilder(model)

    def line(self, job: Job) -> bytes:
        body = orjson.loads(self._requests.body(job.messages))
        for name in STREAM_FIELDS:
            body.pop(name, None)
        request = {"custom_id": custom_id(job), "method": "POST", "url": ENDPOINT, "body": body}
        return orjson.dumps(request) + b"\n"


@dataclass
class Packed:
    jobs: list[Job]
    data: bytes


def pack(jobs: Iterable[Job], model: ModelConfig) -> Iterator[Packed]:
    """Batch files of at most `limits(model)` requests and bytes each, jobs in order."""
    bound = limits(model)
    builder = LineBuilder(model)
    members: list[Job] = []
    lines: list[bytes] = []
    size = 0
    for job in jobs:
        line = builder.line(job)
        if len(line) > bound.bytes:
            raise CrdError(f"model {model.name}: prompt {job.prompt_id} needs {len(line):,} bytes, more than "
                           f"the {bound.bytes:,} a batch file may hold (batch_max_bytes)")
        if members and (len(members) == bound.requests or size + len(line) > bound.bytes):
            yield Packed(members, b"".join(lines))
            members, lines, size = [], [], 0
        members.append(job)
        lines.append(line)
        size += len(line)
    if members:
        yield Packed(members, b"".join(lines))
