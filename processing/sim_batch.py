"""The simulator's Files and Batches endpoints (REFERENCE.md §8), for batch-mode tests.

Each batch line is answered by the simulator's own chat endpoint, over a loopback
request carrying the batch creator's key, so a batch row is exactly the reply real time
gets (fault injection included: a simulated 500 becomes an error line). On top of that,
`BatchSimSettings` adds a completion delay, a share of lines that fail, a share the
completion window runs out on (the batch then ends `expired`), and file-size limits.
Line fates are picked by a hash of the `custom_id`, so a rerun sees the same ones.

State lives in memory: a simulator restart forgets its files and batches, as a provider
never would, so kill tests kill the client, not the simulator.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import json
import re
import time
from collections import Counter

import aiohttp
from aiohttp import web

ENDPOINT = "/v1/chat/completions"
MAX_WINDOW_HOURS = 336
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
LINE_WORKERS = 16


@dataclasses.dataclass
class BatchSimSettings:
    delay: float = 0.0  # seconds a batch waits before its lines run
    delay_step: float = 0.0  # and each batch created waits this much longer than the one before
    fail_rate: float = 0.0  # share of lines answered with an error
    expire_rate: float = 0.0  # share of lines the completion window runs out on
    max_lines: int | None = None  # uploads with more lines are refused (SiliconFlow: 5,000)
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        for name in ("fail_rate", "expire_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"BatchSimSettings.{name} must be within [0, 1]")
        if min(self.delay, self.delay_step) < 0:
            raise ValueError("BatchSimSettings.delay and delay_step must not be negative")


def _share(kind: str, custom_id: str) -> float:
    digest = hashlib.blake2b(f"{kind}\0{custom_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _json(obj) -> web.Response:
    return web.Response(body=_dumps(obj), content_type="application/json")


def _lookup(table: dict, request: web.Request, kind: str):
    """The file or batch the URL names; a 404 in OpenAI's shape when there is none."""
    found = table.get(request.match_info["id"])
    if found is None:
        raise web.HTTPNotFound(text=_error_body(f"no such {kind}").decode(), content_type="application/json")
    return found


def _error(status: int, message: str) -> web.Response:
    return web.Response(status=status, body=_error_body(message), content_type="application/json")


