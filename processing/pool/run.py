"""The pool stages in a run directory: ingest → clean → dedup → decontam.

Each stage writes what it removed, so every dropped prompt can be found with its reason:

    RUN/pool/ingest_rejects.jsonl   records skipped under on_error = "skip" (malformed, undecodable)
    RUN/pool/clean_rejects.jsonl    rule filters (empty, too_short, …)
    RUN/pool/dedup_rejects.jsonl    exact and near duplicates, with the surviving id
    RUN/pool/dedup_clusters.jsonl   one line per surviving prompt that absorbed copies
    RUN/pool/decontam_rejects.jsonl with the benchmark item each prompt matched
    RUN/pool/summary.csv            counts per source and reason
    RUN/pool/sources.json           per [[sources]] entry, the `source` labels its rows carry
    RUN/pool.parquet                the pool that goes on to generation
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from processing.pool.clean import REASONS, clean
from processing.pool.settings import PoolConfig
from processing.pool.decontam import decontaminate, load_benchmarks
from processing.pool.dedup import dedup
from processing.files import atomic_path
from processing.pool.sources import read_pool_report
from processing.progress import stage_bar


SOURCE_LABELS = "sources.json"  # in RUN/pool/: which [[sources]] entry each `source` label came from
SUMMARY_COLUMNS = ["ingested", "malformed", "undecodable", *REASONS, "exact_duplicate", "near_duplicate", "contaminated", "kept"]


@dataclass
class PoolResult:
    pool: pl.DataFrame
    summary: pl.DataFrame  # source, ingested, one column per reason, kept
    seconds: dict[str, float] = field(default_factory=dict)


def build_pool(config: PoolConfig, run_dir: Path, *, quiet: bool = False) -> PoolResult:
    """`quiet`: no progress bars (-q)."""
    folder = run_dir / "pool"
    folder.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    def timed(stage: str, rows: pl.DataFrame | None, function, *arguments):
        """One step with its bar: rows of the frame it takes, or a count of records read."""
        started = time.perf_counter()
        with stage_bar(f"pool {stage}", None if rows is None else rows.height, quiet=quiet) as bar:
            result = function(*arguments)
            if rows is not None:  # steps that report only part of their work (dedup: the near pass) end full
                bar.update(rows.height - bar.n)
        seconds[stage] = time.perf_counter() - started
        _write(result[1], folder / f"{stage}_rejects.jsonl")
        return result

    ingested, skipped, labels = timed("ingest", None, read_pool_report, config.sources)
    with atomic_path(folder / SOURCE_LABELS) as temporary:
        temporary.write_text(json.dumps(labels, ensure_ascii=False), encoding="utf-8")
    cleaned, cleaned_out = timed("clean", ingested, clean, ingested, config.clean)
    unique, duplicates, clusters = timed("dedup", cleaned, dedup, cleaned, config.dedup, config.source_priority)
    _write(clusters, folder / "dedup_clusters.jsonl")
    pool, contaminated = timed("decontam", unique, _decontaminate, unique, config)
    with atomic_path(run_dir / "pool.parquet") as temporary:
        pool.write_parquet(temporary)
    removed = [frame.select("source", "reason") for frame in (skipped, cleaned_out, duplicates, contaminated)]
    summary = _summary(ingested, pl.concat(removed), pool)
    with atomic_path(folder / "summary.csv") as temporary:
        summary.write_csv(temporary)
    return PoolResult(pool, summary, seconds)


def read_source_labels(run_dir: Path) -> list[list[str]] | None:
    """What build_pool recorded in RUN/pool/sources.json; None when it is not there."""
    try:
        return json.loads((run_dir / "pool" / SOURCE_LABELS).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def _decontaminate(frame: pl.DataFrame, config: PoolConfig):
    benchmarks = load_benchmarks(config.decontam.benchmarks)
    if benchmarks.is_empty():
        return frame, frame.clear().with_columns(pl.lit(None, pl.String).alias("reason"))  # nothing to check
    return decontaminate(frame, benchmarks, config.decontam)


def _summary(ingested: pl.DataFrame, rejects: pl.DataFrame, kept: pl.DataFrame) -> pl.DataFrame:
    """One row per source (and a total): ingested, removed per reason, kept."""
    counts = pl.concat(
        [
            ingested.group_by("source").len().with_columns(pl.lit("ingested").alias("reason")),
            rejects.group_by("source", "reason").len(),
            kept.group_by("source").len().with_columns(pl.lit("kept").alias("reason")),
        ],
        how="diagonal",
    )
    table = counts.pivot("reason", index="source", values="len").sort("source")
    missing = [pl.lit(0, pl.UInt32).alias(column) for column in SUMMARY_COLUMNS if column not in table.columns]
    table = table.with_columns(missing).select("source", *SUMMARY_COLUMNS).fill_null(0)
    total = table.select(pl.lit("total").alias("source"), pl.exclude("source").sum())
    return pl.concat([table, total])


def format_summary(summary: pl.DataFrame) -> str:
    """The summary as an aligned text table."""
    rows = [summary.columns] + [[str(value) for value in row] for row in summary.iter_rows()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(summary.columns))]
    return "\n".join(
        "  ".join(value.ljust(width) if i == 0 else value.rjust(width) for i, (value, width) in enumerate(zip(row, widths)))
        for row in rows
    )


def _write(frame: pl.DataFrame, path: Path) -> None:
    with atomic_path(path) as temporary:
        frame.write_ndjson(temporary)
