"""Decontamination: drop prompts that contain a benchmark test question.

Peers match 8–13 whitespace *words*, which on unsegmented Chinese makes a whole clause
one token. Here both sides are compared as character n-grams of the comparison key
(clean.py: width folded, no punctuation or whitespace, digits kept), and a prompt is
contaminated by a benchmark item when it contains at least `min_overlap` of the item's
question n-grams. Containment (not Jaccard) is what catches a question embedded in a
longer request or behind a prefix such as 请回答：. A question whose key is shorter than
n characters is matched by plain substring containment instead.

Every removed prompt is reported with the benchmark, item index, question and answer
it matched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from processing.pool.clean import comparison_key
from processing.errors import CrdError
from processing.pool.sources import read_jsonl
from processing.pool.textarrays import ngram_hashes
from processing.progress import advance

_TEXTS_PER_BATCH = 20_000
_FILTER_BITS = 24  # a 16 MiB table over the top hash bits screens n-grams before the exact lookup


class BenchmarkFile(BaseModel):
    """One benchmark test set: a JSON Lines file and the fields holding question and answer."""

    model_config = ConfigDict(extra="forbid")

    path: str
    question_field: str = "question"
    answer_field: str | None = Field(None, description="reported with each match; optional")
    name: str | None = Field(None, description="defaults to the file name without extension")


class DecontamSettings(BaseModel):
    """N-gram decontamination (TOML table `[decontam]`).

    Defaults measured by `python bench/pool.py --sweep-decontam` on ../shared/data:
    TODO(measurement).
    """

    model_config = ConfigDict(extra="forbid")

    benchmarks: list[BenchmarkFile] = Field(default_factory=list)
    ngram: int = Field(13, ge=2, description="characters per n-gram of the comparison key")
    min_overlap: float = Field(
        0.5, gt=0, le=1, description="share of a question's n-grams a prompt must contain"
    )


def load_benchmarks(files: list[BenchmarkFile]) -> pl.DataFrame:
    """All benchmark items: benchmark, item (0-based line index), question, answer."""
    frames = [_load_one(spec) for spec in files]
    empty = pl.DataFrame(schema={"benchmark": pl.String, "item": pl.Int64, "question": pl.String, "answer": pl.String})
    return pl.concat([empty, *frames])


def _load_one(spec: BenchmarkFile) -> pl.DataFrame:
    path = Path(spec.path)
    if not path.exists():
        raise CrdError(f"{path}: benchmark file not found")
    rows = read_jsonl(path)
    for number, row in enumerate(rows, start=1):
        if not isinstance(row.get(spec.question_field), str):
            present = ", ".join(sorted(row)) or "none"
            raise CrdError(
                f"{path}: record {number} has no text field {spec.question_field!r}; fields present: {present}"
            )
    answers = [row.get(spec.answer_field) if spec.answer_field else None for row in rows]
    return pl.DataFrame(
        {
            "benchmark": [spec.name or path.name.split(".")[0]] * len(rows),
            "item": list(range(len(rows))),
            "question": [row[spec.question_field] for row in rows],
            "answer": [None if answer is None else str(answer) for answer in answers],
        },
        schema={"benchmark": pl.String, "item": pl.Int64, "question": pl.String, "answer": pl.String},
    )


def decontaminate(
    df: pl.DataFrame, benchmarks: pl.DataFrame, settings: DecontamSettings
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split the pool into (kept, rejects); rejects add reason, detail and the matched item."""
    key = comparison_key(df["prompt"])
    matches = pl.concat(
        [
            _gram_matches(key, benchmarks, settings),
            _substring_matches(key, benchmarks, settings.ngram),
        ]
    )
    best = (
        matches.sort("overlap", "bench_row", descending=[True, False])
        .unique("row", keep="first")
        .join(benchmarks.with_row_index("bench_row").cast({"bench_row": pl.Int64}), on="bench_row")
    )
    marked = df.with_row_index("row").cast({"row": pl.Int64}).join(best, on="row", how="left", maintain_order="left")
    kept = marked.filter(pl.col("overlap").is_null()).select(df.columns)
    rejects = marked.filter(pl.col("overlap").is_not_null()).select(
        *df.columns,
        pl.lit("contaminated").alias("reason"),
        pl.format("{} of the n-grams of {} item {}", pl.col("overlap").round(3), "benchmark", "item").alias("detail"),
        "benchmark",
        pl.col("item").alias("benchmark_item"),
        pl.col("question").alias("benchmark_question"),
        pl.col("answer").alias("benchmark_answer"),
        "overlap",
    )
    return kept, rejects


def _gram_matches(key: pl.Series, benchmarks: pl.DataFrame, settings: DecontamSettings) -> pl.DataFrame:
    """(row, bench_row, overlap) for every prompt containing enough of a question's n-grams."""
    n = settings.ngram
    bench_key = comparison_key(benchmarks["question"])
    long_enough = np.flatnonzero(bench_key.str.len_chars().to_numpy() >= n)
    grams = ngram_hashes(bench_key.gather(long_enough), n)
    table = (
        pl.DataFrame({"gram": grams.values, "bench_row": long_enough[grams.owners()]})
        .unique()
        .with_columns(pl.len().over("bench_row").alias("bench_grams"))
    )
    screen = _bit_table(table["gram"].to_numpy())
    known = np.unique(table["gram"].to_numpy())
    found = []
    for first in range(0, len(key), _TEXTS_PER_BATCH):
        batch = key.slice(first, _TEXTS_PER_BATCH)
        prompt_grams = ngram_hashes(batch, n)
        hashes = prompt_grams.values
        maybe = np.flatnonzero(screen[hashes >> np.uint64(64 - _FILTER_BITS)])
        slot = np.minimum(np.searchsorted(known, hashes[maybe]), len(known) - 1)
        hit = maybe[known[slot] == hashes[maybe]]
        found.append(pl.DataFrame({"row": first + prompt_grams.owners()[hit], "gram": hashes[hit]}))
        advance(len(batch))
    hits = pl.concat(found).unique() if found else pl.DataFrame(schema={"row": pl.Int64, "gram": pl.UInt64})
    return (
        hits.join(table, on="gram")
        .group_by("row", "bench_row")
        .agg((pl.len() / pl.col("bench_grams").first()).alias("overlap"))
        .filter(pl.col("overlap") >= settings.min_overlap)
        .cast({"row": pl.Int64, "bench_row": pl.Int64})
    )


def _substring_matches(key: pl.Series, benchmarks: pl.DataFrame, n: int) -> pl.DataFrame:
    """Questions too short for one n-gram match prompts that contain their whole key."""
    bench_key = comparison_key(benchmarks["question"])
    frames = [pl.DataFrame(schema={"row": pl.Int64, "bench_row": pl.Int64, "overlap": pl.Float64})]
    for bench_row in np.flatnonzero((bench_key.str.len_chars() < n).to_numpy()):
        needle = bench_key[int(bench_row)]
        if not needle:
            continue
        rows = np.flatnonzero(key.str.contains(needle, literal=True).to_numpy())
        frames.append(pl.DataFrame({"row": rows, "bench_row": int(bench_row), "overlap": 1.0}))
    return pl.concat(frames, how="vertical_relaxed")


def _bit_table(hashes: np.ndarray) -> np.ndarray:
    """A boolean table over the top bits of the hashes: False means surely not present."""
    table = np.zeros(1 << _FILTER_BITS, dtype=bool)
    table[hashes >> np.uint64(64 - _FILTER_BITS)] = True
    return table
