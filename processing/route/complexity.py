"""Complexity scoring: scorer models rate each prompt 1–10, and the easiest share is dropped.

Every scorer is called through the engine with its own journal under RUN/complexity/, so
scoring is concurrent, rate-limited and resumable like generation. Ratings are read by the
shared parser (processing/llm/rating.py); an unreadable reply is asked again with a
stricter wording, then left null with its replies kept.

Outputs: RUN/complexity/scores.parquet (id, complexity, and per scorer its rating,
the reason when there is none, and its replies).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from decimal import Decimal
from math import floor
from pathlib import Path

import polars as pl

from processing.files import atomic_path
from processing.llm.journal import Journal, journal_path
from processing.llm.rating import Messages, Outcome, Rating, RatingParser, Scale, Wording, ask_ratings
from processing.progress import GenerationProgress
from processing.route.settings import ComplexitySettings

SCALE = Scale(1, 10)
FOLDER = "complexity"
SCORES = "scores.parquet"
# The prompt frames the instruction with these marks, so a reply is never mistaken for it;
# the simulator's scorer mode finds the instruction by them too.
INSTRUCTION_START, INSTRUCTION_END = "【指令开始】", "【指令结束】"

SCORING_PROMPT = """你是一名指令复杂度评估员。请评估下面这条用户指令的复杂度，用 1 到 10 的整数打分。

综合考虑四个方面：
- 推理深度：需要几层推理、推导或分析；
- 步骤数量：完成任务需要多少个步骤；
- 知识要求：需要的知识有多专业、多冷门；
- 约束条件：有多少必须同时满足的限制（格式、字数、前提条件等）。

评分标准：
1–2 分：一步可答的常识或事实，例如“中国的首都是哪里？”
3–4 分：两三步的简单计算或简短写作，例如“一支笔3元，买5支要多少钱？”
5–6 分：需要多步推理或一定的专业知识，例如一般的应用题、解释一个科学概念
7–8 分：推理链较长、要综合多个知识点或同时满足多项约束，例如竞赛入门题、有多项要求的写作
9–10 分：需要深入的专业知识和很长的严密推理，例如奥数难题、复杂的证明、系统设计

只评估指令本身有多复杂，不要回答或执行指令。只输出一个整数，不要输出任何解释。

{start}
{prompt}
{end}"""

REASK_PROMPT = """请给下面这条指令的复杂度打分：1 分最简单，10 分最复杂。只回答一个阿拉伯数字（例如：6），不要输出其他任何文字。

