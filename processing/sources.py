"""Reading instruction pools into the pool frame: id, prompt, source, category, reference_answer."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from processing.config import SourceConfig
from processing.errors import CrdError
from processing.schema import stable_id

POOL_SCHEMA = {
    "id": pl.String,
    "prompt": pl.String,
    "source": pl.String,
    "category": pl.String,
    "reference_answer": pl.String,
    "test_cases": pl.String,
}


def read_jsonl(path: Path) -> list[dict]:
    """Every line one JSON object; a bad line names its file and line number."""
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CrdError(f"{path}:{number}: malformed JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(row, dict):
                raise CrdError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


def iter_records(path: Path) -> Iterator[tuple[str, dict]]:
    """(location, record) for every record of a JSON Lines (optionally .zst), JSON array or
    Parquet file; location is "file:line" (or "file:row N") for error messages."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        yield from _parquet_records(path)
    elif name.endswith(".json"):
        yield from _json_array_records(path)
    else:
        with _open_text(path) as handle:
            yield from _jsonl_records(path, handle)


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.lower().endswith(".zst"):
        import zstandard

        return io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(path.open("rb")), encoding="utf-8")
    return path.open(encoding="utf-8")


def _jsonl_records(path: Path, handle) -> Iterator[tuple[str, dict]]:
    for number, line in enumerate(handle, start=1):
        if line.strip():
            yield f"{path}:{number}", _parse_object(line, f"{path}:{number}")


def _json_array_records(path: Path) -> Iterator[tuple[str, dict]]:
    text = path.read_text(encoding="utf-8")
    if not text.lstrip().startswith("["):  # JSON Lines saved as .json
        yield from _jsonl_records(path, io.StringIO(text))
        return
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CrdError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg} at column {exc.colno})") from None
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise CrdError(f"{path}: element {number} is a {type(record).__name__}, expected a JSON object")
        yield f"{path}:element {number}", record


def _parquet_records(path: Path) -> Iterator[tuple[str, dict]]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
        for record in batch.to_pylist():
            number += 1
            yield f"{path}:row {number}", record


def _parse_object(line: str, location: str) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CrdError(f"{location}: malformed JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(row, dict):
        raise CrdError(f"{location}: expected a JSON object, got {type(row).__name__}")
    return row


def read_source(spec: SourceConfig) -> pl.DataFrame:
    """One configured source as a pool frame with stable ids."""
    path = Path(spec.path)
    if not path.exists():
        raise CrdError(f"{path}: source file not found")
    rows = read_jsonl(path)
    _require_column(rows, spec.prompt_column, path)
    frame = pl.DataFrame(
        {
            "prompt": [row.get(spec.prompt_column) for row in rows],
            "source": [spec.name or row.get("source") or path.stem for row in rows],
            "category": [spec.category or row.get(spec.category_column) or "general" for row in rows],
            "reference_answer": [_text_or_none(row.get(spec.reference_column)) for row in rows],
            "test_cases": [None] * len(rows),
        },
        schema={k: v for k, v in POOL_SCHEMA.items() if k != "id"},
    )
    return assign_ids(frame)


def read_pool(specs: list[SourceConfig]) -> pl.DataFrame:
    return pl.concat([read_source(spec) for spec in specs]).select(list(POOL_SCHEMA))


def assign_ids(frame: pl.DataFrame) -> pl.DataFrame:
    """Id = hash of (source, prompt, occurrence): stable on rerun, unique for repeats."""
    seen: dict[tuple[str, str], int] = {}
    ids = []
    for source, prompt in zip(frame["source"], frame["prompt"]):
        occurrence = seen.get((source, prompt), 0)
        seen[(source, prompt)] = occurrence + 1
        ids.append(stable_id(source, prompt, occurrence))
    return frame.with_columns(pl.Series("id", ids, pl.String))


def _require_column(rows: list[dict], column: str, path: Path) -> None:
    for number, row in enumerate(rows, start=1):
        if not isinstance(row.get(column), str):
            present = ", ".join(sorted(row)) or "none"
            raise CrdError(f"{path}: record {number} has no text column {column!r}; columns present: {present}")


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)
