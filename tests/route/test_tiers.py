"""Score-tiered routing: exact proportions, determinism for a seed, tier bounds, the plan table."""

from __future__ import annotations

import random
from collections import Counter

import polars as pl
import pytest

from processing.llm.settings import ModelConfig
from processing.route.settings import RoutingSettings, Tier
from processing.route.tiers import assign, largest_remainder, plan_table, requests_per_teacher
from processing.schema import stable_id

TEACHERS = ["deepseek-reasoner", "Qwen/QwQ-32B", "THUDM/GLM-Z1-32B-0414"]
MODELS = [ModelConfig(name=name, base_url="http://teacher/v1", samples=1 + (name == "Qwen/QwQ-32B")) for name in TEACHERS]
ROUTING = RoutingSettings(tiers=[
    Tier(min_complexity=0, weights=dict.fromkeys(TEACHERS, 1)),
    Tier(min_complexity=5, weights={"deepseek-reasoner": 2, "Qwen/QwQ-32B": 1, "THUDM/GLM-Z1-32B-0414": 1}),
    Tier(min_complexity=7.5, weights={"deepseek-reasoner": 3, "Qwen/QwQ-32B": 1.5, "THUDM/GLM-Z1-32B-0414": 0.7},
         samples=3),
], seed=11)


def prompts(count: int, seed: int = 0) -> pl.DataFrame:
    rng = random.Random(seed)
    scores = [rng.choice([None, *[value / 4 for value in range(4, 41)]]) for _ in range(count)]
    return pl.DataFrame({"id": [stable_id("prompt", seed, n) for n in range(count)], "complexity": scores},
                        schema={"id": pl.String, "complexity": pl.Float64})


def test_proportions_hold_within_one_prompt_per_tier_and_teacher_on_10000_prompts():
    kept = prompts(10_000)
    routed = assign(kept, MODELS, ROUTING)
    assert routed["id"].to_list() == kept["id"].to_list(), "one row per prompt, in the pool's order"
    counts = Counter(routed.select("tier", "model").iter_rows())
    for number, tier in enumerate(ROUTING.tiers, start=1):
        in_tier = routed.filter(pl.col("tier") == str(number)).height
        assert in_tier > 1000
        total_weight = sum(tier.weights.values())
        for teacher, weight in tier.weights.items():
            exact = in_tier * weight / total_weight
            assert abs(counts[(str(number), teacher)] - exact) < 1, (number, teacher, exact)


def test_a_prompt_goes_to_the_last_tier_whose_min_complexity_is_at_most_its_score():
    kept = pl.DataFrame({"id": ["a", "b", "c", "d", "e", "f"], "complexity": [None, 1.0, 4.99, 5.0, 7.25, 7.5]})
    routed = assign(kept, MODELS, ROUTING)
    assert routed["tier"].to_list() == ["1", "1", "1", "2", "2", "3"], "null complexity goes to the first tier"


def test_samples_come_from_the_tier_else_from_the_model():
    routed = assign(prompts(3000), MODELS, ROUTING)
    assert set(routed.filter(pl.col("tier") == "3")["samples"]) == {3}
    lower = routed.filter(pl.col("tier") != "3")
    expected = {model.name: model.samples for model in MODELS}
    assert all(samples == expected[model] for model, samples in lower.select("model", "samples").iter_rows())
    requests = requests_per_teacher(routed, MODELS)
    assert list(requests) == TEACHERS
    assert sum(requests.values()) == routed["samples"].sum()


def test_routing_is_deterministic_for_a_seed_and_the_seed_moves_prompts_not_counts():
    kept = prompts(2000)
    first = assign(kept, MODELS, ROUTING)
    shuffled = kept.sample(fraction=1.0, shuffle=True, seed=5)
    again = assign(shuffled, MODELS, ROUTING).sort("id")
    assert first.sort("id").equals(again), "the same seed routes each prompt the same way, whatever the pool order"
    other = assign(kept, MODELS, ROUTING.model_copy(update={"seed": 12}))
    assert not other["model"].equals(first["model"])
    count = lambda frame: Counter(frame.select("tier", "model").iter_rows())  # noqa: E731
    assert count(other) == count(first)


