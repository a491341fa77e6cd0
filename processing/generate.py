"""Generation: the journal that makes runs resumable, and the `crd generate` command.

Every finished request is one JSON line in the journal, flushed at once, so `kill -9`
loses only the requests then in flight and a rerun asks nothing twice.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Collection, Iterable, Iterator

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from processing.config import ModelConfig
from processing.errors import CrdError
from processing.files import atomic_path
from processing.llm.engine import Engine, Job, Key, Record
from processing.progress import GenerationProgress
from processing.schema import stable_id
from processing.sources import assign_ids, read_jsonl

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


# ---------------------------------------------------------------- crd generate

JOURNAL = "journal.jsonl"
GENERATIONS = "generations.parquet"
FAILURES = "failures.jsonl"
ROWS_PER_GROUP = 1000  # read back from the journal and written in groups: memory stays flat
GENERATIONS_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("prompt_id", pa.string()),
    ("sample", pa.int32()),
    ("prompt", pa.string()),
    ("reasoning", pa.string()),
    ("response", pa.string()),
    ("model", pa.string()),
    ("finish_reason", pa.string()),
    ("prompt_tokens", pa.int64()),
    ("completion_tokens", pa.int64()),
    ("reasoning_tokens", pa.int64()),
    ("created_at", pa.string()),
])


@dataclass
class GenerateResult:
    requests: int
    finished: int
    failures: list[dict]
    out_dir: Path
    seconds: float  # spent generating (reading the input and writing the outputs excluded)
    stats: str  # the progress summary: rates, tokens, cost


def generate_file(input_path: Path, model: ModelConfig, out_dir: Path, *, retry_failed: bool = False,
                  quiet: bool = False) -> GenerateResult:
    """Answer every prompt of a JSON Lines or Parquet file `model.samples` times into `out_dir`."""
    prompts = read_prompts(input_path)
    jobs = [Job(prompt_id, model.name, sample, (("user", prompt),))
            for prompt_id, prompt in prompts.items() for sample in range(model.samples)]
    return asyncio.run(_generate(jobs, prompts, model, out_dir, retry_failed, quiet))


async def _generate(jobs: list[Job], prompts: dict[str, str], model: ModelConfig, out_dir: Path,
                    retry_failed: bool, quiet: bool) -> GenerateResult:
    journal = Journal(out_dir / JOURNAL)
    try:
        todo = pending(jobs, journal, retry_failed)
        progress = GenerationProgress(len(jobs), quiet, done=len(jobs) - len(todo))
        try:
            await run_jobs(todo, model, journal, progress)
        finally:
            progress.close()
        wanted = {job.key for job in jobs}
        finished = write_generations(out_dir / GENERATIONS, journal, prompts, wanted)
        failures = journal.write_failures(out_dir / FAILURES, wanted)
    finally:
        journal.close()
    return GenerateResult(len(jobs), finished, failures, out_dir, progress.elapsed, progress.summary())


def read_prompts(path: Path) -> dict[str, str]:
    """Prompt id -> prompt from a `prompt` column and an optional `id` column."""
    if not path.exists():
        raise CrdError(f"{path}: input file not found")
    if path.suffix == ".parquet":
        frame = pl.read_parquet(path)
        columns = {name: frame[name].to_list() for name in ("id", "prompt") if name in frame.columns}
        present = frame.columns
    elif path.suffix in (".jsonl", ".json"):
        rows = read_jsonl(path)
        columns = {name: [row.get(name) for row in rows] for name in ("id", "prompt") if any(name in row for row in rows)}
        present = sorted({name for row in rows for name in row})
    else:
        raise CrdError(f"{path}: expected JSON Lines (.jsonl) or Parquet (.parquet)")
    texts = columns.get("prompt")
    if texts is None or not all(isinstance(text, str) and text for text in texts):
        raise CrdError(f"{path}: every record needs a non-empty text column 'prompt'; columns present: {', '.join(present) or 'none'}")
    return dict(zip(_prompt_ids(path, columns.get("id"), texts), texts))


def _prompt_ids(path: Path, given: list | None, texts: list[str]) -> list[str]:
    """The input's own ids when it has them (they must be unique), else stable ones."""
    if given is None:
        frame = pl.DataFrame({"prompt": texts, "source": "crd-generate"})
        return assign_ids(frame)["id"].to_list()
    if any(value is None for value in given):
        raise CrdError(f"{path}: column 'id' has empty values; fill them or drop the column")
    ids = [str(value) for value in given]
    if len(set(ids)) != len(ids):
        raise CrdError(f"{path}: column 'id' has duplicates; ids must be unique to resume safely")
    return ids


def write_generations(path: Path, journal: Journal, prompts: dict[str, str], wanted: Collection[Key]) -> int:
    """Stream the journal's finished rows into Parquet, atomically; returns the row count."""
    rows = 0
    with atomic_path(path) as temporary, pq.ParquetWriter(temporary, GENERATIONS_SCHEMA, compression="zstd") as writer:
        for group in _groups(journal.finished(wanted), ROWS_PER_GROUP):
            batch = [_generation_row(record, prompts) for record in group]
            writer.write_batch(pa.RecordBatch.from_pylist(batch, GENERATIONS_SCHEMA))
            rows += len(batch)
    return rows


def _generation_row(record: dict, prompts: dict[str, str]) -> dict:
    row = {name: record.get(name) for name in GENERATIONS_SCHEMA.names}
    row["id"] = stable_id(record["prompt_id"], record["model"], record["sample"])
    row["prompt"] = prompts[record["prompt_id"]]
    return row


def _groups(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while group := list(islice(iterator, size)):
        yield group
