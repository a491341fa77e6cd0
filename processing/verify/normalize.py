"""Cleaning an answer snippet into plain LaTeX: full-width forms, wrappers, spacing, symbols.

Shared by the answer locator, the math comparison and the choice reader. Everything here
is a plain `str -> str` rewrite so that both sides of a comparison go through the same
steps; reading values out of the cleaned text is numbers.py's job.
"""

from __future__ import annotations

import re

# Full-width ASCII forms (digits, letters, ＋－＝％（）．／：) to ASCII. The Chinese comma
# (U+FF0C) stays: it always separates answers, while an ASCII comma may group thousands.
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F) if code != 0xFF0C}
_SYMBOLS = {
    "−": "-", "—": "-", "–": "-", "×": r"\times ", "÷": r"\div ", "·": r"\cdot ", "⋅": r"\cdot ",
    "π": r"\pi ", "∞": r"\infty ", "≤": r"\le ", "≥": r"\ge ", "≠": r"\ne ", "±": r"\pm ",
    "∪": r"\cup ", "∩": r"\cap ", "∈": r"\in ", "°": r"^{\circ}", "²": "^{2}", "³": "^{3}",
    "√": r"\sqrt", "≈": "=", "　": " ", "\u3000": " ", "％": "%", "；": ";", "：": ":",
}
_TRANSLATE = str.maketrans({**{chr(k): chr(v) for k, v in _FULL_WIDTH.items()}, **_SYMBOLS})

_CIRCLED = {str(n): chr(0x2460 + n - 1) for n in range(1, 21)}
_WRAPPERS = re.compile(r"\\(?:text|mathrm|textrm|textbf|mathbf|boldsymbol|operatorname|mbox|textit|mathit)\s*\{")
_CIRCLED_LATEX = re.compile(r"\\textcircled\{?\s*(\d{1,2})\s*\}?")
_DROP = re.compile(r"\$|\\[()\[\]]|\\displaystyle|\\left(?![a-zA-Z])|\\right(?![a-zA-Z])|\\!|\*\*|\\limits")
_FRAC = re.compile(r"\\[dt]frac(?![a-zA-Z])")
_SPACES = re.compile(r"\\[,;: ]|\\q?quad(?![a-zA-Z])|~|\\enspace|\\thinspace")
# `1{,}200` is LaTeX's way of writing a thousands comma without a following space.
_BRACED_COMMA = re.compile(r"(?<=\d)\{,\}(?=\d{3})")
_PERCENT = re.compile(r"\\%")
_APPROX = re.compile(r"\\approx(?![a-zA-Z])")
# Bare function names: `ln2` is the logarithm, not l·n·2 (Math-Verify reads the latter).
_FUNCTIONS = re.compile(r"(?<![a-zA-Z])\\?(arcsin|arccos|arctan|sin|cos|tan|cot|sec|csc|ln|lg|log|exp)(?![a-zA-Z])")
_IMAGINARY = re.compile(r"\\mathrm\{\s*([ie])\s*\}")
_BLANKS = re.compile(r"\s+")


def plain(text: str) -> str:
    """ASCII forms, no `\\text{}`-style wrappers, no `$` or `**`; lines kept."""
    text = text.translate(_TRANSLATE)
    text = _IMAGINARY.sub(r"\1", text)
    text = _CIRCLED_LATEX.sub(lambda m: _CIRCLED.get(m.group(1), m.group(0)), text)
    return _DROP.sub("", unwrap(text, _WRAPPERS))


def clean(text: str) -> str:
    """Plain LaTeX with ASCII digits, no markup wrappers and single spaces."""
    text = plain(text)
    text = _FRAC.sub(r"\\frac", text)
    text = _BRACED_COMMA.sub(",", text)
    text = _SPACES.sub(" ", text)
    text = _PERCENT.sub("%", text)
    text = _APPROX.sub("=", text)
    text = _FUNCTIONS.sub(_function, text)
    return _BLANKS.sub(" ", text).strip()


def _function(match: re.Match) -> str:
    name = match.group(1)
    return r"\log_{10} " if name == "lg" else f"\\{name} "  # lg is the common logarithm in Chinese


def unwrap(text: str, opener: re.Pattern) -> str:
    """Replace every `\\cmd{body}` matched by `opener` (ending at its `{`) with its body."""
    while True:
        match = opener.search(text)
        if not match:
            return text
        end = closing_brace(text, match.end() - 1)
        if end < 0:
            return text[: match.start()] + text[match.end():]
        text = text[: match.start()] + text[match.end(): end] + text[end + 1:]


def closing_brace(text: str, start: int) -> int:
    """Index of the brace closing the `{` at `start`, or -1 when it is never closed."""
    depth = 0
    for i in range(start, len(text)):
        char = text[i]
        if char == "{" and text[i - 1: i] != "\\":
            depth += 1
        elif char == "}" and text[i - 1: i] != "\\":
            depth -= 1
            if depth == 0:
                return i
    return -1


def compact(text: str) -> str:
    """The form two answers are compared in as strings: no spaces, no trailing full stop."""
    return text.replace(" ", "").rstrip("。.")