{start}
{prompt}
{end}"""

TRUNCATION_MARK = "……（后文省略）"
# Replies that rate each aspect separately come back as parts; their mean is the rating.
DIMENSIONS = {
    "reasoning": ("推理深度", "推理", "reasoning"),
    "steps": ("步骤数量", "步骤数", "步骤", "steps"),
    "knowledge": ("知识要求", "知识", "knowledge"),
    "constraints": ("约束条件", "约束", "constraints"),
}
PARSER = RatingParser(SCALE, labels=("复杂度评分", "复杂度", "复杂程度", "难度", "complexity", "difficulty"),
                      dimensions=DIMENSIONS)


def scoring_messages(prompt: str, settings: ComplexitySettings) -> Messages:
    return (("user", _framed(SCORING_PROMPT, prompt, settings)),)


def reask_messages(prompt: str, settings: ComplexitySettings) -> Messages:
    return (("user", _framed(REASK_PROMPT, prompt, settings)),)


def _framed(template: str, prompt: str, settings: ComplexitySettings) -> str:
    if len(prompt) > settings.max_prompt_chars:
        prompt = prompt[: settings.max_prompt_chars] + TRUNCATION_MARK
    return template.format(start=INSTRUCTION_START, end=INSTRUCTION_END, prompt=prompt)


def complexity_of(rating: Rating) -> float | None:
    """The overall rating, or the mean of the aspects when the reply rated only those."""
    if rating.value is not None or not rating.parts:
        return rating.value
    return sum(rating.parts.values()) / len(rating.parts)


# ---------------------------------------------------------------- scoring


def score_prompts(pool: pl.DataFrame, settings: ComplexitySettings, run_dir: Path, *, quiet: bool = False,
                  retry_failed: bool = False) -> pl.DataFrame:
    """Rate every pool prompt with every scorer; writes and returns RUN/complexity/scores.parquet.

    Columns: id, complexity (aggregate of the scorers that gave a rating; null when none
    did), then per scorer `score:NAME`, `note:NAME` (why it gave none), `replies:NAME`.
    """
    prompts = list(pool.select("id", "prompt").iter_rows())
    folder = run_dir / FOLDER
    outcomes = asyncio.run(_score_all(prompts, settings, folder, quiet, retry_failed))
    scored = _table(pool["id"], outcomes, settings.aggregate)
    with atomic_path(folder / SCORES) as temporary:
        scored.write_parquet(temporary)
    return scored


async def _score_all(prompts: list[tuple[str, str]], settings: ComplexitySettings, folder: Path, quiet: bool,
                     retry_failed: bool) -> dict[str, dict[str, Outcome]]:
    wording = Wording(lambda prompt: scoring_messages(prompt, settings), lambda prompt: reask_messages(prompt, settings))
    journals = [Journal(journal_path(folder, scorer.name)) for scorer in settings.scorers]
    progress = GenerationProgress(0, quiet, description="score")
    try:
        results = await asyncio.gather(*(
            ask_ratings(prompts, wording, scorer, journal, PARSER, reasks=settings.reasks, retry_failed=retry_failed,
                        progress=progress)
            for scorer, journal in zip(settings.scorers, journals)
        ))
    finally:
        progress.close()
        for journal in journals:
            journal.close()
    return {scorer.name: result for scorer, result in zip(settings.scorers, results)}


def _table(ids: pl.Series, outcomes: dict[str, dict[str, Outcome]], aggregate: str) -> pl.DataFrame:
    columns = [ids.alias("id")]
    for name, by_id in outcomes.items():
        results = [by_id[prompt_id] for prompt_id in ids]
        columns += [
            pl.Series(f"score:{name}", [complexity_of(r.rating) for r in results], pl.Float64),
            pl.Series(f"note:{name}", [r.rating.reason for r in results], pl.String),
            pl.Series(f"replies:{name}", [list(r.replies) for r in results], pl.List(pl.String)),
        ]
    table = pl.DataFrame(columns)
    ratings = pl.concat_list([f"score:{name}" for name in outcomes]).list.drop_nulls()
    combined = getattr(ratings.list, aggregate)()
    return table.select("id", combined.cast(pl.Float64).alias("complexity"), pl.exclude("id"))


# ---------------------------------------------------------------- dropping the easiest share


@dataclass(frozen=True)
class Selection:
    """What the cut did, for the summary and the card."""

    prompts: int
    scored: int
    unscored: int
    dropped: int  # the easiest scored prompts
    unscored_dropped: int  # 0 when keep_unscored
    kept: int
    drop_share: float
    cutoff: float | None  # the highest complexity dropped; None when nothing was
    kept_at_cutoff: int  # prompts rated exactly `cutoff` that were kept: ties are split by id hash
    dropped_rows: pl.DataFrame  # id, complexity, reason ("easiest" or "unscored")


def select(scored: pl.DataFrame, settings: ComplexitySettings) -> tuple[pl.DataFrame, Selection]:
    """Drop floor(drop_share × scored prompts) of the lowest-rated; returns (kept rows, what was done).

    Order: complexity, then a hash of the id, so equal ratings are cut the same way every
    run, whatever the pool's order. Unscored prompts are kept or dropped by keep_unscored.
    """
    rated = scored.filter(pl.col("complexity").is_not_null())
    unscored = scored.filter(pl.col("complexity").is_null())
    count = floor(Decimal(str(settings.drop_share)) * rated.height)  # exact: 0.29 × 100 is 29, not 28
    ordered = rated.with_columns(pl.Series("tie", [_tiebreak(i) for i in rated["id"]], pl.UInt64)).sort("complexity", "tie")
    easiest = ordered.head(count).select("id", "complexity", pl.lit("easiest").alias("reason"))
    cutoff = easiest["complexity"].max() if count else None
    lost_unscored = unscored.clear() if settings.keep_unscored else unscored
    dropped = pl.concat([easiest, lost_unscored.select("id", "complexity", pl.lit("unscored").alias("reason"))])
    kept = scored.filter(~pl.col("id").is_in(dropped["id"].implode()))
    at_cutoff = kept.filter(pl.col("complexity") == cutoff).height if cutoff is not None else 0
    selection = Selection(scored.height, rated.height, unscored.height, count, lost_unscored.height, kept.height,
                          settings.drop_share, cutoff, at_cutoff, dropped)
    return kept, selection


def _tiebreak(prompt_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"complexity-cut\0{prompt_id}".encode(), digest_size=8).digest(), "big")


def distribution(scored: pl.DataFrame) -> list[tuple[str, int]]:
    """Prompts per unit of complexity ([1, 2), …, [9, 10), 10), then the unscored."""
    bins = scored.select(pl.col("complexity").floor().clip(SCALE.low, SCALE.high).alias("bin"))["bin"]
    counts = dict(bins.value_counts().iter_rows())
    rows = [(f"[{low}, {low + 1})", counts.get(float(low), 0)) for low in range(int(SCALE.low), int(SCALE.high))]
    rows.append((f"{SCALE.high:g}", counts.get(float(SCALE.high), 0)))
    rows.append(("unscored", counts.get(None, 0)))
    return rows
