"""The batch ledger (RUN/batches.jsonl): which provider files and batches a run owns.

Each step is one JSON line, flushed and fsync'd before the next network call, so a
`kill -9` anywhere leaves a ledger that tells the rerun exactly where to pick up:

- `uploaded` (file id, model, server, and the journal entries in the file): written as
  soon as the upload returns. A kill between the upload and this line leaves an unused
  file at the provider, which is harmless: its requests are packed and uploaded again.
- `created` (file id -> batch id): written as soon as the batch is created. A kill
  between the create call and this line is covered by the rerun, which looks the file
  up among the provider's batches before creating one (batch.BatchRun.adopt_or_create).
- `finished` (batch id, final status): written once every result of the batch is in
  the journal. Until then the batch is live: its entries are never packed again, and a
  rerun polls it and collects its results.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import orjson

from processing.errors import CrdError
from processing.llm.engine import Entry

LEDGER = "batches.jsonl"


@dataclass
class Upload:
    """One uploaded batch file and what became of it."""

    file: str
    journal: str  # the journal file name its results go to
    model: str
    base_url: str
    api_key_env: str | None
    entries: list[Entry]
    at: str
    batch: str | None = None
    status: str | None = field(default=None)  # final status once its results are in the journal

    @property
    def live(self) -> bool:
        return self.status is None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Ledger:
    """Append-only; read whole at start (a run holds few batches)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.uploads: dict[str, Upload] = {}
        self._by_batch: dict[str, Upload] = {}
        if path.exists():
            self._load()

    def _load(self) -> None:
        complete = 0
        with self.path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                if not line.endswith(b"\n"):
                    break  # cut by a kill mid-write: that step is redone
                try:
                    self._apply(orjson.loads(line))
                except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                    raise CrdError(f"{self.path}:{number}: not a batch ledger line ({exc})") from None
                complete += len(line)
        if complete < self.path.stat().st_size:
            os.truncate(self.path, complete)

    def _apply(self, event: dict) -> None:
        kind = event["event"]
        if kind == "uploaded":
            entries = [(prompt_id, event["model"], sample, fingerprint) for prompt_id, sample, fingerprint in event["entries"]]
            self.uploads[event["file"]] = Upload(event["file"], event["journal"], event["model"], event["base_url"],
                                                 event["api_key_env"], entries, event["at"])
        elif kind == "created":
            upload = self.uploads[event["file"]]
            upload.batch = event["batch"]
            self._by_batch[upload.batch] = upload
        elif kind == "finished":
            self._by_batch[event["batch"]].status = event["status"]

    def _append(self, event: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as handle:
            handle.write(orjson.dumps(event) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._apply(event)

    def uploaded(self, file: str, journal: str, model, entries: list[Entry]) -> Upload:
        self._append({"event": "uploaded", "file": file, "journal": journal, "model": model.name,
                      "base_url": model.base_url, "api_key_env": model.api_key_env, "at": _now(),
                      "entries": [[prompt_id, sample, fingerprint] for prompt_id, _, sample, fingerprint in entries]})
        return self.uploads[file]

    def created(self, upload: Upload, batch: str) -> None:
        self._append({"event": "created", "file": upload.file, "batch": batch, "at": _now()})

    def finished(self, upload: Upload, status: str) -> None:
        self._append({"event": "finished", "batch": upload.batch, "status": status, "at": _now()})

    def live(self, journal: str, model: str) -> Iterator[Upload]:
        """Files of this journal and model whose results are not all in the journal yet."""
        return (upload for upload in self.uploads.values()
                if upload.live and upload.journal == journal and upload.model == model)

    def batches(self) -> list[Upload]:
        return [upload for upload in self.uploads.values() if upload.batch is not None]
