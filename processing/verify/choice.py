"""Multiple-choice answers: find the letter the response settled on."""

from __future__ import annotations

import re

LETTERS = "ABCD"
# In order of trust: an explicit box, then "答案…X" phrases, then a lone trailing letter.
_PATTERNS = [
    re.compile(r"\\boxed\{\s*(?:\\text\{)?\s*([A-Da-d])\s*\}"),
    re.compile(r"(?:答案|正确选项|应选|故选|选择|选项|answer)\s*(?:是|为|应为|应该是|:|：)?\s*[（(]?\s*([A-D])(?![A-Za-z])"),
    re.compile(r"(?:^|[\s(（])([A-D])[)）.。]?\s*$"),
]


def is_choice_answer(reference: str) -> bool:
    return reference.strip().upper() in LETTERS and len(reference.strip()) == 1


def extract_choice(response: str) -> str | None:
    """The last letter matched by the most trusted pattern that matches at all."""
    for pattern in _PATTERNS:
        found = pattern.findall(response)
        if found:
            return found[-1].upper()
    return None


def verify_choice(reference: str, response: str) -> bool:
    return extract_choice(response) == reference.strip().upper()
