"""Quality flags: each rule fires on its planted defect and stays quiet on real Chinese text."""

from __future__ import annotations

import random

import polars as pl
import pytest
from pydantic import ValidationError

from processing.verify import filters
from processing.verify.filters import FLAGS, flag_counts, quality_flags
from processing.verify.settings import FilterSettings

from helpers import SHARED_DATA

DATA = SHARED_DATA / "instructions"
SETTINGS = FilterSettings()
REASONING = "嗯，用户问的是长方形的面积。长是 8 厘米，宽是 5 厘米，面积等于长乘宽，也就是 $8 \\times 5 = 40$ 平方厘米。再检查一下单位，没有问题。"
# Prompts asking for code or for another language are answered partly in English by design.
ASKS_FOR_CODE_OR_LANGUAGE = r"代码|函数|程序|算法|SQL|查询|翻译|英文|英语|单词|字母|密码|网址|Python|HTML|Java|脚本|正则|命令|标签|URL|网站|缩写|日语|法语|English"


def flags_of(*rows: dict, settings: FilterSettings = SETTINGS) -> list[list[str]]:
    defaults = {"prompt": "长方形长 8 厘米，宽 5 厘米，面积是多少？", "reasoning": REASONING, "response": "面积是 \\boxed{40} 平方厘米。", "category": "math"}
    return quality_flags(pl.DataFrame([defaults | row for row in rows]), settings).to_list()


def test_a_clean_row_raises_nothing():
    assert flags_of({}) == [[]]


@pytest.mark.parametrize("reasoning", [None, "", "  \n "])
def test_missing_reasoning(reasoning):
    assert flags_of({"reasoning": reasoning}) == [["missing_reasoning"]]


ENGLISH_ANSWER = "The area of a rectangle is its length times its width, so the answer is 40 square centimeters."


@pytest.mark.parametrize(
    "row, flagged",
    [
        ({"response": ENGLISH_ANSWER + " \\boxed{40}"}, True),
        ({"response": "面积是 40 平方厘米。\n```python\n# compute the area of the rectangle from its sides\nprint(8 * 5)\n```\n答案：40"}, False),
        ({"response": "由 $S = a \\times b$ 得 $S = 40\\,\\mathrm{cm}^2$，答案是 40。"}, False),
        ({"response": "\\boxed{40}"}, False),  # numbers and LaTeX are neither language
        ({"response": "推荐《The Old Man and the Sea》，答：海明威的作品，讲述了老渔夫与大鱼搏斗的故事，很适合四年级的学生阅读。"}, False),
        ({"prompt": "把“你好，世界”翻译成英文。", "response": "Hello, world, nice to meet you all."}, False),
        ({"prompt": "What is the area of a 8 by 5 rectangle in square centimeters?", "response": ENGLISH_ANSWER}, False),
    ],
)
def test_response_not_mainly_chinese(row, flagged):
    assert ("not_chinese" in flags_of(row)[0]) is flagged


@pytest.mark.parametrize(
    "row, flagged",
    [
        ({"reasoning": REASONING + "\nOkay, so I need to compute the area of the rectangle, which is simply the length multiplied by the width here.\n" + REASONING}, True),
        ({"reasoning": "Okay, the user wants the area of a rectangle that is 8 by 5. Length times width gives 40 square centimeters, done."}, True),
        # Variables, formulas, code identifiers, units and short English names are Chinese reasoning.
        ({"reasoning": REASONING + "设 dp[i] = max(dp[i-1], nums[i])，用 Python 的 list comprehension 写成 [x for x in nums if x > 0]，时间复杂度 O(n log n)。"}, False),
        ({"reasoning": REASONING + "这里 `for i in range(len(nums)) if nums[i] is not None and nums[i] > target` 只是伪代码。"}, False),
        ({"reasoning": REASONING + "《A History of the World in 100 Objects》这本书里也提到过。"}, False),
        # The prompt quotes English, so the reasoning may too.
        ({"prompt": "请解释下面这句英语谚语在中文里是什么意思，以及它通常在什么场合使用：“The quick brown fox jumps over the lazy dog.”", "reasoning": REASONING + "\nThe quick brown fox jumps over the lazy dog, and the dog does not move at all, which is the joke.", "category": "general"}, False),
        ({"reasoning": "First, read the input list of numbers and sort it in ascending order, then take the middle element as the median.", "category": "code"}, False),
    ],
)
def test_language_mixing_in_the_reasoning(row, flagged):
    assert ("language_mixing" in flags_of(row)[0]) is flagged


