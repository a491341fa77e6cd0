"""Stage fingerprints: a rerun skips a stage whose inputs and settings are unchanged.

Each stage's fingerprint hashes the fingerprint of what the stage before it produced
together with the stage's own settings, so a change anywhere recomputes that stage and
every stage after it. The record of a finished stage (`RUN/stages/NAME.json`) is written
after its outputs, so a crash mid-stage leaves no record and the stage runs again.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import orjson
import xxhash

from processing.files import atomic_path

HASH_CHUNK = 8 * 2**20


def digest(*parts: object) -> str:
    """A short, stable hash of JSON-serialisable parts (pydantic models as their dumps)."""
    data = orjson.dumps(list(parts), default=_plain, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def _plain(part: object) -> object:
    if hasattr(part, "model_dump"):
        return part.model_dump(mode="json")
    raise TypeError(f"cannot fingerprint {type(part).__name__}")


def file_digest(path: Path) -> str:
    """Content hash of a file or of every file below a folder (xxhash: GB/s, so inputs can be hashed every build)."""
    hasher = xxhash.xxh3_128()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        hasher.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with file.open("rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                hasher.update(chunk)
    return hasher.hexdigest()


@dataclass
class StageResult:
    name: str
    status: str  # "done" (first run), "reused" or "recomputed"
    fingerprint: str  # of the stage's inputs and settings
    output: str  # fingerprint of what it produced; the next stage's input
    counts: dict = field(default_factory=dict)
    seconds: float = 0.0


class Stages:
    """Runs the stages of one build in order, reusing those whose fingerprint is unchanged."""

    def __init__(self, run_dir: Path, echo: bool = True) -> None:
        """`echo`: print one line per stage (status, time, counts) as it ends."""
        self.folder = run_dir / "stages"
        self.echo = echo
        self.results: list[StageResult] = []
        self.upstream = ""

    def run(self, name: str, settings: object, compute: Callable[[], tuple[dict, str | None]],
            reusable: Callable[[dict], bool] = lambda record: True) -> StageResult:
        """Reuse the recorded result when the fingerprint matches and `reusable(record)`
        says its outputs are still there; else `compute()` -> (counts, output fingerprint or None)."""
        fingerprint = digest(self.upstream, name, settings)
        record = self._load(name)
        if record is not None and record["fingerprint"] == fingerprint and reusable(record):
            result = StageResult(name, "reused", fingerprint, record["output"], record["counts"], 0.0)
        else:
            started = time.perf_counter()
            counts, output = compute()
            seconds = time.perf_counter() - started
            status = "done" if record is None else "recomputed"
            result = StageResult(name, status, fingerprint, output or fingerprint, counts, seconds)
            self._save(result)
        return self._finish(result)

    def _finish(self, result: StageResult) -> StageResult:
        self.upstream = result.output
        self.results.append(result)
        if self.echo:
            print(format_stage(result), flush=True)
        return result

    def _load(self, name: str) -> dict | None:
        path = self.folder / f"{name}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None  # never run, or unreadable: run it

    def _save(self, result: StageResult) -> None:
        with atomic_path(self.folder / f"{result.name}.json") as temporary:
            temporary.write_text(json.dumps(asdict(result), ensure_ascii=False, indent=1), encoding="utf-8")

    def result(self, name: str) -> StageResult:
        return next(result for result in self.results if result.name == name)


def format_stage(result: StageResult) -> str:
    flat = {key: value for key, value in result.counts.items() if not isinstance(value, dict)}
    return f"{result.name:<10} {result.status:<10} {result.seconds:7.1f} s  {format_counts(flat)}"


def format_counts(counts: dict) -> str:
    """`key value, key value`, integers with thousands separators (the stage line and the card)."""
    return ", ".join(f"{key} {format_count(value)}" for key, value in counts.items())


def format_count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)
