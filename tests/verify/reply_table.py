"""The accuracy regression table: realistic Chinese replies built from ../shared/data.

Every format group gets as many right as wrong replies, generated deterministically from a
seed. Each wrong reply carries the trap that used to be accepted: the reference answer is
written somewhere in its reasoning, and the answer it finally states is different. Values
are computed here with the standard library's `ast` and `fractions`, independently of the
verifier, so the truth of a row never depends on the code under test.
"""

from __future__ import annotations

import ast
import json
import random
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

RIGHT, WRONG = 10.0, 0.0


@dataclass(frozen=True)
class Case:
    group: str
    reference: str
    response: str
    truth: float | None  # 10 right, 0 wrong, None when the reply states no answer
    category: str = "math"


# --- reading the data ----------------------------------------------------------------


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class Problem:
    question: str
    answer: str  # as the data writes it
    value: Fraction | None  # exact value when the answer is a number


def ape_value(answer: str) -> Fraction | None:
    """Ape210K notation: `4(5/11)` mixed, `(3/5)` fraction, `150%`, short arithmetic."""
    text = re.sub(r"(\d+)\((\d+)/(\d+)\)", r"(\1+\2/\3)", answer)
    text = re.sub(r"(\d+(?:\.\d+)?)%", r"(\1/100)", text)
    try:
        return _exact(ast.parse(text, mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError):
        return None


def _exact(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return Fraction(str(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_exact(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_exact(node.left), _exact(node.right))
    raise ValueError("not plain arithmetic")


_OPERATORS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


def load(data: Path) -> dict[str, list]:
    instructions, benchmarks = data / "instructions", data / "benchmarks"
    ape = [Problem(r["question"], r["answer"], ape_value(r["answer"])) for r in _jsonl(instructions / "ape210k_valid.jsonl")]
    cmath = [Problem(r["question"], r["answer"], ape_value(r["answer"])) for r in _jsonl(benchmarks / "cmath.jsonl")]
    return {
        "ape": ape,
        "cmath": cmath,
        "cmmlu": _jsonl(instructions / "cmmlu_test.jsonl"),
        "gaokao_qa": _jsonl(benchmarks / "gaokao_math_qa.jsonl"),
        "cloze": _jsonl(benchmarks / "gaokao_math_cloze.jsonl"),
        "middle": _jsonl(benchmarks / "cn_middle_school.jsonl"),
    }


# --- writing numbers ---------------------------------------------------------------------


def decimal(value: Fraction) -> str | None:
    """The terminating decimal of `value`, or None."""
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator != 1:
        return None
    text = f"{float(value):.10f}".rstrip("0").rstrip(".")
    return text if Fraction(text) == value else None


def latex_fraction(value: Fraction, command: str = r"\frac") -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}{command}{{{abs(value.numerator)}}}{{{value.denominator}}}"


def plain(value: Fraction) -> str:
    """How a reply writes a number without LaTeX: 45, 0.55, 11/20."""
    return decimal(value) or f"{value.numerator}/{value.denominator}"


def latex(value: Fraction) -> str:
    return decimal(value) or latex_fraction(value)


_ZH_DIGITS = "零一二三四五六七八九"


def chinese(number: int) -> str:
    """12 → 十二, 105 → 一百零五, 250 → 两百五十 (1 ≤ number < 10000)."""
    text, zero = "", False
    for unit, size in (("千", 1000), ("百", 100), ("十", 10), ("", 1)):
        digit = number // size % 10
        if digit == 0:
            zero = bool(text)
            continue
        if zero:
            text += "零"
            zero = False
        word = "两" if digit == 2 and size >= 100 and text == "" else _ZH_DIGITS[digit]
        text += ("" if (digit == 1 and size == 10 and not text) else word) + unit
    return text


def wrong_value(value: Fraction, rng: random.Random) -> Fraction:
    """A plausible wrong answer of the same kind: off by one, doubled, off by a part."""
    if value.denominator == 1:
        candidates = [value + 1, value + 2, value - 1, value * 2, value + 10, value - 10]
    else:
        candidates = [value + 1, value * 2, value + Fraction(1, value.denominator), value - Fraction(1, value.denominator)]
    candidates = [c for c in candidates if c > 0 and c != value]
    return rng.choice(candidates)


# --- realistic reasoning ------------------------------------------------------------------

_INTROS = ["我们一步一步来分析。", "解：", "**分析：**", "根据题意进行计算。", "这是一道应用题，先理清数量关系。", "好的，我们来解这道题。"]
_TRAPS = [
    "如果直接计算会得到 {gold}，但这里还要考虑题目中的其他条件。",
    "注意：{gold} 只是中间结果，不是最终答案。",
    "有同学可能会算成 {gold}，这是没有看清题意。",
    "先估算一下，结果大约是 {gold}，下面精确计算。",
    "第一次算出来是 {gold}，检查后发现漏了一步，重新计算。",
]


def numbers_in(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", text)[:5]


def steps(question: str, rng: random.Random, trap: str | None) -> str:
    """Working in the usual layout of a model's reply: the question's numbers, a computation
    per step, a check, and (when given) the trap; it never concludes."""
    numbers = numbers_in(question) or ["3", "4"]
    lines = ["**第一步：找出已知条件**", f"题目中给出的数量有：{'、'.join(numbers)}。先弄清楚它们之间的数量关系。", "**第二步：列式计算**"]
    for index, (a, b) in enumerate(zip(numbers, numbers[1:]), start=1):
        product = Fraction(a) * Fraction(b)
        lines.append(f"{index}. 把 {a} 和 {b} 相乘，表示对应的总量：{a} × {b} = {plain(product)}。")
    if trap:
        lines.insert(rng.randint(2, len(lines)), trap)
    lines += ["**第三步：检验**", "把计算结果代回题目中逐一核对，各个数量关系前后一致。"]
    if rng.random() < 0.5:
        lines[:0] = ["**题目回顾**", question.strip()]
    return "\n".join(lines)


def reply(question: str, conclusion: str, trap: str | None, rng: random.Random) -> str:
    parts = [rng.choice(_INTROS), steps(question, rng, trap), conclusion]
    if rng.random() < 0.2:
        parts.append(rng.choice(["希望对你有帮助！", "如有疑问欢迎继续提问。"]))
    return "\n\n".join(parts)


def trap_text(gold: str, rng: random.Random) -> str:
    return rng.choice(_TRAPS).format(gold=gold)


# --- math groups -------------------------------------------------------------------------


def _numeric(problems: list[Problem], test) -> list[Problem]:
    return [p for p in problems if p.value is not None and p.value > 0 and test(p)]


def _pairs(rng: random.Random, problems: list[Problem], per_group: int):
    """(problem, right?) for half right, half wrong replies."""
    chosen = rng.sample(problems, min(per_group, len(problems))) if len(problems) >= per_group else [rng.choice(problems) for _ in range(per_group)]
    return [(problem, index % 2 == 0) for index, problem in enumerate(chosen)]


def math_group(name, problems, writers, conclusions, rng, per_group, gold_text=None):
    """Replies whose conclusion is one of `conclusions` with the answer written by one of `writers`."""
    cases = []
    for problem, right in _pairs(rng, problems, per_group):
        value = problem.value if right else wrong_value(problem.value, rng)
        writer = rng.choice(writers)
        answer = writer(value)
        if answer is None:
            answer = plain(value)
        trap = None if right else trap_text(gold_text(problem) if gold_text else writer(problem.value) or plain(problem.value), rng)
        conclusion = rng.choice(conclusions).format(a=answer)
        cases.append(Case(name, problem.answer, reply(problem.question, conclusion, trap, rng), RIGHT if right else WRONG))
    return cases


def _integers(p: Problem) -> bool:
    return p.value.denominator == 1 and "%" not in p.answer and "(" not in p.answer


def _ape_fraction(p: Problem) -> bool:
    return bool(re.fullmatch(r"\(\d+/\d+\)", p.answer))


def _ape_mixed(p: Problem) -> bool:
    return bool(re.fullmatch(r"\d+\(\d+/\d+\)", p.answer)) and p.value.numerator % p.value.denominator != 0


def _ape_percent(p: Problem) -> bool:
    return bool(re.fullmatch(r"\d+(?:\.\d+)?%", p.answer))


def _plain_number(p: Problem) -> bool:
    return bool(re.fullmatch(r"\d+(?:\.\d+)?", p.answer))


def _mixed(value: Fraction, style: str) -> str | None:
    whole, rest = divmod(value.numerator, value.denominator)
    if whole == 0 or rest == 0:
        return None
    return style.format(w=whole, n=rest, d=value.denominator)


def _percent(value: Fraction) -> str | None:
    text = decimal(value * 100)
    return None if text is None else text


def boxed(rng, data, per_group):
    problems = _numeric(data["ape"] + data["cmath"], _plain_number)
    conclusions = [
        "所以，答案是 $\\boxed{{{a}}}$。",
        "综上，最终答案为：\n\n$$\\boxed{{{a}}}$$",
        "**答案：** $\\boxed{{{a}}}$",
        "\\boxed{{{a}}}",
        "因此所求结果为 $\\boxed{{{a}}}$，验算无误。",
        "最终答案：$\\boxed{{{a}}}$\n\n验算：把结果代回原题，数量关系成立。",
    ]
    return math_group("boxed", problems, [latex], conclusions, rng, per_group)


def plain_chinese(rng, data, per_group):
    problems = _numeric(data["ape"] + data["cmath"], _plain_number)
    conclusions = [
        "答案：{a}", "最终答案是{a}。", "所以共有{a}个。", "答：每份是{a}。", "因此，一共需要{a}天。",
        "故剩下{a}页。", "综上所述，答案为 {a}。", "所以这个数是{a}。", "**最终答案：{a}**",
        "答案是{a}千克。\n\n验算：把结果代入题目，前后数量一致。", "所以，小明一共走了{a}米。",
        "**答案**：每份是 **{a}**。", "因此，原来有 {a} 本书。", "所以答案是：\n$$\n{a}\n$$", "**答案**\n\n{a}",
    ]
    return math_group("plain-chinese", problems, [plain], conclusions, rng, per_group)


def chinese_in_box(rng, data, per_group):
    integers = _numeric(data["ape"] + data["cmath"], _plain_number)
    mixed = _numeric(data["ape"], _ape_mixed)
    writers = [plain]
    conclusions = [
        "所以 $\\boxed{{{a}千克}}$。", "答：$\\boxed{{\\text{{奶糖有 {a} 块}}}}$", "$$\\boxed{{\\text{{每班 {a} 本}}}}$$",
        "最终答案：$\\boxed{{{a}\\text{{元}}}}$", "\\boxed{{{a}个}}", "因此 \\boxed{{\\text{{答：需要 {a} 天}}}}。",
        "\\boxed{{一共{a}人}}",
    ]
    cases = math_group("chinese-in-box", integers, writers, conclusions, rng, per_group // 2)
    mixed_writers = [lambda v: _mixed(v, "{w}又\\frac{{{n}}}{{{d}}}")]
    return cases + math_group("chinese-in-box", mixed, mixed_writers, ["所以 $\\boxed{{{a}}}$。", "答案是 \\boxed{{{a}}}"], rng, per_group - per_group // 2)


def units(rng, data, per_group):
    problems = _numeric(data["ape"] + data["cmath"], _plain_number)
    conclusions = [
        "所以全长 $\\boxed{{{a}}}$ 米。", "答案：$\\boxed{{{a}米}}$", "$$\\boxed{{{a}\\,\\text{{m}}}}$$",
        "最终答案：$\\boxed{{{a} \\text{{ cm}}}}$", "答案：{a}千克", "所以面积是 $\\boxed{{{a}\\ \\text{{平方米}}}}$。",
        "速度为 $\\boxed{{{a}\\text{{ km/h}}}}$。", "\\boxed{{{a}\\text{{元/千克}}}}", "共需 $\\boxed{{{a}}}$ 小时。",
    ]
    return math_group("units", problems, [plain], conclusions, rng, per_group)


def thousands(rng, data, per_group):
    problems = _numeric(data["ape"] + data["cmath"], lambda p: _plain_number(p) and p.value >= 1000)
    writers = [
        lambda v: f"{v.numerator:,}" if v.denominator == 1 else None,
        lambda v: f"{v.numerator:,}".replace(",", "\\,") if v.denominator == 1 else None,
        lambda v: f"{v.numerator:,}".replace(",", "{,}") if v.denominator == 1 else None,
        lambda v: f"{v.numerator:,}".replace(",", " ") if v.denominator == 1 else None,
    ]
    conclusions = ["所以答案是 $\\boxed{{{a}}}$。", "答案：{a}元", "所以共有 {a} 个。", "**最终答案：$\\boxed{{{a}}}$**", "答：一共 {a} 千克。"]
    return math_group("thousands", problems, writers, conclusions, rng, per_group)


def fractions(rng, data, per_group):
    problems = _numeric(data["ape"], _ape_fraction)
    writers = [latex_fraction, lambda v: latex_fraction(v, r"\dfrac"), plain, lambda v: decimal(v), lambda v: f"{v.numerator}/{v.denominator}"]
    conclusions = ["所以还剩 $\\boxed{{{a}}}$。", "答案是 {a}。", "答案：${a}$", "$$\\boxed{{{a}}}$$", "因此，所求分数为 $\\boxed{{{a}}}$。"]
    return math_group("fractions", problems, writers, conclusions, rng, per_group)


def mixed_numbers(rng, data, per_group):
    problems = _numeric(data["ape"], _ape_mixed)
    writers = [
        lambda v: _mixed(v, "{w}\\frac{{{n}}}{{{d}}}"),
        lambda v: _mixed(v, "{w}\\dfrac{{{n}}}{{{d}}}"),
        lambda v: _mixed(v, "{w}又{n}/{d}"),
        lambda v: _mixed(v, "{w}又\\frac{{{n}}}{{{d}}}"),
        latex_fraction,
    ]
    conclusions = ["所以答案是 $\\boxed{{{a}}}$。", "答案是{a}。", "答：${a}$", "因此结果为 $\\boxed{{{a}}}$"]
    return math_group("mixed-numbers", problems, writers, conclusions, rng, per_group)


def percentages(rng, data, per_group):
    problems = _numeric(data["ape"], _ape_percent)
    writers = [
        lambda v: f"{_percent(v)}\\%", lambda v: decimal(v), lambda v: f"{_percent(v)}%",
    ]
    conclusions = ["所以答案是 $\\boxed{{{a}}}$。", "答案是{a}。", "答：占 {a}。", "$$\\boxed{{{a}}}$$"]
    cases = math_group("percentages", problems, writers, conclusions, rng, per_group - per_group // 4)
    outside = ["所以答案是 $\\boxed{{{a}}}\\%$。", "即 \\boxed{{{a}}}%"]
    return cases + math_group("percentages", problems, [_percent], outside, rng, per_group // 4)


def chinese_numerals(rng, data, per_group):
    integers = _numeric(data["cmath"] + data["ape"], lambda p: _plain_number(p) and p.value.denominator == 1 and p.value < 1000)
    fractions_ = _numeric(data["ape"], lambda p: _ape_fraction(p) and p.value < 1 and p.value.denominator < 100)
    conclusions = ["答案是{a}。", "所以他还剩{a}页。", "最终答案：{a}", "因此一共有{a}个。", "答：需要{a}天。"]
    cases = math_group("chinese-numerals", integers, [lambda v: chinese(int(v))], conclusions, rng, per_group * 3 // 4, gold_text=lambda p: p.answer)
    writer = lambda v: f"{chinese(v.denominator)}分之{chinese(v.numerator)}" if v < 1 else None  # noqa: E731
    conclusions = ["答案是{a}。", "所以还剩这批货物的{a}。", "答：占全部的{a}。"]
    return cases + math_group("chinese-numerals", fractions_, [writer], conclusions, rng, per_group // 4, gold_text=lambda p: p.answer)


def answer_sets(rng, data, per_group):
    """Two answers: the `24,112` notation, `x=1或x=2`, and two-blank cloze answers."""
    integers = [p for p in _numeric(data["ape"] + data["cmath"], _plain_number) if p.value.denominator == 1]
    cases = []
    for index in range(per_group):
        first, second = rng.sample(integers, 2)
        a, b = first.value, second.value
        if a == b:
            continue
        right = index % 2 == 0
        notation = index % 4 // 2
        reference = f"{a},{b}" if notation == 0 else f"x={a}或x={b}"
        shown = (a, b) if right else rng.choice([(a, wrong_value(b, rng)), (wrong_value(a, rng), b), (a,)])
        conclusion = rng.choice(_SET_CONCLUSIONS[len(shown)]).format(*shown)
        trap = None if right else trap_text(f"{a} 和 {b}", rng)
        cases.append(Case("answer-sets", reference, reply(first.question, conclusion, trap, rng), RIGHT if right else WRONG))
    return cases + _cloze_sets(rng, data, per_group // 4)


_SET_CONCLUSIONS = {
    2: [
        "所以答案是 $\\boxed{{{0}, {1}}}$。", "$\\boxed{{{0}}}$，$\\boxed{{{1}}}$", "解得 $x_1={0}$，$x_2={1}$。",
        "所以 x={0} 或 x={1}。", "答案是{0}和{1}。", "$$\\boxed{{x={1}\\text{{ 或 }}x={0}}}$$", "答案：{1}、{0}",
    ],
    1: ["所以答案是 $\\boxed{{{0}}}$。", "答案是{0}。"],
}


def _cloze_sets(rng, data, count):
    rows = [r for r in data["cloze"] if ";" in r["answer"] and not re.search(r"[\u4e00-\u9fff]", r["answer"])]
    cases = []
    for index in range(count):
        row = rng.choice(rows)
        parts = [part.strip().strip("$") for part in row["answer"].split(";")]
        right = index % 2 == 0
        if not right:
            other = rng.choice([r for r in rows if r is not row])
            parts = [parts[0], other["answer"].split(";")[-1].strip().strip("$")]
            if parts[1] == row["answer"].split(";")[-1].strip().strip("$"):
                continue
        conclusion = rng.choice(["$\\boxed{{{0}}}$；$\\boxed{{{1}}}$", "第一空：$\\boxed{{{0}}}$，第二空：$\\boxed{{{1}}}$"]).format(*parts)
        trap = None if right else trap_text(row["answer"].split(";")[-1].strip(), rng)
        cases.append(Case("answer-sets", row["answer"], reply(row["question"], conclusion, trap, rng), RIGHT if right else WRONG))
    return cases


def latex_answers(rng, data, per_group):
    """Gaokao cloze and middle-school answers in LaTeX (roots, π, complex numbers, sets)."""
    golds = [r["answer"] for r in data["cloze"]] + [r["answer"] for r in data["middle"]]
    golds = [g for g in golds if ";" not in g and not re.search(r"[\u4e00-\u9fff，,]", g) and re.search(r"\\|\^|[a-z]", g)]
    golds = [g for g in golds if not re.search(r"(\\cdot|[-+=])\s*\$?$", g)]  # a few are cut off in the data
    questions = {r["answer"]: r["question"] for r in data["cloze"] + data["middle"]}
    cases = []
    for index in range(per_group):
        gold = rng.choice(golds)
        right = index % 2 == 0
        shown = _restyle(gold.strip("$"), rng) if right else _other_value(gold, golds, rng)
        conclusion = rng.choice(["所以答案为 $\\boxed{{{0}}}$。", "$$\\boxed{{{0}}}$$", "故填 $\\boxed{{{0}}}$。"]).format(shown)
        trap = None if right else trap_text(f"${gold.strip('$')}$", rng)
        cases.append(Case("latex", gold, reply(questions[gold], conclusion, trap, rng), RIGHT if right else WRONG))
    return cases


def _restyle(latex_text: str, rng: random.Random) -> str:
    """The same answer as a model would typeset it: \\dfrac, spaces, \\left( \\right)."""
    styles = [
        lambda t: t.replace(r"\frac", r"\dfrac"),
        lambda t: t.replace("(", r"\left(").replace(")", r"\right)") if "(" in t and r"\left" not in t else t,
        lambda t: re.sub(r"([=+<>])", r" \1 ", t),
        lambda t: t,
    ]
    return rng.choice(styles)(latex_text)


def _other_value(gold: str, golds: list[str], rng: random.Random) -> str:
    """Another problem's answer of a different shape, so the two cannot be equal."""
    while True:
        other = rng.choice(golds)
        if re.sub(r"\s|\$", "", other) != re.sub(r"\s|\$", "", gold) and _shape(other) != _shape(gold):
            return other.strip("$")


def _shape(text: str) -> str:
    """Digits and letters kept, so `\\frac{\\sqrt{2}}{2}` and `\\frac{\\sqrt{3}}{3}` differ."""
    return re.sub(r"\s|\$|\\left|\\right|\\d?frac", "", text)


def last_line(rng, data, per_group):
    """No box and no conclusion phrase: the last line holds the answer."""
    problems = _numeric(data["ape"] + data["cmath"], _plain_number)
    cases = []
    for problem, right in _pairs(rng, problems, per_group):
        value = problem.value if right else wrong_value(problem.value, rng)
        numbers = numbers_in(problem.question) or ["3"]
        working = [f"已知量：{'、'.join(numbers)}。", f"{numbers[0]} × 2 = {plain(Fraction(numbers[0]) * 2)}"]
        if not right:
            working.append(f"{numbers[-1]} + {plain(problem.value)} = {plain(Fraction(numbers[-1]) + problem.value)}")
        last = rng.choice(["{a}", "${a}$", "= {a}", f"{numbers[0]} ÷ 1 + 0 = {{a}}", "**{a}**"]).format(a=plain(value))
        cases.append(Case("last-line", problem.answer, "\n".join(working + [last]), RIGHT if right else WRONG))
    return cases


def answer_first(rng, data, per_group):
    """The answer first, then an explanation full of other numbers (and, when wrong, the gold)."""
    problems = _numeric(data["ape"] + data["cmath"], _plain_number)
    cases = []
    for problem, right in _pairs(rng, problems, per_group):
        value = problem.value if right else wrong_value(problem.value, rng)
        head = rng.choice(["**答案：{a}**", "答案：$\\boxed{{{a}}}$", "最终答案是 {a}。"]).format(a=plain(value))
        trap = None if right else rng.choice([
            "有的同学会得到 {0}，那是把单位弄错了。", "有人以为答案是{0}，这是错误的。", "注意：答案不是{0}。",
            "如果答案是{0}，代回原题就不成立。",
        ]).format(plain(problem.value))
        body = steps(problem.question, rng, trap)
        cases.append(Case("answer-first", problem.answer, f"{head}\n\n**解析：**\n{body}", RIGHT if right else WRONG))
    return cases


def no_answer(rng, data, per_group):
    """Working that never states an answer; the gold number is in it half the time."""
    problems = _numeric(data["ape"] + data["cmath"], _plain_number)
    endings = ["接下来只需要把这些数量代入关系式计算。", "这道题的条件似乎不完整，无法确定。", "我需要更多信息才能给出结论。"]
    cases = []
    for index, problem in enumerate(rng.sample(problems, per_group)):
        trap = trap_text(plain(problem.value), rng) if index % 2 else None
        text = "\n\n".join([rng.choice(_INTROS), steps(problem.question, rng, trap), rng.choice(endings)])
        cases.append(Case("no-answer", problem.answer, text, None))
    return cases


# --- multiple choice -----------------------------------------------------------------------

_STATED = ["答案：{0}", "答案选{0}。", "故选：{0}", "所以选{0}。", "正确答案是 {0}。", "最终答案：**{0}**", "答案：{1}",
           "因此，本题选 {0}。", "综上所述，应选{0}。", "答案为（{0}）。", "最终选择：{0}", "故本题答案为{0}项。",
           "The answer is {0}."]
_JUDGED = ["{0}选项正确。", "正确的是{0}。", "{0}项符合题意。", "经比较，说法正确的是 {0}。", "{0} 是正确答案。", "{0}为正确选项。"]
_BOXED = ["$\\boxed{{{0}}}$", "故选 $\\boxed{{{0}}}$", "$\\boxed{{\\text{{{0}}}}}$", "答案：$$\\boxed{{{0}}}$$"]
_ALONE = ["**{0}**", "（{0}）", "{0}"]


def _choice_rows(data) -> list[tuple[str, dict[str, str], str]]:
    """(question, options, answer letter) from CMMLU and gaokao questions."""
    if "choice_rows" not in data:
        rows = [(r["question"], {k: r[k] for k in "ABCD"}, r["answer"]) for r in data["cmmlu"]]
        rows += [(r["question"], r["options"], r["label"]) for r in data["gaokao_qa"] if len(r["label"]) == 1]
        data["choice_rows"] = rows
    return data["choice_rows"]


def _discussion(options: dict[str, str], skip: set[str], rng: random.Random, mention: str | None) -> str:
    """Option-by-option notes that rule options out without stating an answer."""
    lines = []
    for letter, text in options.items():
        if letter in skip:
            continue
        if letter == mention:
            lines.append(f"{letter}项：{text}，看起来合理，但与题干的条件不符，排除。")
        else:
            lines.append(f"{letter}项：{text}，{rng.choice(['说法错误', '不符合题意', '与事实不符', '表述有误'])}，排除。")
    return "\n".join(lines)


def choice_group(name, conclusions, rng, data, per_group):
    cases = []
    rows = _choice_rows(data)
    for index in range(per_group):
        question, options, gold = rng.choice(rows)
        right = index % 2 == 0
        stated = gold if right else rng.choice([letter for letter in options if letter != gold])
        conclusion = rng.choice(conclusions).format(stated, stated.lower())
        # The discussion never judges the stated letter; when wrong it dwells on the gold.
        body = _discussion(options, {stated}, rng, None if right else gold)
        text = f"我们逐项分析。\n\n{body}\n\n{conclusion}"
        cases.append(Case(name, gold, text, RIGHT if right else WRONG, "exam"))
    return cases


def choice_first(rng, data, per_group):
    """`答案：C` first, then a discussion naming the other letters (`有人会选A`)."""
    cases = []
    for index in range(per_group):
        question, options, gold = rng.choice(_choice_rows(data))
        right = index % 2 == 0
        stated = gold if right else rng.choice([letter for letter in options if letter != gold])
        others = [letter for letter in options if letter != stated]
        head = rng.choice(["答案：{0}", "**答案：{0}**", "正确答案是{0}。", "故选{0}。"]).format(stated)
        tail = f"容易误选{others[-1]}，要注意区分。" if rng.random() < 0.5 else f"{others[-1]}项干扰性最强。"
        body = _discussion(options, {stated}, rng, None if right else gold)
        cases.append(Case("choice-answer-first", gold, f"{head}\n\n解析：\n{body}\n{tail}", RIGHT if right else WRONG, "exam"))
    return cases


def choice_hedges(rng, data, per_group):
    """Several letters for a single-answer question, the right one among them: all wrong."""
    cases = []
    forms = ["答案：{0}、{1}", "答案是{0}，也可能是{1}。", "我倾向于选{0}，但{1}也可能正确。", "答案：{0}或{1}", "$\\boxed{{{0},{1}}}$", "故选{0}{1}。"]
    for _ in range(per_group):
        question, options, gold = rng.choice(_choice_rows(data))
        other = rng.choice([letter for letter in options if letter != gold])
        pair = [gold, other] if rng.random() < 0.5 else [other, gold]
        pair = sorted(pair) if "{0}{1}" in (form := rng.choice(forms)) else pair
        body = _discussion(options, set(pair), rng, None)
        cases.append(Case("choice-hedge", gold, f"分析如下。\n\n{body}\n\n{form.format(*pair)}", WRONG, "exam"))
    return cases


def choice_multi(rng, data, per_group):
    """Multi-select references (`BD`, `B、D`, `B,D`) from gaokao and CMMLU questions."""
    cases = []
    rows = _choice_rows(data)
    real = [(r["question"], r["options"], "".join(sorted(r["label"].replace(" ", "")))) for r in data["gaokao_qa"] if len(r["label"].replace(" ", "")) > 1]
    for index in range(per_group):
        if index < len(real) * 2:
            question, options, letters = real[index % len(real)]
        else:
            question, options, gold = rng.choice(rows)
            letters = "".join(sorted({gold, rng.choice([k for k in options if k != gold])}))
        reference = rng.choice(["", "、", ","]).join(letters)
        right = index % 2 == 0
        shown = letters if right else rng.choice([letters[:-1], _swap_one(letters, options, rng)])
        form = rng.choice(["答案：{0}", "故选：{1}", "$\\boxed{{{2}}}$", "$\\boxed{{{0}}}$", "正确的是{3}。"])
        conclusion = form.format(shown, "、".join(shown), ",".join(shown), "和".join(shown))
        body = _discussion(options, set(letters) | set(shown), rng, None)
        cases.append(Case("choice-multi", reference, f"逐项判断：\n{body}\n\n{conclusion}", RIGHT if right else WRONG, "exam"))
    return cases


def _swap_one(letters: str, options: dict, rng: random.Random) -> str:
    outside = [k for k in options if k not in letters]
    swapped = set(letters[:-1]) | {rng.choice(outside)} if outside else set(letters[:-1])
    return "".join(sorted(swapped))


def choice_option_text(rng, data, per_group):
    """References that give the option's text (`C. 1-\\mathrm{i}`): the letter or the value."""
    rows = [
        (r["question"], {k: v.strip().strip("$").strip() for k, v in r["options"].items()}, r["label"])
        for r in data["gaokao_qa"]
        if len(r["label"]) == 1 and all(not re.search(r"[\u4e00-\u9fff]", v) for v in r["options"].values())
    ]
    rows = [row for row in rows if len({_shape(v) for v in row[1].values()}) == len(row[1])]
    cases = []
    for index in range(per_group):
        question, values, gold = rng.choice(rows)
        right = index % 2 == 0
        stated = gold if right else rng.choice([k for k in values if k != gold])
        reference = f"{gold}. {values[gold]}"
        if index % 4 >= 2 and _is_value(values[gold]) and _is_value(values[stated]):
            conclusion = f"所以结果为 $\\boxed{{{values[stated]}}}$。"
        else:
            conclusion = rng.choice(_BOXED + _STATED[:3]).format(stated, stated.lower())
        cases.append(Case("choice-option-text", reference, f"计算得到结果后与选项比对。\n\n{conclusion}", RIGHT if right else WRONG, "exam"))
    return cases


def _is_value(option: str) -> bool:
    """A number or expression a reply would state as its result (not a relation or a set)."""
    return not re.search(r"[<>=]|\\(?:in|subset|subseteq|cup|cap|mid|le|ge|ne|leq|geq|neq|perp|parallel|emptyset)\b|\\\{", option)


GROUPS = {
    "boxed": boxed,
    "plain-chinese": plain_chinese,
    "chinese-in-box": chinese_in_box,
    "units": units,
    "thousands": thousands,
    "fractions": fractions,
    "mixed-numbers": mixed_numbers,
    "percentages": percentages,
    "chinese-numerals": chinese_numerals,
    "answer-sets": answer_sets,
    "latex": latex_answers,
    "last-line": last_line,
    "answer-first": answer_first,
    "no-answer": no_answer,
    "choice-stated": lambda rng, data, n: choice_group("choice-stated", _STATED, rng, data, n),
    "choice-judged": lambda rng, data, n: choice_group("choice-judged", _JUDGED, rng, data, n),
    "choice-boxed": lambda rng, data, n: choice_group("choice-boxed", _BOXED, rng, data, n),
    "choice-alone": lambda rng, data, n: choice_group("choice-alone", _ALONE, rng, data, n),
    "choice-answer-first": choice_first,
    "choice-hedge": choice_hedges,
    "choice-multi": choice_multi,
    "choice-option-text": choice_option_text,
}


def build_table(data: Path, seed: int = 7, per_group: int = 400) -> list[Case]:
    loaded = load(data)
    cases: list[Case] = []
    for index, builder in enumerate(GROUPS.values()):
        cases += builder(random.Random(seed * 1000 + index), loaded, per_group)
    return cases
