"""Runs the stages in a run directory: pool → generate → split → verify → shards → card."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from processing import verify
from processing.publish import card, shards
from processing.config import Config
from processing.llm.settings import ModelConfig
from processing.llm.journal import Job, Journal, pending, run_jobs
from processing.progress import GenerationProgress
from processing.schema import FULL_SCHEMA, derive, stable_id
from processing.pool.run import build_pool


@dataclass
class Summary:
    prompts: int
    rows: int
    per_source: dict[str, int]
    scores: dict[str, int]
    failure_reasons: dict[str, int]  # why requests failed, most common first
    out_dir: Path
    run_dir: Path

    @property
    def failed(self) -> int:
        return sum(self.failure_reasons.values())


def build(config: Config, out_dir: Path, run_dir: Path, *, quiet: bool = False, simulated: bool = False,
          retry_failed: bool = False) -> Summary:
    run_dir.mkdir(parents=True, exist_ok=True)
    pool = build_pool(config, run_dir).pool  # ingest, clean, dedup, decontam; writes pool.parquet
    jobs = make_jobs(pool, config)
    wanted = {job.key for jobs_of_model in jobs.values() for job in jobs_of_model}
    journal = Journal(run_dir / "journal.jsonl")
    try:
        asyncio.run(_generate_all(jobs, config.models, journal, retry_failed, quiet))
        finished = list(journal.finished(wanted))
        failures = journal.write_failures(run_dir / "failures.jsonl", wanted)
    finally:
        journal.close()
    rows = assemble(pool, finished, config)
    _write_outputs(rows, config, out_dir, simulated)
    return _summarise(pool, rows, failures, out_dir, run_dir)


def make_jobs(pool: pl.DataFrame, config: Config) -> dict[str, list[Job]]:
    """Route each prompt to one teacher by a stable weighted hash, `samples` times."""
    jobs: dict[str, list[Job]] = {model.name: [] for model in config.models}
    for prompt_id, prompt, category in pool.select("id", "prompt", "category").iter_rows():
        model = route(prompt_id, config.models)
        messages = teacher_messages(prompt, category, config)
        jobs[model.name].extend(Job(prompt_id, model.name, sample, messages) for sample in range(model.samples))
    return jobs


def route(prompt_id: str, models: list[ModelConfig]) -> ModelConfig:
    point = int(stable_id("route", prompt_id).encode().hex(), 16) % 10**9 / 10**9
    total = sum(model.weight for model in models)
    edge = 0.0
    for model in models:
        edge += model.weight / total
        if point < edge:
            return model
    return models[-1]


def teacher_messages(prompt: str, category: str, config: Config) -> tuple[tuple[str, str], ...]:
    """What the teacher sees: no system prompt by default; the math suffix where configured."""
    text = prompt
    if category in config.generation.suffix_categories and config.generation.math_suffix:
        text = f"{prompt}\n{config.generation.math_suffix}"
    messages = [("user", text)]
    if config.generation.system_prompt:
        messages.insert(0, ("system", config.generation.system_prompt))
    return tuple(messages)


async def _generate_all(jobs: dict[str, list[Job]], models: list[ModelConfig], journal: Journal,
                        retry_failed: bool, quiet: bool) -> None:
    todo = {name: pending(model_jobs, journal, retry_failed) for name, model_jobs in jobs.items()}
    total = sum(map(len, jobs.values()))
    progress = GenerationProgress(total, quiet, done=total - sum(map(len, todo.values())))
    try:
        await asyncio.gather(*(run_jobs(todo[model.name], model, journal, progress) for model in models))
    finally:
        progress.close()


def assemble(pool: pl.DataFrame, finished: list[dict], config: Config) -> pl.DataFrame:
    """Join answers to their prompts, verify, and shape the full-config rows."""
    generations = pl.DataFrame(
        finished,
        schema={"prompt_id": pl.String, "model": pl.String, "sample": pl.Int32, "reasoning": pl.String,
                "response": pl.String, "finish_reason": pl.String, "prompt_tokens": pl.Int64,
                "completion_tokens": pl.Int64, "reasoning_tokens": pl.Int64, "created_at": pl.String},
    )
    joined = generations.join(pool.rename({"id": "prompt_id"}), on="prompt_id", how="inner")
    joined = joined.sort("prompt_id", "model", "sample").with_columns(
        pl.Series("id", [stable_id(*key) for key in joined.select("prompt_id", "model", "sample").iter_rows()], pl.String),
        pl.lit(None, pl.Float64).alias("complexity"),
    )
    scored = verify.score(joined, config.verify)
    return scored.select(FULL_SCHEMA.names)


def _write_outputs(rows: pl.DataFrame, config: Config, out_dir: Path, simulated: bool) -> None:
    table = rows.to_arrow().cast(FULL_SCHEMA)
    for name in config.output.configs:
        shards.write_config(derive(table, name), out_dir, name, config.output.max_shard_bytes, config.output.row_group_bytes)
    card.write_card(config, rows, out_dir, simulated)


def _summarise(pool: pl.DataFrame, rows: pl.DataFrame, failures: list[dict], out_dir: Path, run_dir: Path) -> Summary:
    per_source = dict(rows.group_by("source").len().sort("source").iter_rows())
    scores = {("unscored" if s is None else f"{s:g}"): n for s, n in rows.group_by("score").len().sort("score").iter_rows()}
    reasons = dict(Counter(failure["error"] for failure in failures).most_common())
    return Summary(pool.height, rows.height, per_source, scores, reasons, out_dir, run_dir)
