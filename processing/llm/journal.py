"""The journal that makes generation resumable, and the request fingerprints it is keyed by.

Every finished request is one JSON line in the journal, flushed at once, so `kill -9`
loses only the requests then in flight and a rerun asks nothing twice.

A line counts for a request only when it carries the request's fingerprint: a hash of
everything that shapes the teacher's answer (model, messages as sent, sampling settings,
preset extras, forced prefix, sample index). After a recipe change the old answers stay
in the journal but are not used, and the request is asked again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Collection, Iterable, Iterator

import orjson

from processing.errors import CrdError
from processing.files import atomic_path
from processing.llm.batch import run_batch, skip_live_batches
from processing.llm.client import prefix_message, request_arguments
from processing.llm.engine import Engine, Entry, Job, Key, Record
from processing.llm.settings import ModelConfig

__all__ = ["Job", "Journal", "Record", "make_job", "pending", "recipe_fingerprint", "run_jobs"]

# Request fields that change how a reply travels, never what it says.
_TRANSPORT_FIELDS = ("stream", "stream_options")


def recipe_fingerprint(model: ModelConfig) -> str:
    """Everything in a request that shapes the answer except the messages.

    Built from the request fields themselves, so a setting that reaches the request can
    never be forgotten here; concurrency, rate limits, timeouts, retries, prices and base
    URLs never reach the request and so may change mid-run.
    """
    fields = {name: value for name, value in request_arguments(model).items() if name not in _TRANSPORT_FIELDS}
    return _digest(orjson.dumps({"fields": fields, "prefix": prefix_message(model)}, option=orjson.OPT_SORT_KEYS))


def make_job(prompt_id: str, model: ModelConfig, sample: int, messages: tuple[tuple[str, str], ...],
             recipe: str | None = None) -> Job:
    """A request with its fingerprint; pass `recipe_fingerprint(model)` when making many."""
    recipe = recipe or recipe_fingerprint(model)
    return Job(prompt_id, model.name, sample, messages, _digest(orjson.dumps([recipe, messages, sample])))


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def journal_path(folder: Path, scorer_name: str) -> Path:
    """One journal per model (scorer, judge); the name is made file-safe, with a hash so two names never share a file."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", scorer_name).strip("._") or "model"
    digest = hashlib.blake2b(scorer_name.encode(), digest_size=4).hexdigest()
    return folder / f"{safe}-{digest}.jsonl"


def _key(record: dict) -> Key:
    return (record["prompt_id"], record["model"], record["sample"])


def _entry(record: dict) -> Entry:
    return (record["prompt_id"], record["model"], record["sample"], record.get("fingerprint") or "")


