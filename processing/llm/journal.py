"""The journal that makes generation resumable.

Every finished request is one JSON line in the journal, flushed at once, so `kill -9`
loses only the requests then in flight and a rerun asks nothing twice.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import Collection, Iterable, Iterator

import orjson

from processing.errors import CrdError
from processing.files import atomic_path
from processing.llm.engine import Engine, Job, Key, Record
from processing.llm.settings import ModelConfig

__all__ = ["Job", "Journal", "Record", "pending", "run_jobs"]


def _key(record: dict) -> Key:
    return (record["prompt_id"], record["model"], record["sample"])


class Journal:
    """Append-only JSON Lines of Records; the last line for a key wins.

    Only each key's status stays in memory: rows are read back from disk, so a run of
    any length keeps a small resident size. The file is locked so two processes never
    write the same run directory.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.status: dict[Key, str] = {}
        self._handle = None
        if path.exists():
            self._open()
            self._load()

    def _open(self) -> None:
        """Opened (and the folder made) only when needed: a run that fails at once leaves nothing."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise CrdError(f"{self.path} is in use by another crd process; wait for it or use another directory") from None
        self._handle = handle

    def _load(self) -> None:
        complete = 0
        with self.path.open("rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # cut by a crash mid-write; its request is asked again
                complete += len(line)
                record = _decode(line)
                if record is not None:
                    self.status[_key(record)] = record["status"]
        if complete < self.path.stat().st_size:
            self._handle.truncate(complete)  # so the next line does not glue onto the cut one

    def done(self, key: Key) -> bool:
        return self.status.get(key) == "ok"

    def failed(self, key: Key) -> bool:
        return self.status.get(key) == "failed"

    def write(self, record: Record) -> None:
        if self._handle is None:
            self._open()
        self._handle.write(orjson.dumps(vars(record)) + b"\n")  # UTF-8, like the rest of the files
        self._handle.flush()
        self.status[(record.prompt_id, record.model, record.sample)] = record.status

    @property
    def records(self) -> dict[Key, dict]:
        """Every key's last record, read from disk into memory: for small runs and tests."""
        return {_key(record): record for record in self._read()}

    def _read(self) -> Iterator[dict]:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            for line in handle:
                record = _decode(line)
                if record is not None:
                    yield record

    def finished(self, wanted: Collection[Key]) -> Iterator[dict]:
        """The finished rows among `wanted` keys, streamed from disk, each key once."""
        seen: set[Key] = set()
        for record in self._read():
            key = _key(record)
            if record["status"] == "ok" and key in wanted and key not in seen:
                seen.add(key)
                yield record

    def failures(self, wanted: Collection[Key]) -> list[dict]:
        """The last failure of every wanted key that is still failed."""
        last = {_key(r): r for r in self._read() if r["status"] == "failed" and self.failed(_key(r))}
        return [record for key, record in last.items() if key in wanted]

    def write_failures(self, path: Path, wanted: Collection[Key]) -> list[dict]:
        """The failures list users read and `--retry-failed` acts on; written atomically."""
        failures = self.failures(wanted)
        with atomic_path(path) as temporary, temporary.open("w", encoding="utf-8") as handle:
            for record in failures:
                row = {name: record[name] for name in ("prompt_id", "model", "sample", "error", "attempts")}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        return failures

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _decode(line: bytes) -> dict | None:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


def pending(jobs: Iterable[Job], journal: Journal, retry_failed: bool) -> list[Job]:
    """Jobs still to send: never a finished one; failed ones only when asked."""
    return [
        job for job in jobs if not journal.done(job.key) and (retry_failed or not journal.failed(job.key))
    ]


async def run_jobs(jobs: list[Job], model: ModelConfig, journal: Journal, progress=None) -> None:
    """Send `jobs` to one model; every outcome lands in `journal`; fatal problems raise CrdError."""
    if not jobs:
        return
    async with Engine(model) as engine:
        await engine.run(jobs, _keeper(engine, journal, progress))


def _keeper(engine: Engine, journal: Journal, progress):
    def keep(record: Record) -> None:
        journal.write(record)
        if progress is not None:
            progress.update(record, engine.cost(record))
    return keep
