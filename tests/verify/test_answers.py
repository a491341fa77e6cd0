"""Locating the final answer, and reading numbers exactly: the subtle parts, one by one."""

from __future__ import annotations

from fractions import Fraction

import pytest

from processing.verify.answers import final_answer
from processing.verify.numbers import TooLarge, arabic, evaluate, looks_too_large


@pytest.mark.parametrize(
    "response, answer",
    [
        ("所以一共有 \\boxed{12} 个苹果。", "12"),
        ("先得 \\boxed{12}，再检查……最终答案 \\boxed{13}", "13"),
        ("\\boxed{\\boxed{7}}", "\\boxed{7}"),
        ("所以是 \\boxed{150}\\%", "150\\%"),
        ("\\boxed{\\text{奶糖有 12 块}}", "12"),
        ("\\boxed{25千克}", "25"),
        ("答案：3750", "3750"),
        ("最终答案是12。", "12"),
        ("所以共有12个。", "12"),
        ("答：每班45本，共135本。", "45"),
        ("所以，甲有12个、乙有13个", "12"),
        ("所以两个数分别是24，112。", "24;112"),
        ("解得x=1或x=2。", "x=1;x=2"),
        ("**答案：**\n\n13个", "13"),
        ("所以答案是：\n$$\n45\n$$", "45"),
        ("所以他还剩九页没有看。", "9"),
        ("答：占百分之二十五", "25%"),
        ("The answer is 45.", "45"),
        ("…数据有 12、1/4、3…答案：11吨", "11"),
        ("**答案：44**\n\n解析：有人以为答案是45，这是错误的。", "44"),
        ("答案是否正确？再算一遍：所以最后是11。", "11"),
        ("计算过程如下\n135÷3=45", "45"),
        ("已知 3 和 4\n**45**", "45"),
        ("每班分到的本数：\n每班45本。", "45"),
        ("因此，剩下的数的平均数是 **84**。\n\n**验证**：48 × 84 = 4032，即总和不变。", "84"),
        ("**答案：84**\n\n验证答案：48 × 84 = 4032。", "84"),
        ("答案：84\n\n答案解析：4032 ÷ 48 = 84，4150 - 118 = 4032。", "84"),
        # nothing the reply settles on
        ("先算 3×4=12，再减去 1……这里我不确定。", None),
        ("题目：一共有多少本？\n我们来看看。\n希望对你有帮助！", None),
        ("答案不是45。", None),
        ("第3组有45人", None),
        ("", None),
    ],
)
def test_final_answer(response, answer):
    assert final_answer(response) == answer


def test_several_expected_answers_take_boxes_written_together():
    response = "第一空：$\\boxed{5}$，第二空：$\\boxed{10}$"
    assert final_answer(response, parts=2) == "5;10"
    assert final_answer(response, parts=1) == "10"
    far_apart = "先得 \\boxed{5}。" + "中间的推理。" * 20 + "所以 \\boxed{10}"
    assert final_answer(far_apart, parts=2) == "10"


def test_a_weak_phrase_in_a_restated_question_is_not_a_conclusion():
    response = "题目：共135本书，平均分给3个班。\n第一步：平均分。\n第二步：做除法。\n第三步：检查。\n\n45"
    assert final_answer(response) == "45"


@pytest.mark.parametrize(
    "text, value",
    [
        ("45", Fraction(45)),
        ("(11/20)", Fraction(11, 20)),
        ("150%", Fraction(3, 2)),
        ("\\frac35", Fraction(3, 5)),
        ("-\\frac{3}{5}", Fraction(-3, 5)),
        ("9/(9+9%)", Fraction(100, 101)),
        ("2.7\\times10^{9}", Fraction(2_700_000_000)),
        ("90^{\\circ}", Fraction(90)),
        ("x+1", None),
        ("\\sqrt{2}", None),
        ("1/0", None),
        ("②", None),
    ],
)
def test_evaluate(text, value):
    assert evaluate(text) == value


@pytest.mark.parametrize("tower", ["\\frac{5^{5^{5^5}}-5}{16}", "2^{2^{2^{2^{2}}}}", "9^{9^9}", "99999999^{9999}"])
def test_power_towers_are_refused_not_computed(tower):
    assert looks_too_large(tower) or pytest.raises(TooLarge, evaluate, tower)


@pytest.mark.parametrize(
    "text, rewritten",
    [
        ("4(5/11)", "\\frac{49}{11}"),
        ("4又5/11", "\\frac{49}{11}"),
        ("-4\\frac{5}{11}", "-\\frac{49}{11}"),
        ("4又\\frac{5}{11}", "\\frac{49}{11}"),
        ("2(3/2)", "2(3/2)"),
        ("12万元", "120000元"),
        ("答案是十二。", "答案是12。"),
        ("一共有两千五百元", "一共有2500元"),
        ("答案是五分之三", "答案是\\frac{3}{5}"),
        ("百分之零点五", "0.5%"),
        ("一样多", "一样多"),
        ("3个班一共有十二个", "3个班一共有十二个"),
    ],
)
def test_arabic(text, rewritten):
    assert arabic(text) == rewritten
