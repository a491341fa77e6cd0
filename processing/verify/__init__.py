"""Scoring answers: math by Math-Verify, multiple choice by letter; 10 right, 0 wrong, null unchecked."""

from __future__ import annotations

import polars as pl

from processing.verify.settings import VerifyConfig
from processing.verify.choice import is_choice_answer, verify_choice
from processing.verify.math import verify_math

RIGHT, WRONG = 10.0, 0.0


def score(frame: pl.DataFrame, settings: VerifyConfig) -> pl.DataFrame:
    """Add `score`, `verify_method` and `verify_note` to rows with `response` and `reference_answer`."""
    references = frame["reference_answer"].to_list()
    responses = frame["response"].to_list()
    methods = [_method(reference) for reference in references]
    scores: list[float | None] = [None] * frame.height
    notes: list[str | None] = [None] * frame.height

    for i, method in enumerate(methods):
        if method == "choice":
            scores[i] = RIGHT if verify_choice(references[i], responses[i]) else WRONG

    math_rows = [i for i, method in enumerate(methods) if method == "math"]
    verdicts = verify_math([(references[i], responses[i]) for i in math_rows], settings.timeout, settings.workers)
    for i, verdict in zip(math_rows, verdicts):
        scores[i] = RIGHT if verdict.correct else WRONG
        notes[i] = verdict.note

    return frame.with_columns(
        pl.Series("score", scores, pl.Float64),
        pl.Series("verify_method", methods, pl.String),
        pl.Series("verify_note", notes, pl.String),
    )


def _method(reference: str | None) -> str | None:
    if reference is None or not reference.strip():
        return None
    return "choice" if is_choice_answer(reference) else "math"
