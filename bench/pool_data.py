"""Pools built from ../shared/data by controlled variation, for the pool benchmarks.

Everything here is deterministic given a seed, and every planted copy is recorded, so
recall and precision can be computed exactly:
- distinct prompts: Ape210K problems with their numbers changed (another problem, by
  this project's rule), and pairs of Alpaca/CMMLU texts of similar length joined into one
  request (two pairs sharing one text stay below Jaccard 0.4);
- near-duplicates: a copy of a prompt with its punctuation and spacing changed, with a
  few characters edited, or with a short phrase added;
- contamination: benchmark questions verbatim, with changed punctuation and spacing,
  behind a prefix such as 请回答：, or embedded in a longer request.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BENCHMARKS = [  # file, question field, answer field
    ("gsm8k", "question", "answer"),
    ("aime24", "problem", "answer"),
    ("amc23", "question", "answer"),
    ("cmath", "question", "answer"),
    ("gaokao_math_qa", "question", "label"),
    ("gaokao_math_cloze", "question", "answer"),
    ("cn_middle_school", "question", "answer"),
]

_NUMBER = re.compile(r"\d+")
_PUNCT_SWAPS = {"，": ",", ",": "，", "？": "?", "?": "？", "：": ":", ":": "：", "。": ".", "！": "!", "（": "(", "）": ")"}
_PREFIXES = ["请回答：", "问题：", "请解答下面的题目。", "帮我算一下：", "Q: "]
_INTROS = ["我在做作业的时候遇到这道题，", "老师布置了下面这道题：\n", "朋友问了我一个问题，", "考试复习中，"]
_OUTROS = ["请给出详细的解题步骤。", "谢谢！", "能不能一步一步讲清楚？", "答案是多少？"]
_FILLERS = "的了是在有和也就都而及与着或一个我们这那"


def instructions() -> dict[str, pl.Series]:
    """The three real pools as prompt series (Alpaca as instruction + newline + input)."""
    folder = DATA / "instructions"
    alpaca = pl.read_ndjson(folder / "alpaca_zh.jsonl")
    alpaca_prompt = alpaca.select(
        pl.when(pl.col("input") != "")
        .then(pl.col("instruction") + "\n" + pl.col("input"))
        .otherwise(pl.col("instruction"))
    ).to_series()
    cmmlu = pl.read_ndjson(folder / "cmmlu_test.jsonl").select(
        pl.format("{}\nA. {}\nB. {}\nC. {}\nD. {}", "question", "A", "B", "C", "D")
    )
    return {
        "alpaca": alpaca_prompt,
        "ape210k": pl.read_ndjson(folder / "ape210k_valid.jsonl")["question"],
        "cmmlu": cmmlu.to_series(),
    }


def benchmark_questions() -> pl.DataFrame:
    """benchmark, item, question of every benchmark file."""
    frames = []
    for name, question, _ in BENCHMARKS:
        questions = pl.read_ndjson(DATA / "benchmarks" / f"{name}.jsonl")[question]
        frames.append(pl.DataFrame({"benchmark": name, "item": np.arange(len(questions)), "question": questions}))
    return pl.concat(frames)


def benchmark_files() -> list[dict]:
    return [
        {"path": str(DATA / "benchmarks" / f"{name}.jsonl"), "question_field": q, "answer_field": a, "name": name}
        for name, q, a in BENCHMARKS
    ]


# --- distinct prompts -----------------------------------------------------------------


def renumber(text: str, variant: int, rng: np.random.Generator) -> str | None:
    """The same problem with other numbers; variant v shifts the first number by v."""
    numbers = _NUMBER.findall(text)
    if not numbers:
        return None
    first = [True]

    def replace(match: re.Match) -> str:
        value = int(match.group())
        if first[0]:
            first[0] = False
            return str(value + variant)
        return str(max(1, value + int(rng.integers(-9, 10))))

    return _NUMBER.sub(replace, text)


def paired(texts: list[str], count: int, rng: np.random.Generator) -> list[str]:
    """`count` requests joining two texts whose lengths differ by less than 25%.

    Each unordered pair is used once. Two requests sharing one text then share at most
    1 / (1 + 2 / 1.25) ≈ 38% of their n-grams, well below any near-duplicate threshold.
    """
    band = np.floor(np.log(np.maximum([len(t) for t in texts], 1)) / np.log(1.25)).astype(int)
    groups = [np.flatnonzero(band == b) for b in np.unique(band)]
    weights = np.array([len(g) ** 2 for g in groups], dtype=float)
    seen, out = set(), []
    while len(out) < count:
        for g in rng.choice(len(groups), size=count - len(out), p=weights / weights.sum()):
            first, second = (int(i) for i in rng.choice(groups[g], size=2))
            if first != second and (min(first, second), max(first, second)) not in seen:
                seen.add((min(first, second), max(first, second)))
                out.append(f"{texts[first]}\n另外，{texts[second]}")
    return out


# --- planted copies -------------------------------------------------------------------


def vary_punctuation(text: str, rng: np.random.Generator) -> str:
    """Swap full- and half-width punctuation, drop some, add a few spaces."""
    out = []
    for char in text:
        if char in _PUNCT_SWAPS and rng.random() < 0.8:
            out.append(_PUNCT_SWAPS[char] if rng.random() < 0.8 else "")
        else:
            out.append(char)
        if rng.random() < 0.03:
            out.append(" ")
    return "".join(out)


def with_prefix(text: str, rng: np.random.Generator) -> str:
    return _PREFIXES[rng.integers(len(_PREFIXES))] + text


def embedded(text: str, rng: np.random.Generator) -> str:
    return _INTROS[rng.integers(len(_INTROS))] + text + _OUTROS[rng.integers(len(_OUTROS))]


def edited(text: str, rng: np.random.Generator, share: float = 0.05) -> str:
    """Insert, delete or replace about `share` of the characters, never touching digits."""
    chars = list(text)
    for _ in range(max(1, round(len(chars) * share))):
        position = int(rng.integers(len(chars)))
        if chars[position].isdigit():
            continue
        action = rng.integers(3)
        filler = _FILLERS[rng.integers(len(_FILLERS))]
        if action == 0:
            chars.insert(position, filler)
        elif action == 1 and len(chars) > 1:
            del chars[position]
        else:
            chars[position] = filler
    return "".join(chars)


CONTAMINATIONS = {
    "verbatim": lambda text, rng: text,
    "punctuation": vary_punctuation,
    "prefix": with_prefix,
    "embedded": embedded,
}
NEAR_DUPLICATES = {
    "punctuation": vary_punctuation,
    "edited": edited,
    "suffix": lambda text, rng: text + _OUTROS[rng.integers(len(_OUTROS))],
}
