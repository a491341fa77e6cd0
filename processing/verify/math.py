"""Math answers: read the reference and the located final answer, decide exactly when both
are numbers, and hand anything symbolic to Math-Verify (symbolic.py, in worker processes).

Reading rules, the same on both sides:
- several answers (`24,112`, `5;10`, `x=1或x=2`, two boxes) compare as multisets;
- in a reference an ASCII comma always separates answers: reference answers are written
  without thousands separators, while two-blank answers like `24,112` are common;
- in a reply `1,200` is ambiguous: digit groups of exactly three after a group of one to
  three digits read as one number AND as a list, and either reading may match
  (`1,200` matches 1200, `24,112` matches the two answers 24 and 112);
- `1\\,200`, `1{,}200` and `1 200` are always one number;
- units and measure words are dropped; a single Latin letter (`825 m`) only when the
  reference is a plain number, since `-3 m` in an algebra answer is −3·m.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from processing.verify.answers import final_answer, span_answer
from processing.verify.normalize import clean, compact
from processing.verify.numbers import (
    TooLarge,
    arabic,
    evaluate,
    has_comma_thousands,
    looks_too_large,
    merge_comma_thousands,
    merge_space_thousands,
)
from processing.verify.units import MEASURE_WORD, strip_latin_unit

_HANZI = re.compile(r"[\u4e00-\u9fff]")
# What may stand next to numbers in a reference that still reads as math: units, the
# words joining several answers, Chinese numerals. Anything else makes it a text answer.
_NOT_TEXT = re.compile(rf"{MEASURE_WORD}|或者|或|以及|和|及|与|又|百分之|分之|[零〇一二两三四五六七八九十百千万亿]")
_SEPARATORS = {",", ";", "，", "、"}
_OPEN, _CLOSE = "([{", ")]}"
_SET = re.compile(r"^\\\{(.*)\\\}$")
_RELATION = re.compile(r"[<>=]|\\(?:le|ge|leq|geq|ne|neq|in)(?![a-z])")
_CIRCLED = re.compile("[\u2460-\u2473]+")
_VARIABLE = re.compile(r"^\s*(?:[a-zA-Z]|\\[a-z]+)(?:_\{?\w+\}?)?'?\s*$")
_DECIMAL = re.compile(r"^-?\d*\.(\d+)(%?)$")


@dataclass(frozen=True)
class Part:
    """One answer: its text as compared and given to Math-Verify, its exact value if any."""

    text: str
    value: Fraction | None = None
    decimals: int = 0  # digits written after the point (a percent adds two): rounding allowed
    too_large: bool = False


@dataclass(frozen=True)
class Reference:
    parts: tuple[Part, ...]
    text: str | None = None  # a Chinese text answer (`第一象限`), compared as a string only

    @property
    def numeric(self) -> bool:
        return self.text is None and all(part.value is not None for part in self.parts)


@dataclass(frozen=True)
class SymbolicTask:
    """What Math-Verify must decide: the reference parts against one or two readings."""

    reference: tuple[str, ...]
    readings: tuple[tuple[str, ...], ...]


# Notes: why a row got no verdict (besides Math-Verify's "timeout" and the pool's "error").
NO_ANSWER = "no-answer"  # the response states no final answer
TOO_LARGE = "too-large"  # a power tower: no one computes it, Math-Verify would hang
TEXT_REFERENCE = "text-reference"  # a reference in words that the answer does not repeat
UNREADABLE = "unreadable-answer"  # the stated answer is not math (`\boxed{无解}` for a number)
UNREADABLE_REFERENCE = "unreadable-reference"  # the reference cannot be read as math


@lru_cache(maxsize=65_536)
def read_reference(reference: str) -> Reference:
    text = clean(reference)
    if _HANZI.search(_NOT_TEXT.sub("", text)):
        return Reference((), text=compact(text))
    if _HANZI.search(text):
        text = span_answer(text) or text
    return Reference(tuple(_part(piece, lenient=False) for piece in split(arabic(merge_space_thousands(text)))))


def read_answer(answer: str, reference: Reference) -> list[tuple[Part, ...]]:
    """One reading, or two when an ASCII comma may group thousands or separate answers."""
    text = arabic(merge_space_thousands(clean(answer)))
    variants = [merge_comma_thousands(text), text] if has_comma_thousands(text) else [text]
    return [tuple(_part(piece, reference.numeric) for piece in split(variant)) for variant in variants]


def check_fast(reference: str, response: str) -> bool | str | SymbolicTask:
    """True / False when decided here; a note (`no-answer`, `too-large`, …); or the task
    Math-Verify must decide."""
    gold = read_reference(reference)
    if not gold.parts and gold.text is None:
        return UNREADABLE_REFERENCE
    answer = final_answer(response, max(1, len(gold.parts)))
    if answer is None:
        return NO_ANSWER
    if gold.text is not None:
        return True if compact(clean(answer)) == gold.text else TEXT_REFERENCE
    readings = read_answer(answer, gold)
    outcomes = [_compare(gold.parts, reading) for reading in readings]
    if True in outcomes:
        return True
    undecided = tuple(tuple(p.text for p in r) for r, o in zip(readings, outcomes) if o is None)
    if undecided:
        return SymbolicTask(tuple(p.text for p in gold.parts), undecided)
    return next((o for o in outcomes if isinstance(o, str)), False)


def _compare(gold: tuple[Part, ...], answer: tuple[Part, ...]) -> bool | str | None:
    """True / False, a note, or None when only Math-Verify can tell."""
    if sorted(p.text for p in gold) == sorted(p.text for p in answer):
        return True
    statements = _statements(gold)
    if statements is not None or _statements(answer) is not None:
        return statements == _statements(answer)
    if any(p.too_large for p in gold + answer):
        return TOO_LARGE
    if any(_HANZI.search(p.text) for p in answer):
        return UNREADABLE
    if all(p.value is not None for p in gold + answer):
        return _same_numbers(list(gold), list(answer))
    if all(p.value is not None for p in gold) and any(_RELATION.search(p.text) for p in answer):
        return False  # a number is never an equation or inequality (and sympy may take seconds to say so)
    return None


def _statements(parts: tuple[Part, ...]) -> frozenset[str] | None:
    """The statement numbers of `①③④` (which statements are true), as a set."""
    joined = "".join(p.text for p in parts)
    return frozenset(joined) if _CIRCLED.fullmatch(joined) else None


def _same_numbers(gold: list[Part], answer: list[Part]) -> bool:
    if len(gold) != len(answer):
        return False
    for part in gold:
        match = next((other for other in answer if _same_number(part, other)), None)
        if match is None:
            return False
        answer.remove(match)
    return True


def _same_number(a: Part, b: Part) -> bool:
    """Equal, or one side is a decimal of two or more places that the other, not written as a
    decimal, rounds to (1/3 ≈ 0.33). Two decimals must be equal: 3.031 is not 3.03."""
    if a.value == b.value:
        return True
    return any(
        shown.decimals >= 2 and exact.decimals == 0 and abs(exact.value - shown.value) * 2 * 10**shown.decimals <= 1
        for shown, exact in ((a, b), (b, a))
    )


def split(text: str) -> list[str]:
    """Top-level answers: split on `,` `;` `，` `、` outside brackets (`或`/`和` were turned
    into `;` when the answer was located)."""
    text = _SET.sub(r"\1", text.strip())
    pieces, depth, current = [], 0, []
    for char in text:
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
        if depth == 0 and char in _SEPARATORS:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return [piece for piece in (p.strip() for p in pieces) if piece]


def _part(text: str, lenient: bool) -> Part:
    if _HANZI.search(text):
        text = span_answer(text) or text
    text = strip_latin_unit(text, lenient).lstrip("=")  # `\boxed{\approx 3.14}` reads as "=3.14"
    if looks_too_large(text):
        return Part(compact(text), too_large=True)
    try:
        text = _assigned_value(text)
        value = _value(text)
    except TooLarge:
        return Part(compact(text), too_large=True)
    decimal = _DECIMAL.match(compact(text))
    decimals = len(decimal.group(1)) + (2 if decimal.group(2) else 0) if decimal else 0
    return Part(compact(text), value, decimals)


def _assigned_value(text: str) -> str:
    """`x=3`, `a_1=5`, `135÷3=45` → the value after `=`; an equation (`y=2x`) stays whole."""
    if "=" not in text:
        return text
    left, last = text.rsplit("=", 1)
    if _value(last) is not None and (_VARIABLE.match(left) or _value(left) is not None):
        return last
    return text


def _value(text: str) -> Fraction | None:
    return evaluate(text) if text.strip() else None
