"""Complexity scoring against the simulator's scorers, and the easiest share dropped exactly."""

from __future__ import annotations

import random
from math import floor

import polars as pl
import pytest

from processing.llm.settings import ModelConfig
from processing.route.complexity import PARSER, SCORES, complexity_of, score_prompts, select
from processing.route.settings import ComplexitySettings
from processing.schema import stable_id
from processing.sim import SimSettings, Simulator


def scored_frame(count: int, unscored: int, seed: int = 0) -> pl.DataFrame:
    """Whole-number ratings, so most prompts tie with many others."""
    rng = random.Random(seed)
    scores = [float(rng.randint(1, 10)) for _ in range(count)] + [None] * unscored
    ids = [stable_id("p", seed, n) for n in range(count + unscored)]
    return pl.DataFrame({"id": ids, "complexity": scores}, schema={"id": pl.String, "complexity": pl.Float64})


@pytest.mark.parametrize("share", [0.3, 0.29, 0.5, 0.05])
def test_the_bottom_share_is_dropped_exactly_with_ties_split_deterministically(share):
    scored = scored_frame(1000, 37)
    kept, selection = select(scored, ComplexitySettings(drop_share=share))
    dropped = selection.dropped_rows
    assert dropped.height == selection.dropped == floor(round(share * 100) * 1000 / 100)
    assert kept.height == scored.height - dropped.height and selection.kept == kept.height
    assert set(kept["id"]).isdisjoint(dropped["id"])
    rated_kept = kept.filter(pl.col("complexity").is_not_null())["complexity"]
    assert dropped["complexity"].max() == selection.cutoff <= rated_kept.min()
    at_cutoff = scored.filter(pl.col("complexity") == selection.cutoff).height
    assert 0 < selection.kept_at_cutoff < at_cutoff, "the cut falls inside a tie, which is split"
    reordered = scored.sample(fraction=1.0, shuffle=True, seed=3)
    _, again = select(reordered, ComplexitySettings(drop_share=share))
    assert set(again.dropped_rows["id"]) == set(dropped["id"]), "the same prompts whatever the pool order"


def test_unscored_prompts_are_kept_or_dropped_by_the_setting_and_counted_either_way():
    scored = scored_frame(200, 13)
    kept, keep = select(scored, ComplexitySettings(keep_unscored=True))
    assert keep.unscored == 13 and keep.unscored_dropped == 0 and kept["complexity"].null_count() == 13
    assert keep.dropped == 60 and keep.kept == 153
    kept, lose = select(scored, ComplexitySettings(keep_unscored=False))
    assert lose.unscored == 13 and lose.unscored_dropped == 13 and kept["complexity"].null_count() == 0
    assert lose.dropped == 60 and lose.kept == 140
    assert lose.dropped_rows.group_by("reason").len().sort("reason").rows() == [("easiest", 60), ("unscored", 13)]


def test_drop_share_zero_keeps_every_prompt():
    scored = scored_frame(100, 5)
    kept, selection = select(scored, ComplexitySettings(drop_share=0))
    assert kept.height == 105 and selection.cutoff is None and selection.dropped == 0


def test_a_reply_rating_only_the_aspects_gives_their_mean():
    rating = PARSER.parse("推理深度：6，步骤数量：4，知识要求：5，约束条件：3")
    assert rating.value is None and complexity_of(rating) == 4.5


# ---------------------------------------------------------------- against the simulated scorers


def pool(count: int) -> pl.DataFrame:
    """Prompts from 5 to about 400 characters, so the simulated ratings spread over the scale."""
    rng = random.Random(7)
    prompts = [f"第{n}题：" + "请计算并解释理由。" * rng.randint(0, 45) for n in range(count)]
    return pl.DataFrame({"id": [stable_id("pool", n) for n in range(count)], "prompt": prompts})


def scorers(base_url: str, *names: str) -> list[ModelConfig]:
    return [ModelConfig(name=name, base_url=base_url, temperature=0, max_tokens=64, max_concurrency=8) for name in names]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    with Simulator(SimSettings()) as sim:
        settings = ComplexitySettings(scorers=scorers(sim.base_url, "sim-scorer-qwen", "sim-scorer-glm"))
        frame = score_prompts(pool(300), settings, run_dir, quiet=True)
    return frame, run_dir


def test_scores_are_the_mean_of_the_scorers_that_gave_one(scored):
    frame, run_dir = scored
    assert pl.read_parquet(run_dir / "complexity" / SCORES).equals(frame)
    a, b = frame["score:sim-scorer-qwen"], frame["score:sim-scorer-glm"]
    for mean, x, y in zip(frame["complexity"], a, b):
        present = [v for v in (x, y) if v is not None]
        assert mean == (sum(present) / len(present) if present else None)
    assert a.null_count() + b.null_count() > 0, "the simulated scorers sometimes give no readable rating"


def test_a_null_rating_keeps_its_replies_and_says_why(scored):
    frame, _ = scored
    for name in ("sim-scorer-qwen", "sim-scorer-glm"):
        missing = frame.filter(pl.col(f"score:{name}").is_null())
        for note, replies in missing.select(f"note:{name}", f"replies:{name}").iter_rows():
            assert note and len(replies) == 2, "asked twice: the prompt, then the stricter wording"
            assert all(not PARSER.parse(reply).read for reply in replies)
        rated = frame.filter(pl.col(f"score:{name}").is_not_null())
        assert rated[f"note:{name}"].null_count() == rated.height
        assert all(PARSER.parse(replies[-1]).read for replies in rated[f"replies:{name}"])


def test_longer_prompts_are_rated_more_complex_by_the_simulator(scored):
    frame, _ = scored
    lengths = pool(300).select("id", pl.col("prompt").str.len_chars().alias("length"))
    joined = frame.join(lengths, on="id").drop_nulls("complexity")
    assert joined.select(pl.corr("length", "complexity", method="spearman")).item() > 0.8


def test_other_aggregates(tmp_path):
    with Simulator(SimSettings()) as sim:
        names = ("sim-scorer-qwen", "sim-scorer-glm")
        lowest = score_prompts(pool(60), ComplexitySettings(scorers=scorers(sim.base_url, *names), aggregate="min"),
                               tmp_path, quiet=True)
    a, b = lowest["score:sim-scorer-qwen"], lowest["score:sim-scorer-glm"]
    expected = [min(v for v in (x, y) if v is not None) if (x, y) != (None, None) else None for x, y in zip(a, b)]
    assert lowest["complexity"].to_list() == expected
