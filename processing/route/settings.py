"""Settings of complexity scoring ([complexity]) and score-tiered routing ([routing])."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from processing.llm.settings import ModelConfig
from processing.settings import Strict

LOWEST_SCORE = 1  # the complexity scale is 1–10 (processing/route/complexity.py)


class ComplexitySettings(Strict):
    """Scoring is on when at least one scorer is listed; without scorers nothing is scored or dropped."""

    scorers: list[ModelConfig] = Field([], description="models rating each prompt's complexity; same keys as [[models]]")
    drop_share: float = Field(0.3, ge=0, lt=1, description="the easiest share of scored prompts is dropped")
    keep_unscored: bool = Field(True, description="keep prompts no scorer could rate (they go to the first tier)")
    aggregate: Literal["mean", "median", "min", "max"] = Field(
        "mean", description="how the scorers' ratings of one prompt combine; over the scorers that gave one")
    reasks: int = Field(1, ge=0, description="times an unreadable rating is asked again with a stricter wording")
    max_prompt_chars: int = Field(4000, ge=100, description="longer prompts are cut to this length for scoring")

    @field_validator("scorers")
    @classmethod
    def _distinct_names(cls, scorers: list[ModelConfig]) -> list[ModelConfig]:
        names = [scorer.name for scorer in scorers]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"scorer names must differ (each keeps its own journal): {', '.join(repeated)}")
        return scorers


class Tier(Strict):
    name: str | None = Field(None, description="the label in the `tier` column and the card; default: its number (1, 2, …)")
    min_complexity: float = Field(ge=0, le=10, description="a prompt goes to the last tier whose min_complexity <= its score")
    weights: dict[str, float] = Field(min_length=1, description="[[models]] name -> share of this tier's prompts")
    samples: int | None = Field(None, ge=1, description="answers per prompt in this tier; default: the model's own samples")

    @field_validator("weights")
    @classmethod
    def _some_weight(cls, weights: dict[str, float]) -> dict[str, float]:
        negative = [name for name, weight in weights.items() if weight < 0]
        if negative:
            raise ValueError(f"weights must not be negative: {', '.join(negative)}")
        if not sum(weights.values()) > 0:
            raise ValueError("at least one weight must be positive")
        return weights


class RoutingSettings(Strict):
    """Without tiers every prompt goes to one teacher by the [[models]] weights, as a stable hash decides."""

    tiers: list[Tier] = []
    seed: int = Field(0, description="changes which prompts go to which teacher, never how many")

    @model_validator(mode="after")
    def _ordered_tiers(self) -> RoutingSettings:
        bounds = [tier.min_complexity for tier in self.tiers]
        if any(later <= earlier for earlier, later in zip(bounds, bounds[1:])):
            raise ValueError(f"tiers: min_complexity must increase from tier to tier, got {bounds}")
        labels = tier_labels(self.tiers)
        if len(set(labels)) < len(labels):
            raise ValueError(f"tiers: names must differ, got {labels}")
        if bounds and bounds[0] > LOWEST_SCORE:
            raise ValueError(f"tiers: the first tier's min_complexity must be at most {LOWEST_SCORE}, so every "
                             f"prompt has a tier; drop easy prompts with complexity.drop_share instead")
        return self


def tier_labels(tiers: list[Tier]) -> list[str]:
    return [tier.name or str(number) for number, tier in enumerate(tiers, start=1)]


def check_routing(routing: RoutingSettings, complexity: ComplexitySettings, teachers: list[str]) -> None:
    """Refuse tiers that name no [[models]] teacher, or that have no scores to go by."""
    if routing.tiers and not complexity.scorers:
        raise ValueError("routing.tiers go by complexity scores: add [[complexity.scorers]]")
    for number, tier in enumerate(routing.tiers):
        unknown = [name for name in tier.weights if name not in teachers]
        if unknown:
            raise ValueError(f"routing.tiers[{number}].weights: {', '.join(map(repr, unknown))} is not a [[models]] "
                             f"name (models: {', '.join(teachers)})")
