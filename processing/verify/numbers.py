"""Exact values of plain numeric answers, with Python's fractions instead of sympy.

Most answers in Chinese math data are numbers, fractions, mixed numbers, percentages or
short arithmetic (Ape210K writes `(3/5)`, `4(5/11)` and `150%`). Reading those exactly
here decides most rows in microseconds; anything with a letter, a root or a constant is
left to Math-Verify (`evaluate` returns None).
"""

from __future__ import annotations

import re
from fractions import Fraction

from processing.verify.units import NUMERAL_FOLLOWER

MAX_EXPONENT = 10_000  # a larger integer power is not an answer anyone checks by value
MAX_BITS = 100_000  # `5^{5^{5^5}}` would never finish: stop long before


class TooLarge(ValueError):
    """The expression's value is too large to compute (a power tower)."""


# A numeric exponent that itself has an exponent, or one of five or more digits: sympy
# would try to compute it, and Math-Verify hangs (REFERENCE.md §4).
_TOWER = re.compile(r"\^\s*\{?\s*(?:\d+\s*\}?\s*\^|\d{5,})")
_TOKEN = re.compile(r"\s*(\d+\.\d*|\.\d+|\d+|\\frac|\\times|\\cdot|\\div|\\circ|[-+*/^(){}%]|\\?[A-Za-z]+|\S)")
_MULTIPLY = {"*", r"\times", r"\cdot"}
_DIVIDE = {"/", r"\div"}


def evaluate(text: str) -> Fraction | None:
    """The exact value of `text`, or None when it is not plain arithmetic on numbers.

    Raises TooLarge for powers whose result would be astronomically large.
    """
    tokens = _TOKEN.findall(text)
    if not tokens:
        return None
    parser = _Parser(tokens)
    try:
        value = parser.expression()
    except (_NotExact, ZeroDivisionError):
        return None
    return value if parser.done() else None


def looks_too_large(text: str) -> bool:
    """A power tower like `5^{5^{5^5}}` anywhere in `text`, even inside a root or a symbol."""
    return _TOWER.search(text) is not None


class _NotExact(Exception):
    pass


class _Parser:
    """Recursive descent over + - × ÷ / ^ ( ) { } % and \\frac{}{}; nothing else."""

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.at = 0

    def done(self) -> bool:
        return self.at == len(self.tokens)

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise _NotExact
        self.at += 1
        return token

    def expression(self) -> Fraction:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> Fraction:
        value = self.signed()
        while self.peek() in _MULTIPLY or self.peek() in _DIVIDE:
            operator = self.take()
            right = self.signed()
            value = value * right if operator in _MULTIPLY else value / right
        return value

    def signed(self) -> Fraction:
        if self.peek() == "-":
            self.take()
            return -self.signed()
        if self.peek() == "+":
            self.take()
        return self.power()

    def power(self) -> Fraction:
        base = self.atom()
        if self.peek() != "^":
            return base
        self.take()
        degrees = [r"\circ"] if self.peek() == r"\circ" else ["{", r"\circ", "}"]
        if self.tokens[self.at: self.at + len(degrees)] == degrees:
            self.at += len(degrees)  # 90^{\circ}: degrees are a unit, the number is the answer
            return base
        exponent = self.atom() if self.peek() != "{" else self.group()
        return _power(base, exponent)

    def atom(self) -> Fraction:
        token = self.take()
        if token == "(":
            value = self.expression()
            self.take(")")
        elif token == "{":
            self.at -= 1
            value = self.group()
        elif token == r"\frac":
            numerator = self.frac_argument()
            value = numerator / self.frac_argument()
        elif token[0] in "0123456789.":
            value = Fraction(token)
        else:
            raise _NotExact
        if self.peek() == "%":
            self.take()
            value /= 100
        return value

    def group(self) -> Fraction:
        self.take("{")
        value = self.expression()
        self.take("}")
        return value

    def frac_argument(self) -> Fraction:
        """`\\frac{3}{5}` or the brace-less `\\frac35` (one digit per argument)."""
        if self.peek() == "{":
            return self.group()
        token = self.take()
        if not token.isascii() or not token.isdigit():
            raise _NotExact
        self.tokens[self.at: self.at] = list(token[1:])  # `\frac35` tokenizes as "35"
        return Fraction(token[0])


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1:
        raise _NotExact  # roots are Math-Verify's job
    if abs(exponent) > MAX_EXPONENT and abs(base) not in (0, 1):
        raise TooLarge
    bits = max(abs(base.numerator).bit_length(), base.denominator.bit_length())
    if bits * abs(exponent) > MAX_BITS:
        raise TooLarge
    return base ** int(exponent)