def _error_body(message: str) -> bytes:
    return _dumps({"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}})


class BatchSim:
    """Files, batches, and the tasks running them."""

    def __init__(self, settings: BatchSimSettings) -> None:
        self.settings = settings
        self.files: dict[str, dict] = {}
        self.contents: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self._cancel: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task] = set()
        self._ids = itertools.count(1)
        self.batched = Counter()  # custom_id -> batches created holding it

    def register(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self.upload)
        app.router.add_get("/v1/files/{id}", self.file)
        app.router.add_get("/v1/files/{id}/content", self.content)
        app.router.add_post("/v1/batches", self.create)
        app.router.add_get("/v1/batches", self.list)
        app.router.add_get("/v1/batches/{id}", self.get)
        app.router.add_post("/v1/batches/{id}/cancel", self.cancel)
        app.router.add_get("/sim/batch_stats", self.stats)

    def _new_id(self, kind: str) -> str:
        return f"{kind}-sim-{next(self._ids):08d}"

    def _store(self, data: bytes, name: str, purpose: str) -> dict:
        file = {"id": self._new_id("file"), "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": name, "purpose": purpose}
        self.files[file["id"]] = file
        self.contents[file["id"]] = data
        return file

    # --- files

    async def upload(self, request: web.Request) -> web.Response:
        fields = {}
        async for part in await request.multipart():
            fields[part.name] = (part.filename, await part.read())
        if fields.get("purpose", (None, b""))[1] != b"batch" or "file" not in fields:
            return _error(400, "expected multipart fields purpose=batch and file")
        name, data = fields["file"]
        limit = self._over_limit(data)
        if limit:
            return _error(400, limit)
        return _json(self._store(data, name or "upload.jsonl", "batch"))

    def _over_limit(self, data: bytes) -> str | None:
        s = self.settings
        lines = data.count(b"\n") + (not data.endswith(b"\n"))
        if s.max_lines is not None and lines > s.max_lines:
            return f"a batch file holds at most {s.max_lines} lines; this one has {lines}"
        if s.max_bytes is not None and len(data) > s.max_bytes:
            return f"a batch file holds at most {s.max_bytes} bytes; this one has {len(data)}"
        return None

    async def file(self, request: web.Request) -> web.Response:
        return _json(_lookup(self.files, request, "file"))

    async def content(self, request: web.Request) -> web.Response:
        return web.Response(body=_lookup(self.contents, request, "file"), content_type="application/jsonl")

    # --- batches

    async def create(self, request: web.Request) -> web.Response:
        try:
            order = await request.json()
        except ValueError:
            return _error(400, "the body is not valid JSON")
        problem = self._check_order(order)
        if problem:
            return _error(400, problem)
        lines = [json.loads(line) for line in self.contents[order["input_file_id"]].splitlines() if line.strip()]
        now = int(time.time())
        batch = {"id": self._new_id("batch"), "object": "batch", "endpoint": ENDPOINT, "errors": None,
                 "input_file_id": order["input_file_id"], "completion_window": order["completion_window"],
                 "status": "validating", "output_file_id": None, "error_file_id": None, "created_at": now,
                 "in_progress_at": None, "finalizing_at": None, "completed_at": None, "expired_at": None,
                 "cancelling_at": None, "cancelled_at": None,
                 "request_counts": {"total": len(lines), "completed": 0, "failed": 0}, "metadata": None}
        self.batches[batch["id"]] = batch
        self.batched.update(line.get("custom_id") for line in lines)
        self._cancel[batch["id"]] = asyncio.Event()
        replace = (order.get("replace") or {}).get("model")
        task = asyncio.ensure_future(self._run(batch, lines, replace, _loopback(request), self._delay()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return _json(batch)

    def _check_order(self, order) -> str | None:
        if not isinstance(order, dict) or order.get("input_file_id") not in self.contents:
            return "input_file_id names no uploaded file"
        if order.get("endpoint") != ENDPOINT:
            return f"endpoint must be {ENDPOINT}"
        window = re.fullmatch(r"(\d+)h", str(order.get("completion_window")))
        if not window or not 24 <= int(window[1]) <= MAX_WINDOW_HOURS:
            return f"completion_window must be between 24h and {MAX_WINDOW_HOURS}h"
        return None

    async def list(self, request: web.Request) -> web.Response:
        newest = sorted(self.batches.values(), key=lambda batch: batch["id"], reverse=True)
        after = request.query.get("after")
        if after:
            newest = [batch for batch in newest if batch["id"] < after]
        limit = int(request.query.get("limit", 20))
        page = newest[:limit]
        return _json({"object": "list", "data": page, "has_more": len(newest) > limit,
                      "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None})

    async def get(self, request: web.Request) -> web.Response:
        return _json(_lookup(self.batches, request, "batch"))

    async def cancel(self, request: web.Request) -> web.Response:
        batch = _lookup(self.batches, request, "batch")
        if batch["status"] not in TERMINAL:
            batch["status"], batch["cancelling_at"] = "cancelling", int(time.time())
            self._cancel[batch["id"]].set()
        return _json(batch)

    async def stats(self, request: web.Request) -> web.Response:
        return _json({"files_uploaded": len(self.files), "batches_created": len(self.batches),
                      "batched": dict(self.batched)})

    # --- running a batch

    async def _run(self, batch: dict, lines: list[dict], replace: str | None, chat: tuple[str, dict],
                   delay: float) -> None:
        batch["status"], batch["in_progress_at"] = "in_progress", int(time.time())
        cancelled = self._cancel[batch["id"]]
        try:
            await asyncio.wait_for(cancelled.wait(), delay)
        except asyncio.TimeoutError:
            pass
        outputs: list[bytes] = []
        errors: list[bytes] = []
        expired = False
        async with aiohttp.ClientSession() as session:
            queue = iter(lines)

            async def worker() -> None:
                nonlocal expired
                for line in queue:
                    if cancelled.is_set():
                        return
                    if _share("expire", line["custom_id"]) < self.settings.expire_rate:
                        expired = True
                        errors.append(_expired_line(line))
                        continue
                    ok, answer = await self._answer(session, chat, line, replace)
                    (outputs if ok else errors).append(answer)
                    batch["request_counts"]["completed" if ok else "failed"] += 1

            await asyncio.gather(*(worker() for _ in range(LINE_WORKERS)))
        self._finish(batch, outputs, errors, "cancelled" if cancelled.is_set() else "expired" if expired else "completed")

    def _delay(self) -> float:
        return self.settings.delay + (len(self.batches) - 1) * self.settings.delay_step

    async def _answer(self, session, chat: tuple[str, dict], line: dict, replace: str | None) -> tuple[bool, bytes]:
        body = dict(line["body"])
        if replace:
            body["model"] = replace
        request_id = self._new_id("req")
        if _share("fail", line["custom_id"]) < self.settings.fail_rate:
            status, reply = 500, {"error": {"message": "simulated batch line failure", "type": "server_error",
                                            "code": "internal_error"}}
        else:
            status, reply = await _post(session, chat, body)
        answer = {"id": self._new_id("batch_req"), "custom_id": line["custom_id"],
                  "response": {"status_code": status, "request_id": request_id, "body": reply}, "error": None}
        return status == 200, _dumps(answer) + b"\n"

    def _finish(self, batch: dict, outputs: list[bytes], errors: list[bytes], status: str) -> None:
        batch["status"], batch["finalizing_at"] = "finalizing", int(time.time())
        if outputs:
            batch["output_file_id"] = self._store(b"".join(outputs), "output.jsonl", "batch_output")["id"]
        if errors:
            batch["error_file_id"] = self._store(b"".join(errors), "errors.jsonl", "batch_output")["id"]
        batch["status"] = status
        batch[{"completed": "completed_at", "expired": "expired_at", "cancelled": "cancelled_at"}[status]] = int(time.time())


def _loopback(request: web.Request) -> tuple[str, dict]:
    """Where this simulator's chat endpoint is, and the creator's key to reach it with."""
    headers = {"Content-Type": "application/json"}
    if "Authorization" in request.headers:
        headers["Authorization"] = request.headers["Authorization"]
    return str(request.url.origin()) + ENDPOINT, headers


async def _post(session: aiohttp.ClientSession, chat: tuple[str, dict], body: dict) -> tuple[int, dict]:
    url, headers = chat
    try:
        async with session.post(url, data=_dumps(body), headers=headers) as response:
            return response.status, json.loads(await response.read())
    except (aiohttp.ClientError, ValueError) as exc:  # simulated broken replies and garbage
        return 502, {"error": {"message": f"simulated upstream failure: {exc}", "type": "server_error", "code": None}}


def _expired_line(line: dict) -> bytes:
    error = {"code": "batch_expired",
             "message": "This request could not be executed before the completion window expired."}
    return _dumps({"id": None, "custom_id": line["custom_id"], "response": None, "error": error}) + b"\n"