SENTENCE = "我们再重新检查一遍这个式子的计算过程。"  # 18 letters: a 20-gram takes one on each side


@pytest.mark.parametrize(
    "reasoning, flagged",
    [
        (REASONING + SENTENCE * 25, True),
        (REASONING + "".join(f"第{i}步：{SENTENCE}此时数值为{i * 37 + 11}。" for i in range(30)), True),  # scattered
        (REASONING + "".join(f"第{i}步：{SENTENCE}此时数值为{i * 37 + 11}。" for i in range(21)), True),
        (REASONING + "".join(f"第{i}步：{SENTENCE}此时数值为{i * 37 + 11}。" for i in range(20)), False),  # 20 is allowed
        (REASONING + "哈" * 60, True),
        (REASONING + "\n| x | y |\n|---|---|\n" + "".join(f"| {i} | {i * i} |\n" for i in range(60)), False),
        (REASONING + "-" * 200 + "_" * 200 + " " * 400 + "……" * 100, False),
        (REASONING + "3" * 400, False),  # a long number is not a loop
        (REASONING + "$" + "3 \\times " * 60 + "3$", False),  # nor a long product
        (REASONING + "\n".join(" " * 24 + f"total{i} = total{i - 1} + step" for i in range(1, 40)), False),
    ],
)
def test_repetition(reasoning, flagged):
    assert ("repetition" in flags_of({"reasoning": reasoning})[0]) is flagged


def test_repetition_in_the_response_counts_too():
    assert flags_of({"response": "面积是 \\boxed{40}。" + "答案是四十平方厘米，请放心使用这个答案。" * 22}) == [["repetition"]]


@pytest.mark.parametrize(
    "response, category, flagged",
    [
        ("面积是 \\boxed{40} 平方厘米。", "math", False),
        ("长乘宽为 40。\n答：面积是 40 平方厘米。", "math", False),
        ("所以面积为 40 平方厘米。", "math", False),
        ("故面积为 40。", "math", False),
        ("最终答案：40", "math", False),
        ("面积等于长乘宽，也就是 8 乘 5", "math", True),  # cut off before the result
        ("面积等于长乘宽，也就是 8 乘 5", "general", False),
    ],
)
def test_math_response_without_a_final_answer(response, category, flagged):
    assert ("no_final_answer" in flags_of({"response": response, "category": category})[0]) is flagged


def test_several_flags_in_order_and_counted():
    rows = [{"reasoning": ""}, {"reasoning": "", "response": ENGLISH_ANSWER}, {}]
    flags = quality_flags(pl.DataFrame([dict(prompt="长方形面积是多少？", reasoning=REASONING, response="所以是 40。") | row for row in rows]), SETTINGS)
    assert flags.to_list() == [["missing_reasoning"], ["missing_reasoning", "not_chinese"], []]
    assert flag_counts(flags) == {"missing_reasoning": 2, "not_chinese": 1, "language_mixing": 0, "repetition": 0, "no_final_answer": 0}


def test_thresholds_are_settings():
    looser = FilterSettings(max_ngram_repeats=30, min_chinese_response=0.0, answer_categories=[])
    rows = [{"reasoning": REASONING + SENTENCE * 25}, {"response": ENGLISH_ANSWER}, {"response": "8 乘 5"}]
    assert flags_of(*rows, settings=looser) == [[], [], []]


def test_batches_give_the_same_flags(monkeypatch):
    rows = [{"reasoning": REASONING * (1 + i % 5) + (SENTENCE * 25 if i % 7 == 0 else "")} for i in range(60)]
    whole = flags_of(*rows)
    monkeypatch.setattr(filters, "_BATCH_CHARS", 500)  # about one row per chunk
    assert flags_of(*rows) == whole
    assert sum("repetition" in row for row in whole) == 9


