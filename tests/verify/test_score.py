"""`score(frame, settings)`: the columns the pipeline writes."""

from __future__ import annotations

import polars as pl

from processing.verify import score
from processing.verify.settings import VerifyConfig


def test_score_adds_score_method_and_note():
    frame = pl.DataFrame(
        {
            "reference_answer": ["5", "5", "B", "B", None, "5", "12"],
            "response": [r"\boxed{5}", r"\boxed{6}", "答案：B", "答案：A", "随便聊聊", "我不知道", "答案：12"],
            "category": ["math", "math", "exam", "exam", "general", "math", "general"],
            "keep": list(range(7)),
        }
    )
    scored = score(frame, VerifyConfig(timeout=30, workers=1))
    assert scored["score"].to_list() == [10.0, 0.0, 10.0, 0.0, None, None, None]
    assert scored["verify_method"].to_list() == ["math", "math", "choice", "choice", None, "math", None]
    assert scored["verify_note"].to_list() == [None, None, None, None, None, "no-answer", None]
    assert scored["keep"].to_list() == list(range(7))
    assert scored.schema["score"] == pl.Float64


def test_score_with_an_open_verifier_batch_after_batch(verifier):
    settings = VerifyConfig(timeout=30, workers=2)
    batches = [
        pl.DataFrame({"reference_answer": [r"2\sqrt{3}"], "response": [r"\boxed{\sqrt{12}}"]}),
        pl.DataFrame({"reference_answer": [r"2\sqrt{3}", "C"], "response": [r"\boxed{\sqrt{13}}", "故选C"]}),
    ]
    scored = [score(batch, settings, verifier)["score"].to_list() for batch in batches]
    assert scored == [[10.0], [0.0, 10.0]]
