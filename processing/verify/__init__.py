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
    """Add `score`, `verify_method` and `verify_note` to rows with `response` and
    `reference_answer` (and `category` when present).

    Pass a `verifier` opened once (`with Verifier(settings) as v`) when scoring batch after
    batch, so its Math-Verify workers start once; without one, each call starts its own.
    """
    import polars as pl  # not at import time: Math-Verify workers import this package

    categories = frame["category"].to_list() if "category" in frame.columns else [None] * frame.height
    rows = list(zip(frame["reference_answer"].to_list(), frame["response"].to_list(), categories))
    if verifier is None:
        with Verifier(settings) as own:
            verdicts = own.check(rows)
    else:
        verdicts = verifier.check(rows)
    return frame.with_columns(
        pl.Series("score", [v.score for v in verdicts], pl.Float64),
        pl.Series("verify_method", [v.method for v in verdicts], pl.String),
        pl.Series("verify_note", [v.note for v in verdicts], pl.String),
    )