# --- notations rewritten to plain arithmetic before evaluation --------------------------

_MIXED = re.compile(
    r"(?<![\d.^_a-zA-Z}])(\d+)\s*(?:又\s*(\d+)\s*/\s*(\d+)|又?\s*\\frac\{(\d+)\}\{(\d+)\}|\((\d+)/(\d+)\))"
)


def rewrite_mixed(text: str) -> str:
    """`4又5/11`, `4\\frac{5}{11}`, `4又\\frac{5}{11}`, Ape210K `4(5/11)` → `\\frac{49}{11}`.

    Only a proper fraction makes a mixed number: `2(3/2)` stays a product for Math-Verify.
    """
    def improper(match: re.Match) -> str:
        whole = int(match.group(1))
        numerator, denominator = (int(g) for g in match.groups()[1:] if g is not None)
        if not 0 < numerator < denominator:
            return match.group(0)
        return rf"\frac{{{whole * denominator + numerator}}}{{{denominator}}}"

    return _MIXED.sub(improper, text)


_SPACE_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?: \d{3})+(?![\d.]|\s\d)")
_COMMA_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])")


def merge_space_thousands(text: str) -> str:
    """`1 200` and `1\\,200` (already cleaned to a space) → `1200`: digit groups of three."""
    return _SPACE_THOUSANDS.sub(lambda m: m.group(0).replace(" ", ""), text)


def merge_comma_thousands(text: str) -> str:
    """`1,200` → `1200`. Only for replies, and only as one of two readings (see math.py)."""
    return _COMMA_THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)


def has_comma_thousands(text: str) -> bool:
    return _COMMA_THOUSANDS.search(text) is not None


# --- simple Chinese numerals --------------------------------------------------------------

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_SMALL = {"十": 10, "百": 100, "千": 1000}
_LARGE = {"万": 10_000, "亿": 100_000_000}
_NUMERAL = "[零〇一二两三四五六七八九十百千万亿]+"
_WAN = re.compile(r"(\d+(?:\.\d+)?)\s*([万亿])")


def chinese_integer(text: str) -> int | None:
    """十二 → 12, 一百零五 → 105, 两千 → 2000, 三万五千 → 35000; None when malformed."""
    total = section = digit = 0
    for char in text:
        if char in _DIGITS:
            digit = _DIGITS[char]
        elif char in _SMALL:
            section += (digit or 1) * _SMALL[char]
            digit = 0
        elif char in _LARGE:
            total = (total + section + digit) * _LARGE[char]
            section = digit = 0
        else:
            return None
    return total + section + digit


def rewrite_chinese_numerals(text: str, unit_lookahead: str) -> str:
    """Chinese numerals → digits, for a text with no Arabic digits (`答案是十二。`).

    `unit_lookahead` is a regex of what may follow a numeral (measure words, punctuation),
    so `一共` or `一样` are left alone.
    """
    def fraction(match: re.Match) -> str:
        denominator, numerator = (_arabic(g) for g in match.groups())
        return match.group(0) if None in (denominator, numerator) else rf"\frac{{{numerator}}}{{{denominator}}}"

    def integer(match: re.Match) -> str:
        value = chinese_integer(match.group(0))
        return match.group(0) if value is None else str(value)

    text = re.sub(rf"百分之({_NUMERAL}|\d+(?:\.\d+)?)", lambda m: f"{_arabic(m.group(1))}%", text)
    text = re.sub(rf"({_NUMERAL}|\d+)分之({_NUMERAL}|\d+)", fraction, text)
    return re.sub(rf"{_NUMERAL}(?={unit_lookahead})", integer, text)


def arabic(text: str) -> str:
    """Mixed numbers as fractions (`4又5/11`), `12万` as 120000; Chinese numerals become
    digits only where no Arabic digit is written (`共有十二个`)."""
    text = rewrite_mixed(rewrite_wan(text))
    if re.search("[0-9]", text):
        return text
    return rewrite_chinese_numerals(text, NUMERAL_FOLLOWER)


def rewrite_wan(text: str) -> str:
    """`12万` → `120000`, `3.5亿` → `350000000` (Arabic digits with a Chinese multiplier)."""
    return _WAN.sub(lambda m: _decimal_text(Fraction(m.group(1)) * _LARGE[m.group(2)]), text)


def _arabic(text: str) -> str | None:
    if text[0].isdigit():
        return text
    value = chinese_integer(text)
    return None if value is None else str(value)


def _decimal_text(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else str(float(value))
