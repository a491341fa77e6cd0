from __future__ import annotations

import polars as pl
import pytest

from processing.verify.settings import VerifyConfig
from processing.verify import score
from processing.verify.choice import extract_choice
from processing.verify.math import verify_math


@pytest.mark.parametrize(
    "response, letter",
    [
        ("分析……所以答案：B", "B"),
        ("综上，正确选项是 C。", "C"),
        ("故选D", "D"),
        ("最终答案为 \\boxed{A}", "A"),
        ("A 选项错误，B 选项也错误，答案为（C）", "C"),
        ("我不确定。", None),
    ],
)
def test_choice_letter_extraction(response, letter):
    assert extract_choice(response) == letter


def test_math_verdicts_in_chinese_text():
    pairs = [
        ("12", "所以一共有 \\boxed{12} 个苹果。"),
        ("12", "所以一共有 \\boxed{13} 个苹果。"),
        ("\\frac{3}{5}", "化简得 \\boxed{\\frac{3}{5}}"),
        ("0.6", "答案是 \\boxed{\\frac{3}{5}}"),
        ("7", "所以答案是7。"),  # a bare number glued to Hanzi: Math-Verify finds nothing
    ]
    verdicts = verify_math(pairs, timeout=20, workers=1)
    assert [v.correct for v in verdicts] == [True, False, True, True, False]
    assert verdicts[4].note == "no-answer"


def test_a_hanging_check_is_killed_and_the_rest_still_verified():
    tower = "\\boxed{\\dfrac{5^{5^{5^5}}-5}{16}}"
    pairs = [("1", "\\boxed{1}"), ("2", tower), ("3", "\\boxed{3}")]
    verdicts = verify_math(pairs, timeout=3, workers=1)
    assert verdicts[0].correct and verdicts[2].correct
    assert not verdicts[1].correct and verdicts[1].note in ("timeout", "error")


def test_score_column_10_0_or_null():
    frame = pl.DataFrame(
        {
            "reference_answer": ["5", "5", "B", "B", None],
            "response": ["\\boxed{5}", "\\boxed{6}", "答案：B", "答案：A", "随便聊聊"],
        }
    )
    scored = score(frame, VerifyConfig(timeout=20))
    assert scored["score"].to_list() == [10.0, 0.0, 10.0, 0.0, None]
    assert scored["verify_method"].to_list() == ["math", "math", "choice", "choice", None]
