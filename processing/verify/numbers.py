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
_NUMERAL = "[零〇一二两三四五六七八九十百千万亿]+(?:点[零〇一二三四五六七八九]+)?"
_NUMBER = rf"(?:{_NUMERAL}|\d+(?:\.\d+)?)"
_PERCENT_WORDS = re.compile(rf"百分之({_NUMBER})")
_FRACTION_WORDS = re.compile(rf"({_NUMBER})分之({_NUMBER})")
_NUMERAL_WORD = re.compile(rf"{_NUMERAL}(?={NUMERAL_FOLLOWER})")
_WAN = re.compile(r"(\d+(?:\.\d+)?)\s*([万亿])")


def arabic(text: str) -> str:
    """Numbers in the forms evaluate() reads: mixed numbers as fractions (`4又5/11`), `12万`
    as 120000, `百分之二十` as 20%, `三分之一` as \\frac{1}{3}. Other Chinese numerals become
    digits only where no Arabic digit is written (`共有十二个`), and only before a measure
    word or punctuation, so `一共` and `一样` stay words."""
    text = rewrite_mixed(_WAN.sub(_wan, text))
    had_digits = re.search("[0-9]", text) is not None
    text = _PERCENT_WORDS.sub(lambda m: _words(m.group(0), "{0}%", m.group(1)), text)
    text = _FRACTION_WORDS.sub(lambda m: _words(m.group(0), r"\frac{{{1}}}{{{0}}}", *m.groups()), text)
    if had_digits:
        return text
    return _NUMERAL_WORD.sub(lambda m: _words(m.group(0), "{0}", m.group(0)), text)


def chinese_number(text: str) -> str | None:
    """十二 → 12, 一百零五 → 105, 两千 → 2000, 三万五千 → 35000, 零点五 → 0.5; None when malformed."""
    whole, _, decimals = text.partition("点")
    total = section = digit = 0
    for char in whole:
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
    fraction = "".join(str(_DIGITS[char]) for char in decimals)
    return f"{total + section + digit}" + (f".{fraction}" if fraction else "")


def _words(original: str, template: str, *numbers: str) -> str:
    """`template` filled with the numbers in digits, or `original` if one is malformed."""
    digits = [number if number[0] in "0123456789" else chinese_number(number) for number in numbers]
    return original if None in digits else template.format(*digits)


def _wan(match: re.Match) -> str:
    """`12万` → `120000`, `3.5亿` → `350000000` (Arabic digits with a Chinese multiplier)."""
    value = Fraction(match.group(1)) * _LARGE[match.group(2)]
    return str(value.numerator) if value.denominator == 1 else str(float(value))
