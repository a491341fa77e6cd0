"""Batch mode: the same jobs and journal as real time, sent through a provider's Batch API.

Jobs are packed into files (batch_files.py), uploaded, turned into batches, polled with
a growing interval, and each finished batch's output and error files are read into the
journal with the reply parser real-time mode uses, so rows are the same. Every step is in
the ledger (batch_ledger.py) before the next one starts: a rerun never packs an entry
that sits in a live batch, never creates a second batch for a file, and resumes polling.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import Iterator

import orjson

from processing.llm.batch_api import LIVE, BatchClient
from processing.llm.batch_files import Packed, entry_of, pack
from processing.llm.batch_ledger import LEDGER, Ledger, Upload
from processing.llm.engine import Entry, Job, Record, _failed, _finished, request_cost
from processing.llm.extract import BadReply, parse_completion
from processing.llm.settings import ModelConfig

MAX_POLL = 600.0  # seconds between two status checks at most
POLL_GROWTH = 1.5
DOWNLOADS = "batches"  # folder of the run dir holding result files until they are journaled
FIND_MARGIN = 300.0  # seconds of clock skew allowed when looking up a batch by its file


def ledger_path(journal_path: Path) -> Path:
    return journal_path.parent / LEDGER


def skip_live_batches(jobs: list[Job], model: ModelConfig, journal_path: Path) -> list[Job]:
    """Real-time mode leaves out requests a live batch holds: they are paid for once already."""
    path = ledger_path(journal_path)
    if not path.exists():
        return jobs
    held = {entry for upload in Ledger(path).live(journal_path.name, model.name) for entry in upload.entries}
    kept = [job for job in jobs if job.entry not in held]
    if len(kept) < len(jobs):
        print(f"model {model.name}: {len(jobs) - len(kept):,} requests wait in live batches ({path}); "
              "rerun in batch mode to collect them", file=sys.stderr)
    return kept


async def run_batch(jobs: list[Job], model: ModelConfig, journal, progress=None) -> None:
    """Send `jobs` through the Batch API; every outcome lands in `journal` (a journal.Journal)."""
    ledger = Ledger(ledger_path(journal.path))
    live = list(ledger.live(journal.path.name, model.name))
    if not jobs and not live:
        return
    held = {entry for upload in live for entry in upload.entries}
    fresh = [job for job in jobs if job.entry not in held]
    run = BatchRun(model, journal, ledger, progress, {job.entry for job in jobs})
    try:
        for upload in live:
            if upload.batch is None:
                await run.adopt_or_create(upload)
        uploads = live + [await run.submit(packed) for packed in pack(fresh, model)]
        await asyncio.gather(*(run.follow(upload) for upload in uploads))
    finally:
        await run.client.close()


class BatchRun:
    """One model's batches within one journal."""

    def __init__(self, model: ModelConfig, journal, ledger: Ledger, progress, wanted: set[Entry]) -> None:
        self.model, self.journal, self.ledger, self.progress, self.wanted = model, journal, ledger, progress, wanted
        self.client = BatchClient(model)
        self.downloads = ledger.path.parent / DOWNLOADS

    async def submit(self, packed: Packed) -> Upload:
        name = f"crd-{self.model.name.replace('/', '_')}-{len(self.ledger.uploads):05d}.jsonl"
        file = await self.client.upload(name, packed.data)
        upload = self.ledger.uploaded(file, self.journal.path.name, self.model, [job.entry for job in packed.jobs])
        self.ledger.created(upload, (await self.client.create(file))["id"])
        return upload

    async def adopt_or_create(self, upload: Upload) -> None:
        """A file uploaded by a run killed before its batch was journaled: find the batch, or make it."""
        since = datetime.fromisoformat(upload.at).timestamp() - FIND_MARGIN
        batch = await self.client.find(upload.file, since) or await self.client.create(upload.file)
        self.ledger.created(upload, batch["id"])

    async def follow(self, upload: Upload) -> None:
        wait = self.model.batch_poll
        while (batch := await self.client.get(upload.batch))["status"] in LIVE:
            await asyncio.sleep(wait)
            wait = min(MAX_POLL, wait * POLL_GROWTH)
        await self.collect(upload, batch)
        self.ledger.finished(upload, batch["status"])

    async def collect(self, upload: Upload, batch: dict) -> None:
        """Every entry of the batch into the journal: its answer, its error, or why it has none."""
        members = set(upload.entries)
        answered: set[Entry] = set()
        files = [file for file in (batch.get("output_file_id"), batch.get("error_file_id")) if file]
        for file in files:
            for record in self._records(await self._fetch(file)):
                entry = (record.prompt_id, record.model, record.sample, record.fingerprint)
                if entry in members and entry not in answered:
                    answered.add(entry)
                    self._keep(record)
        reason = _missing_reason(batch)
        for entry in upload.entries:
            if entry not in answered:
                self._keep(_failed(_job(entry), reason, 1))
        for file in files:
            (self.downloads / f"{file}.jsonl").unlink(missing_ok=True)
        if self.downloads.exists() and not any(self.downloads.iterdir()):
            self.downloads.rmdir()

    async def _fetch(self, file: str) -> Path:
        path = self.downloads / f"{file}.jsonl"
        if not path.exists():  # downloaded before a kill: its lines are read again, not fetched again
            path.parent.mkdir(parents=True, exist_ok=True)
            await self.client.download(file, path)
        return path

    def _records(self, path: Path) -> Iterator[Record]:
        with path.open("rb") as handle:
            for line in handle:
                if line.strip():
                    yield line_record(orjson.loads(line), self.model.name, self.model.force_think_prefix)

    def _keep(self, record: Record) -> None:
        entry = (record.prompt_id, record.model, record.sample, record.fingerprint)
        if self.journal.done(entry):  # journaled before a kill
            return
        self.journal.write(record)
        if self.progress is not None and entry in self.wanted:
            cost = request_cost(self.model, record)
            if cost is None:
                self.progress.update(record)
            else:
                paid = cost * self.model.batch_discount
                self.progress.update(record, paid, cost - paid)


def line_record(line: dict, model: str, opened: bool = False) -> Record:
    """One output or error line as the Record real-time mode would have made of the same reply;
    `opened`: the request forced the opening <think>, so a reply without </think> was cut."""
    job = _job(entry_of(line["custom_id"], model))
    response = line.get("response") or {}
    body = response.get("body")
    if isinstance(body, str):  # some providers send the body as a JSON string
        body = orjson.loads(body)
    if response.get("status_code") == 200 and not line.get("error"):
        try:
            reply = parse_completion(body)
            return _finished(job, reply, reply.check(opened), 1)
        except BadReply as exc:
            return _failed(job, str(exc), 1)
    return _failed(job, _line_error(line, response, body), 1)


def _line_error(line: dict, response: dict, body) -> str:
    error = line.get("error") or (body.get("error") if isinstance(body, dict) else None) or {}
    message = error.get("message") if isinstance(error, dict) else str(error)
    code = error.get("code") if isinstance(error, dict) else None
    status = response.get("status_code")
    head = f"HTTP {status}" if status else code or "batch error"
    return f"{head}: {message}" if message else head


def _missing_reason(batch: dict) -> str:
    """Why an entry of a finished batch has no line in its files."""
    errors = (batch.get("errors") or {}).get("data") or []
    detail = f": {errors[0].get('message')}" if errors and isinstance(errors[0], dict) else ""
    return f"batch {batch['id']} {batch['status']} before this request ran{detail}"


def _job(entry: Entry) -> Job:
    prompt_id, model, sample, fingerprint = entry
    return Job(prompt_id, model, sample, (), fingerprint)
