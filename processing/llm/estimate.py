"""What a run will cost before it starts: requests, tokens and price per teacher.

Prompt tokens are counted from the messages as they will be sent, at one token per Han
character and one per four other characters (Chinese tokenizers of the teachers named in
REFERENCE.md land near one token per character; no tokenizer is downloaded). Completion
tokens come from each model's `expected_completion_tokens`, prices from its
`input_price` / `output_price`, with `batch_discount` for batch mode.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from processing.llm.engine import Job
from processing.llm.settings import ModelConfig

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def estimate_tokens(text: str) -> int:
    han = len(_HAN.findall(text))
    return han + (len(text) - han + 3) // 4


@dataclass
class Estimate:
    model: str
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None


def estimate(jobs: Iterable[Job], models: list[ModelConfig]) -> list[Estimate]:
    by_name = {model.name: model for model in models}
    estimates = {model.name: Estimate(model.name) for model in models}
    for job in jobs:
        row = estimates[job.model]
        row.requests += 1
        row.prompt_tokens += sum(estimate_tokens(content) for _, content in job.messages)
    for row in estimates.values():
        model = by_name[row.model]
        row.completion_tokens = row.requests * model.expected_completion_tokens
        if model.input_price is not None or model.output_price is not None:
            discount = model.batch_discount if model.mode == "batch" else 1.0
            price = row.prompt_tokens * (model.input_price or 0) + row.completion_tokens * (model.output_price or 0)
            row.cost = price / 1e6 * discount
    return list(estimates.values())


def format_estimates(rows: list[Estimate]) -> str:
    lines = ["| teacher | requests | prompt tokens | completion tokens (expected) | cost |", "|---|---:|---:|---:|---:|"]
    for row in rows:
        cost = "no price set" if row.cost is None else f"{row.cost:,.2f}"
        lines.append(f"| {row.model} | {row.requests:,} | {row.prompt_tokens:,} | {row.completion_tokens:,} | {cost} |")
    priced = [row.cost for row in rows if row.cost is not None]
    if priced:
        lines.append(f"estimated total: {sum(priced):,.2f} (in the currency of the configured prices)")
    return "\n".join(lines)
