"""`crd batches RUN`: the batches of a run, as the ledger and the provider see them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from processing.errors import CrdError
from processing.llm.batch_api import LIVE, BatchClient
from processing.llm.batch_ledger import LEDGER, Ledger, Upload
from processing.llm.settings import ModelConfig


@dataclass
class BatchState:
    batch: str
    model: str
    requests: int
    status: str  # the provider's
    completed: int
    failed: int
    collected: bool  # its results are in the journal
    cancelled: bool = False  # cancelled by this command


def ledger_of(run: Path) -> Ledger:
    path = run / LEDGER if run.is_dir() else run
    if not path.exists():
        raise CrdError(f"{path}: no batch ledger; batch-mode runs write it in their run folder")
    return Ledger(path)


def batch_states(run: Path, cancel: bool = False) -> list[BatchState]:
    """Every batch of the run's ledger with its provider status; `cancel` cancels the live ones."""
    return asyncio.run(_states(ledger_of(run).batches(), cancel))


async def _states(uploads: list[Upload], cancel: bool) -> list[BatchState]:
    clients: dict[tuple, BatchClient] = {}
    try:
        return [await _state(upload, _client(clients, upload), cancel) for upload in uploads]
    finally:
        for client in clients.values():
            await client.close()


def _client(clients: dict[tuple, BatchClient], upload: Upload) -> BatchClient:
    """One client per server, built from what the ledger recorded (the key stays in the environment)."""
    server = (upload.model, upload.base_url, upload.api_key_env)
    if server not in clients:
        clients[server] = BatchClient(ModelConfig(name=upload.model, base_url=upload.base_url,
                                                  api_key_env=upload.api_key_env, max_retries=2))
    return clients[server]


async def _state(upload: Upload, client: BatchClient, cancel: bool) -> BatchState:
    batch = await client.get(upload.batch)
    cancelling = cancel and batch["status"] in LIVE - {"cancelling"}
    if cancelling:
        batch = await client.cancel(upload.batch)
    counts = batch.get("request_counts") or {}
    return BatchState(upload.batch, upload.model, len(upload.entries), batch["status"], counts.get("completed", 0),
                      counts.get("failed", 0), not upload.live, cancelling)


def format_states(states: list[BatchState]) -> str:
    if not states:
        return "no batches in this run"
    lines = [f"{'batch':<28} {'model':<24} {'status':<12} {'done':>7} {'failed':>7} {'requests':>8}  journal"]
    for state in states:
        note = "collected" if state.collected else "waiting" + (" (cancel sent)" if state.cancelled else "")
        lines.append(f"{state.batch:<28} {state.model:<24} {state.status:<12} {state.completed:>7,} "
                     f"{state.failed:>7,} {state.requests:>8,}  {note}")
    return "\n".join(lines)
