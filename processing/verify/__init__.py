"""Scoring answers: 10 right, 0 wrong, null unchecked, with the method and a note.

The batch API is verifier.Verifier / verifier.method_for; `score` applies it to a frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from processing.verify.settings import VerifyConfig
from processing.verify.verifier import Verifier

if TYPE_CHECKING:
    import polars as pl


def score(frame: pl.DataFrame, settings: VerifyConfig, verifier: Verifier | None = None) -> pl.DataFrame:
    """Add `score`, `verify_method`, `verify_note` and `quality_flags` to rows with `response` and
    `reference_answer` (and `category`, `test_cases`, `prompt`, `reasoning` when present).

    Rows with test cases are run in the code sandbox; the rest are checked as math or
    multiple choice by their reference. Pass a `verifier` opened once (`with Verifier(settings)
    as v`) when scoring batch after batch, so its Math-Verify workers start once.
    """
    import polars as pl  # not at import time: Math-Verify workers import this package

    from processing.verify.code import check_code
    from processing.verify.filters import quality_flags

    categories = _column(frame, "category")
    tests = _column(frame, "test_cases")
    responses = frame["response"].to_list()
    rows = list(zip(frame["reference_answer"].to_list(), responses, categories))
    if verifier is None:
        with Verifier(settings) as own:
            verdicts = own.check(rows)
    else:
        verdicts = verifier.check(rows)
    coded = [i for i, cases in enumerate(tests) if cases]
    for i, verdict in zip(coded, check_code([(responses[i], tests[i]) for i in coded], settings.code)):
        verdicts[i] = verdict
    return frame.with_columns(
        pl.Series("score", [v.score for v in verdicts], pl.Float64),
        pl.Series("verify_method", [v.method for v in verdicts], pl.String),
        pl.Series("verify_note", [v.note for v in verdicts], pl.String),
        quality_flags(frame, settings.filters).alias("quality_flags"),
    )


def _column(frame: pl.DataFrame, name: str) -> list:
    return frame[name].to_list() if name in frame.columns else [None] * frame.height
