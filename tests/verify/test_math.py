"""Math verdicts through the public batch API, one row per notation the old verifier misread."""

from __future__ import annotations

import pytest

TOWER = r"\dfrac{5^{5^{5^5}}-5}{16}"

# (reference, response, score, note)
TABLE = [
    # references Math-Verify misread on its own
    (r"1-\mathrm{i}", r"所以 $z=\boxed{1-i}$。", 10, None),
    (r"1-\mathrm{i}", r"所以 $z=\boxed{1+i}$。", 0, None),
    (r"1-\mathrm{i}", r"\boxed{1}", 0, None),
    ("24,112", r"\boxed{24,112}", 10, None),
    ("24,112", "答案：24和112", 10, None),
    ("24,112", r"\boxed{24112}", 0, None),
    ("24,112", r"\boxed{24}", 0, None),
    ("ln2", r"\boxed{\ln 2}", 10, None),
    ("ln2", "所以最小值为 $\\ln 2$。", 10, None),
    ("ln2", r"\boxed{2}", 0, None),
    ("-3 m", r"\boxed{-3m}", 10, None),
    ("-3 m", r"\boxed{-3}", 0, None),
    (r"1\,200", r"\boxed{1200}", 10, None),
    (r"1\,200", r"\boxed{201}", 0, None),
    # replies: plain Chinese conclusions, Chinese and units in the box, separators
    ("3750", "答案：3750", 10, None),
    ("12", "最终答案是12。", 10, None),
    ("12", "所以共有12个。", 10, None),
    ("12", "数据有 12、1/4、3……答案：11吨", 0, None),
    ("25", r"\boxed{25千克}", 10, None),
    ("4(5/11)", r"\boxed{4又\frac{5}{11}}", 10, None),
    ("4(5/11)", "答案是4又5/11。", 10, None),
    ("4(5/11)", r"\boxed{\frac{49}{11}}", 10, None),
    ("12", r"\boxed{\text{奶糖有 12 块}}", 10, None),
    ("825", r"\boxed{825米}", 10, None),
    ("825", r"\boxed{825\text{ m}}", 10, None),
    ("1200", r"\boxed{1,200}", 10, None),
    ("1200", r"\boxed{1 200}", 10, None),
    ("1200", r"\boxed{1{,}200}", 10, None),
    ("1200", "答案：１２００元", 10, None),
    ("(3/5)", r"\boxed{0.6}", 10, None),
    ("150%", r"\boxed{1.5}", 10, None),
    ("150%", r"所以是 \boxed{150}\%", 10, None),
    ("150%", r"\boxed{150}", 0, None),
    ("0.25", "答案是25%。", 10, None),
    ("x=1或x=2", "解得 $x_1=2$，$x_2=1$。", 10, None),
    ("x=1或x=2", r"\boxed{x=1}", 0, None),
    ("$5$;$10$", r"$\boxed{5}$，$\boxed{10}$", 10, None),
    ("12", "答案是十二。", 10, None),
    ("(3/5)", "答案是五分之三。", 10, None),
    ("12", "所以一共有 \\boxed{12} 个苹果。\n\n验算：12×3=36，正确。", 10, None),
    ("12", "先得 \\boxed{12}。……\n\n所以最终答案是 \\boxed{13}", 0, None),
    ("(1/3)", r"\boxed{0.33}", 10, None),
    ("(1/3)", r"\boxed{0.3}", 0, None),
    ("45", "**答案：44**\n\n解析：有人以为答案是45，这是错误的。", 0, None),
    ("45", "135 ÷ 3 = 45\n45 - 1 = 44\n44", 0, None),
    (r"\textcircled{1}\textcircled{3}", r"\boxed{①③}", 10, None),
    (r"\textcircled{1}\textcircled{3}", r"\boxed{①②③}", 0, None),
    # Math-Verify's side
    (r"2\sqrt{3}", r"\boxed{\sqrt{12}}", 10, None),
    (r"\frac{\sqrt{2}}{2}", r"\boxed{\frac{1}{\sqrt{2}}}", 10, None),
    ("y=2x", r"\boxed{y=2x+1}", 0, None),
    (r"\frac{x^{2}}{4}-\frac{y^{2}}{5}=1", r"\boxed{\frac{x^{2}}{4}-\frac{y^{2}}{3}=1}", 0, None),
    (r"(-\infty,0)\cup(0,1]", r"\boxed{(-\infty, 0) \cup (0, 1]}", 10, None),
    # no verdict
    ("12", "先算 3×4=12，再减去 1……这里我不确定。", None, "no-answer"),
    ("12", "", None, "no-answer"),
    ("3", rf"\boxed{{{TOWER}}}", None, "too-large"),
    (TOWER, rf"\boxed{{{TOWER}}}", 10, None),
    ("第一象限", r"\boxed{第一象限}", 10, None),
    ("第一象限", r"\boxed{第二象限}", None, "text-reference"),
    ("12", r"\boxed{无解}", None, "unreadable-answer"),
]


@pytest.fixture(scope="module")
def verdicts(verifier):
    return verifier.check([(reference, response, "math") for reference, response, _, _ in TABLE])


@pytest.mark.parametrize("row", range(len(TABLE)), ids=[f"{r[0]}|{r[1][-20:]}" for r in TABLE])
def test_math_table(verdicts, row):
    _, _, score, note = TABLE[row]
    assert (verdicts[row].score, verdicts[row].note) == (score, note)
    assert verdicts[row].method == "math"


def test_rows_without_a_reference_or_outside_checked_categories_get_no_method(verifier):
    verdicts = verifier.check([(None, "答案：12", "math"), ("  ", "答案：12", None), ("12", "答案：12", "general")])
    assert [(v.score, v.method, v.note) for v in verdicts] == [(None, None, None)] * 3


def test_the_verifier_can_be_fed_batch_after_batch(verifier):
    first = verifier.check([(r"2\sqrt{3}", r"\boxed{\sqrt{12}}", None)])
    second = verifier.check([(r"2\sqrt{3}", r"\boxed{\sqrt{13}}", None), ("5", r"\boxed{5}", None)])
    assert [v.score for v in first + second] == [10, 0, 10]


def test_two_written_decimals_must_be_equal_but_a_fraction_may_be_rounded():
    from processing.verify.math import check_fast

    assert check_fast("3.03", "所以答案是3.031。") is False
    assert check_fast("1/3", "所以答案是0.33。") is True