def test_one_more_prompt_moves_only_a_few_others():
    kept = prompts(2000)
    before = dict(assign(kept, MODELS, ROUTING).select("id", "model").iter_rows())
    grown = pl.concat([kept, pl.DataFrame({"id": ["newcomer"], "complexity": [6.0]})])
    after = dict(assign(grown, MODELS, ROUTING).select("id", "model").iter_rows())
    moved = sum(before[prompt_id] != after[prompt_id] for prompt_id in before)
    assert moved <= len(TEACHERS)


def test_largest_remainder_is_exact_and_sums_to_the_total():
    for total in range(0, 50):
        for weights in ([1, 1, 1], [2, 1, 1], [3, 1.5, 0.7], [1, 0, 2]):
            counts = largest_remainder(total, weights)
            assert sum(counts) == total
            assert all(abs(c - total * w / sum(weights)) < 1 for c, w in zip(counts, weights))
    assert largest_remainder(10, [1, 0, 2])[1] == 0, "a zero weight gets nothing"


# Routes the weighted split gave before tiers existed; runs without tiers must keep them.
ROUTED_BEFORE = {"NLz8rBp114ZD": "b", "GVaZLdTX36J5": "b", "IlqRnzqNHeye": "b", "lTzo7OVHv7I3": "b",
                 "UW58-vLWFwmj": "b", "JyRVSdUdbXSv": "a", "2pVyThZsV3z3": "a", "tuYinosC1mqm": "a",
                 "XQtfD3mI1HrG": "a", "ZBZFq-7Xgmck": "c", "OYGznMypuaqI": "a", "EfGaMDOIPMxi": "c"}


def test_without_tiers_routing_is_the_weighted_split_of_earlier_builds():
    models = [ModelConfig(name=name, base_url="http://x/v1", weight=weight) for name, weight in [("a", 1), ("b", 2), ("c", 1)]]
    kept = pl.DataFrame({"id": list(ROUTED_BEFORE)})
    routed = assign(kept, models, RoutingSettings())
    assert dict(routed.select("id", "model").iter_rows()) == ROUTED_BEFORE
    assert routed["tier"].null_count() == routed.height
    many = assign(prompts(6000), models, RoutingSettings())
    shares = Counter(many["model"])
    assert shares["b"] / 6000 == pytest.approx(0.5, abs=0.03)


def test_plan_table_has_a_row_per_tier_and_a_column_per_teacher_next_to_the_weights():
    routed = assign(prompts(1000), MODELS, ROUTING)
    table = plan_table(routed, ROUTING, MODELS).splitlines()
    assert table[0] == "| tier | prompts | " + " | ".join(TEACHERS) + " |"
    rows = [line.split(" | ") for line in table[2:]]
    assert len(rows) == len(ROUTING.tiers)
    for number, row in enumerate(rows, start=1):
        tier = routed.filter(pl.col("tier") == str(number))
        assert row[0] == f"| {number} (≥ {ROUTING.tiers[number - 1].min_complexity:g})"
        assert int(row[1]) == tier.height
        for teacher, cell in zip(TEACHERS, row[2:]):
            assert cell.startswith(f"{tier.filter(pl.col('model') == teacher).height} (")
            assert f"weight {ROUTING.tiers[number - 1].weights[teacher]:g} = " in cell


def test_named_tiers_label_the_column_and_the_table():
    named = RoutingSettings(tiers=[tier.model_copy(update={"name": name}) for tier, name in
                                   zip(ROUTING.tiers, ["easy", "medium", "hard"])], seed=11)
    routed = assign(prompts(500), MODELS, named)
    assert set(routed["tier"]) == {"easy", "medium", "hard"}
    assert "| hard (≥ 7.5) |" in plan_table(routed, named, MODELS)
    numbered = assign(prompts(500), MODELS, ROUTING)
    assert routed["model"].equals(numbered["model"]), "a name changes the label, not the routing"
