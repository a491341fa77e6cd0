"""`crd generate`: answer every prompt of a file with one teacher, resumably."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Collection, Iterable, Iterator

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from processing.errors import CrdError
from processing.files import atomic_path
from processing.llm.engine import Entry, Job
from processing.llm.journal import Journal, make_job, pending, report_other_recipes, run_jobs
from processing.llm.settings import ModelConfig
from processing.pool.sources import assign_ids, read_jsonl
from processing.progress import GenerationProgress
from processing.schema import stable_id

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
    ("system_fingerprint", pa.string()),  # the server's label of its build; "crd-simulator" from `crd sim`
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
                  quiet: bool = False, encoding: str | None = None) -> GenerateResult:
    """Answer every prompt of a JSON Lines or Parquet file `model.samples` times into `out_dir`."""
    prompts = read_prompts(input_path, encoding)
    jobs = [make_job(prompt_id, model, sample, (("user", prompt),))
            for prompt_id, prompt in prompts.items() for sample in range(model.samples)]
    return asyncio.run(_generate(jobs, prompts, model, out_dir, retry_failed, quiet))


async def _generate(jobs: list[Job], prompts: dict[str, str], model: ModelConfig, out_dir: Path,
                    retry_failed: bool, quiet: bool) -> GenerateResult:
    journal = Journal(out_dir / JOURNAL)
    try:
        report_other_recipes(journal.other_recipes(jobs))
        todo = pending(jobs, journal, retry_failed)
        progress = GenerationProgress(len(jobs), quiet, done=len(jobs) - len(todo))
        try:
            await run_jobs(todo, model, journal, progress)
        finally:
            progress.close()
        wanted = {job.entry for job in jobs}
        finished = write_generations(out_dir / GENERATIONS, journal, prompts, wanted)
        failures = journal.write_failures(out_dir / FAILURES, wanted)
    finally:
        journal.close()
    return GenerateResult(len(jobs), finished, failures, out_dir, progress.elapsed, progress.summary())


def read_prompts(path: Path, encoding: str | None = None) -> dict[str, str]:
    """Prompt id -> prompt from a `prompt` column and an optional `id` column; `encoding`
    of a JSON file, detected when None (processing/textio.py)."""
    if not path.exists():
        raise CrdError(f"{path}: input file not found")
    if path.suffix == ".parquet":
        frame = pl.read_parquet(path)
        columns = {name: frame[name].to_list() for name in ("id", "prompt") if name in frame.columns}
        present = frame.columns
    elif path.suffix in (".jsonl", ".json"):
        rows = read_jsonl(path, encoding)
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


def write_generations(path: Path, journal: Journal, prompts: dict[str, str], wanted: Collection[Entry]) -> int:
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