class Journal:
    """Append-only JSON Lines of Records; the last line for an entry (key + fingerprint) wins.

    Only each entry's status stays in memory: rows are read back from disk, so a run of
    any length keeps a small resident size. The file is locked so two processes never
    write the same run directory.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._failed: set[Entry] = set()  # entries whose last line is a failure
        # Per finished entry, where its line starts (to read rows back in any order) and its
        # length in bytes (what stands for the answer in a fingerprint), packed in one int:
        # a second dict cost 100 MiB at a million answers.
        self._lines: dict[Entry, int] = {}
        self._handle = None
        self._reader = None
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
                record = _decode_head(line)
                if record is not None:
                    self._note(_entry(record), record["status"], complete, len(line))
                complete += len(line)
        if complete < self.path.stat().st_size:
            self._handle.truncate(complete)  # so the next line does not glue onto the cut one

    def _note(self, entry: Entry, status: str, offset: int, size: int) -> None:
        """An entry's last line decides: finished (in _lines) or failed (in _failed). No
        status dict beside them: at a million answers it cost as much as _lines itself."""
        if status == "ok":
            self._lines[entry] = offset << _SIZE_BITS | size
            self._failed.discard(entry)
        else:
            self._failed.add(entry)
            self._lines.pop(entry, None)

    def read(self, entry: Entry) -> dict:
        """The finished record of `entry`, read from disk."""
        if self._reader is None:
            self._reader = self.path.open("rb")
        self._reader.seek(self._lines[entry] >> _SIZE_BITS)
        return orjson.loads(self._reader.readline())

    def size(self, entry: Entry) -> int:
        """The length in bytes of the finished line of `entry`."""
        return self._lines[entry] & _SIZE_MASK

    def done(self, entry: Entry) -> bool:
        return entry in self._lines

    def failed(self, entry: Entry) -> bool:
        return entry in self._failed

    def finished_entries(self) -> Iterator[Entry]:
        """Every entry with a finished answer, whatever its recipe."""
        return iter(self._lines)

    def other_recipes(self, jobs: Iterable[Job]) -> int:
        """How many of `jobs` are not done but have a finished answer made with other settings."""
        waiting = {job.key for job in jobs if not self.done(job.entry)}
        if not waiting:
            return 0
        return len({entry[:3] for entry in self._lines if entry[:3] in waiting})

    def write(self, record: Record) -> None:
        if self._handle is None:
            self._open()
        offset = self._handle.seek(0, 2)  # append mode writes at the end, whatever tell() said after a truncate
        line = orjson.dumps(vars(record)) + b"\n"  # UTF-8, like the rest of the files
        self._handle.write(line)
        self._handle.flush()
        self._note((record.prompt_id, record.model, record.sample, record.fingerprint), record.status, offset, len(line))

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

    def finished(self, wanted: Collection[Entry]) -> Iterator[dict]:
        """The finished rows among `wanted` entries, streamed from disk, each entry once."""
        seen: set[Entry] = set()
        for record in self._read():
            entry = _entry(record)
            if record["status"] == "ok" and entry in wanted and entry not in seen:
                seen.add(entry)
                yield record

    def failures(self, wanted: Collection[Entry]) -> list[dict]:
        """The last failure of every wanted entry that is still failed."""
        last = {_entry(r): r for r in self._read() if r["status"] == "failed" and self.failed(_entry(r))}
        return [record for entry, record in last.items() if entry in wanted]

    def write_failures(self, path: Path, wanted: Collection[Entry]) -> list[dict]:
        """The failures list users read and `--retry-failed` acts on; written atomically."""
        failures = self.failures(wanted)
        with atomic_path(path) as temporary, temporary.open("w", encoding="utf-8") as handle:
            for record in failures:
                row = {name: record[name] for name in ("prompt_id", "model", "sample", "error", "attempts")}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        return failures

    def close(self) -> None:
        for handle in (self._handle, self._reader):
            if handle is not None:
                handle.close()
        self._handle = self._reader = None


_SIZE_BITS = 40  # a line up to 1 TiB; offsets up to 2**23 TiB fit beside it in a Python int
_SIZE_MASK = (1 << _SIZE_BITS) - 1
_TEXTS_START = b',"reasoning":'


def _decode_head(line: bytes) -> dict | None:
    """Key, status and fingerprint of a journal line without decoding its long texts.

    Records are written with those fields first (engine.Record), and decoding only the
    head is what keeps loading a journal of long reasoning fast."""
    end = line.find(_TEXTS_START)
    return _decode(line[:end] + b"}") if end > 0 else _decode(line)


def _decode(line: bytes) -> dict | None:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


def report_other_recipes(count: int) -> None:
    """One line, always shown: re-asking costs money, so the author must know why."""
    if count:
        print(f"{count:,} finished answers were made with other settings; "
              "they stay in the journal and are not used", file=sys.stderr)


def pending(jobs: Iterable[Job], journal: Journal, retry_failed: bool) -> list[Job]:
    """Jobs still to send: never a finished one; failed ones only when asked."""
    return [
        job for job in jobs if not journal.done(job.entry) and (retry_failed or not journal.failed(job.entry))
    ]


async def run_jobs(jobs: list[Job], model: ModelConfig, journal: Journal, progress=None) -> None:
    """Send `jobs` to one model; every outcome lands in `journal`; fatal problems raise CrdError."""
    if model.mode == "batch":  # also collects batches a killed run left behind, so it runs with no jobs too
        await run_batch(jobs, model, journal, progress)
        return
    jobs = skip_live_batches(jobs, model, journal.path)
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