def real_rows(count: int) -> tuple[pl.DataFrame, list[str]]:
    """Rows built from real text: reasoning of 2–8K characters strung from Alpaca-zh answers
    (general) or Ape210K problems and equations (math), response a real answer."""
    if not (DATA / "alpaca_zh.jsonl").exists():
        pytest.skip(f"shared data absent: {DATA}")
    alpaca = pl.read_ndjson(DATA / "alpaca_zh.jsonl").with_columns(
        prompt=pl.when(pl.col("input") != "").then(pl.col("instruction") + "\n" + pl.col("input")).otherwise(pl.col("instruction"))
    )
    general = alpaca.filter(~pl.col("prompt").str.contains(ASKS_FOR_CODE_OR_LANGUAGE) & (pl.col("output").str.len_chars() > 0))
    ape = pl.read_ndjson(DATA / "ape210k_valid.jsonl")
    steps = (ape["question"] + "\n列式：$" + ape["equation"] + "$，得 " + ape["answer"] + "。").to_list()
    rng = random.Random(11)
    rows = []
    for index in range(count):
        if index % 3 == 0:
            problem = rng.randrange(ape.height)
            rows.append((ape["question"][problem], _string_together(steps, rng), f"{steps[problem]}\n所以答案是 \\boxed{{{ape['answer'][problem]}}}。", "math"))
        else:
            pick = rng.randrange(general.height)
            rows.append((general["prompt"][pick], _string_together(general["output"].to_list(), rng), general["output"][pick], "general"))
    return pl.DataFrame(rows, schema=["prompt", "reasoning", "response", "category"], orient="row"), general["prompt"].to_list()


def _string_together(pieces: list[str], rng: random.Random) -> str:
    target, parts = rng.randrange(2000, 8000), []
    while sum(map(len, parts)) < target:
        parts.append(rng.choice(["嗯，", "我想想。", "另外，", "再检查一下：", ""]) + rng.choice(pieces))
    return "\n".join(parts)


def test_real_chinese_rows_are_not_flagged():
    frame, _ = real_rows(1500)
    counts = flag_counts(quality_flags(frame, SETTINGS))
    # Alpaca-zh has a handful of answers in English for Chinese prompts (song titles, letter
    # games); anything else is a false flag.
    assert counts["not_chinese"] <= 0.005 * frame.height
    assert {flag: count for flag, count in counts.items() if flag != "not_chinese"} == dict.fromkeys(FLAGS[:1] + FLAGS[2:], 0)


def test_planted_defects_in_real_rows_are_caught():
    frame, _ = real_rows(300)
    planted = {
        "missing_reasoning": pl.lit(""),
        "language_mixing": pl.col("reasoning") + "\nLet me think about this again, because the first approach might have missed an important detail here.",
        "repetition": pl.col("reasoning") + SENTENCE * 22,
    }
    quotes_english = frame["prompt"].str.contains(r"[A-Za-z]+(?:[ ,.'-]+[A-Za-z]+){5,}").to_list()
    for flag, reasoning in planted.items():
        raised = quality_flags(frame.with_columns(reasoning=reasoning), SETTINGS).to_list()
        # English in the reasoning is expected where the prompt itself quotes English.
        assert all(flag in row for row, quoted in zip(raised, quotes_english) if not (quoted and flag == "language_mixing")), flag
    english = quality_flags(frame.with_columns(response=pl.lit(ENGLISH_ANSWER)), SETTINGS).to_list()
    assert all("not_chinese" in row for row in english)
    cut_off = frame.filter(pl.col("category") == "math").with_columns(response=pl.lit("先求出每一部分，再把它们相加，"))
    assert all("no_final_answer" in row for row in quality_flags(cut_off, SETTINGS).to_list())


def test_a_broken_language_pattern_is_refused_with_the_settings():
    with pytest.raises(ValidationError, match="other_language_prompt"):
        FilterSettings(other_language_prompt="翻译(")
