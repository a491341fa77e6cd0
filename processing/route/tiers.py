"""Routing: which teacher answers each prompt, and how many times.

With [[routing.tiers]], a prompt goes to the last tier whose min_complexity is at most its
complexity (unscored prompts to the first tier). Within a tier the teachers get exactly
their weighted share by largest remainder: each teacher's count differs from
prompts × weight / total weight by less than one. Which prompts a teacher gets is decided
by sorting the tier's prompts by a seeded hash of their id and cutting that order into
consecutive blocks, so a seed always gives the same routing, and adding a prompt moves
at most a few others.

Without tiers, each prompt goes to one teacher by the [[models]] weights through a
stable hash of its id (`route`), as every build did before tiers existed.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction

import polars as pl

from processing.llm.settings import ModelConfig
from processing.route.settings import RoutingSettings, Tier, tier_labels
from processing.schema import stable_id

ASSIGNMENT_SCHEMA = {"id": pl.String, "tier": pl.String, "model": pl.String, "samples": pl.Int32}


def route(prompt_id: str, models: list[ModelConfig]) -> ModelConfig:
    """The weighted split without tiers: a stable point in [0, 1) per prompt, cut by the weights."""
    point = int(stable_id("route", prompt_id).encode().hex(), 16) % 10**9 / 10**9
    total = sum(model.weight for model in models)
    edge = 0.0
    for model in models:
        edge += model.weight / total
        if point < edge:
            return model
    return models[-1]


def assign(kept: pl.DataFrame, models: list[ModelConfig], routing: RoutingSettings) -> pl.DataFrame:
    """One row per prompt, in `kept`'s order: id, tier (its name, by default its number; null without
    tiers), model, samples.

    `kept` needs `id`, and `complexity` when routing has tiers.
    """
    if not routing.tiers:
        chosen = [route(prompt_id, models) for prompt_id in kept["id"]]
        rows = {"id": kept["id"].to_list(), "tier": [None] * len(chosen), "model": [m.name for m in chosen],
                "samples": [m.samples for m in chosen]}
        return pl.DataFrame(rows, schema=ASSIGNMENT_SCHEMA)
    samples_of = {model.name: model.samples for model in models}
    tiers = kept.select("id", tier_expression(routing.tiers).alias("tier"))
    parts = [
        _assign_tier(tiers.filter(pl.col("tier") == number)["id"].to_list(), label, tier, routing.seed, samples_of)
        for number, (label, tier) in enumerate(zip(tier_labels(routing.tiers), routing.tiers), start=1)
    ]
    order = kept.select("id").with_row_index("position")
    return pl.concat(parts).join(order, on="id").sort("position").drop("position")


def tier_expression(tiers: list[Tier]) -> pl.Expr:
    """The 1-based tier of `complexity`: the last whose min_complexity <= it; null goes to tier 1."""
    number = pl.lit(1, pl.Int32)
    for position, tier in enumerate(tiers[1:], start=2):
        number = pl.when(pl.col("complexity") >= tier.min_complexity).then(pl.lit(position, pl.Int32)).otherwise(number)
    return number


def _assign_tier(ids: list[str], label: str, tier: Tier, seed: int, samples_of: dict[str, int]) -> pl.DataFrame:
    ordered = sorted(ids, key=lambda prompt_id: _seeded(seed, prompt_id))
    teachers = list(tier.weights)
    counts = largest_remainder(len(ordered), [tier.weights[name] for name in teachers])
    models = [name for name, count in zip(teachers, counts) for _ in range(count)]
    samples = [tier.samples or samples_of[name] for name in models]
    return pl.DataFrame({"id": ordered, "tier": [label] * len(ordered), "model": models, "samples": samples},
                        schema=ASSIGNMENT_SCHEMA)


def largest_remainder(total: int, weights: list[float]) -> list[int]:
    """Split `total` in proportion to `weights`, each part off by less than one from its exact share.

    Exact fractions, so equal weights have equal remainders; ties go to the earlier weight.
    """
    exact = [Fraction(weight) * total / Fraction(sum(map(Fraction, weights))) for weight in weights]
    counts = [share.numerator // share.denominator for share in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for index in by_remainder[: total - sum(counts)]:
        counts[index] += 1
    return counts


def _seeded(seed: int, prompt_id: str) -> bytes:
    return hashlib.blake2b(f"route\0{seed}\0{prompt_id}".encode(), digest_size=8).digest()


# ---------------------------------------------------------------- the plan, as a table


def plan_table(assignment: pl.DataFrame, routing: RoutingSettings, models: list[ModelConfig]) -> str:
    """Markdown: a row per tier, a column per teacher with its prompts, share and configured weight."""
    teachers = [model.name for model in models]
    if routing.tiers:
        rows = [(f"{label} (≥ {tier.min_complexity:g})", label, tier.weights)
                for label, tier in zip(tier_labels(routing.tiers), routing.tiers)]
    else:
        rows = [("all", None, {model.name: model.weight for model in models})]
    counts = {(tier, model): n for tier, model, n in assignment.group_by("tier", "model").len().iter_rows()}
    lines = ["| tier | prompts | " + " | ".join(teachers) + " |", "|---|---:|" + "---:|" * len(teachers)]
    for heading, label, weights in rows:
        in_tier = sum(counts.get((label, name), 0) for name in teachers)
        total_weight = sum(weights.values())
        cells = [_cell(counts.get((label, name), 0), in_tier, weights.get(name, 0), total_weight) for name in teachers]
        lines.append(f"| {heading} | {in_tier} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(count: int, in_tier: int, weight: float, total_weight: float) -> str:
    share = f"{count / in_tier:.1%}" if in_tier else "–"
    return f"{count} ({share}; weight {weight:g} = {weight / total_weight:.1%})"


def requests_per_teacher(assignment: pl.DataFrame, models: list[ModelConfig]) -> dict[str, int]:
    """Requests each teacher will be sent (its prompts times their samples), in [[models]] order."""
    totals = dict(assignment.group_by("model").agg(pl.col("samples").sum()).iter_rows())
    return {model.name: int(totals.get(model.name, 0)) for model in models}
