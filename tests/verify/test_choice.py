"""Multiple choice: the reference's letters and every common Chinese way of stating one."""

from __future__ import annotations

import pytest

from processing.verify.choice import read_choice_reference, stated_choice

# (response, letters it settles on)
STATEMENTS = [
    ("所以选C", "C"),
    ("答案选C。", "C"),
    ("故选：C", "C"),
    ("C选项正确。", "C"),
    ("正确的是C", "C"),
    ("最终答案：**C**", "C"),
    ("**C**", "C"),
    ("分析如上。\n\n（C）", "C"),
    ("答案：c", "C"),
    ("$\\boxed{C}$", "C"),
    ("$\\boxed{\\text{C}}$", "C"),
    ("\\boxed{B,C}", "BC"),
    ("故选：B、D", "BD"),
    ("答案：ACD", "ACD"),
    ("最终选择：B", "B"),
    ("综上所述，本题选 B。", "B"),
    ("答案为（C）。", "C"),
    ("C 是正确答案。", "C"),
    ("The answer is D.", "D"),
    ("不正确的是A。", "A"),
    # the stated answer wins over letters named later
    ("答案：C\n\n解析：A选项错误，B选项错误，有人会选D，但D不符合题意。", "C"),
    ("如果选A，那么与条件矛盾，因此应该选B。", "B"),
    ("答案：C，而不是A或B。", "C"),
    # hedges name several letters
    ("答案：D、B", "BD"),
    ("答案是B，也可能是D。", "BD"),
    ("我倾向于选B，但D也可能正确。", "BD"),
    ("答案：B或D", "BD"),
    # nothing stated
    ("我不确定。", None),
    ("A. 土地\nB. 资金", None),
]


@pytest.mark.parametrize("response, letters", STATEMENTS)
def test_stated_choice(response, letters):
    assert stated_choice(response) == (frozenset(letters) if letters else None)


@pytest.mark.parametrize(
    "reference, letters, value",
    [
        ("B", "B", None),
        ("BD", "BD", None),
        ("B、D", "BD", None),
        ("B,D", "BD", None),
        ("A B D", "ABD", None),
        ("（C）", "C", None),
        ("C. 1-\\mathrm{i}", "C", "1-i"),
        ("A. (-\\infty, 1)", "A", "(-\\infty, 1)"),
    ],
)
def test_choice_references(reference, letters, value):
    choice = read_choice_reference(reference)
    assert (choice.letters, choice.value) == (frozenset(letters), value)


@pytest.mark.parametrize("reference", ["12", "CB", "a", "x=1", ""])
def test_other_references_are_not_choices(reference):
    assert read_choice_reference(reference) is None


@pytest.mark.parametrize(
    "reference, response, score",
    [
        ("BC", "故选 BC", 10),
        ("BC", "答案：B", 0),
        ("ACD", "\\boxed{A,C,D}", 10),
        ("D", "答案：D、B", 0),
        ("C. 1-\\mathrm{i}", "故选 \\boxed{C}", 10),
        ("C. 1-\\mathrm{i}", "所以 $z=\\boxed{1-\\mathrm{i}}$", 10),
        ("C. 1-\\mathrm{i}", "所以 $z=\\boxed{1+i}$", 0),
        ("C. 1-\\mathrm{i}", "故选 D", 0),
        ("B", "我不确定。", None),
    ],
)
def test_choice_verdicts(verifier, reference, response, score):
    [verdict] = verifier.check([(reference, response, "exam")])
    assert (verdict.score, verdict.method) == (score, "choice")
    assert verdict.note == (None if score is not None else "no-answer")
