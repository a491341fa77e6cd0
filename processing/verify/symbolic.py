"""Math-Verify's side of a math check, run inside a DeadlinePool worker process.

Each answer is parsed on its own from the text math.py located and cleaned, never from
the whole response, and references go first (`verify` is not symmetric). Units are
already dropped by math.py, so Math-Verify's own unit stripping is off: with it `-3 m`
and `-3` would compare equal. Its signal-based timeouts work here because a worker runs
items in its main thread; our DeadlinePool kills the worker if they do not fire.
"""

from __future__ import annotations

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
from math_verify.errors import TimeoutException
from math_verify.parser import NormalizationConfig

from processing.verify.math import UNREADABLE, SymbolicTask

UNREADABLE_REFERENCE = "unreadable-reference"
SOFT_TIMEOUT = 2  # seconds, Math-Verify's own limit per parse or comparison (whole seconds)

_CONFIG = [
    LatexExtractionConfig(
        normalization_config=NormalizationConfig(
            basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all", equations=False
        )
    ),
    ExprExtractionConfig(),
]


def warm_up() -> None:
    """Build Math-Verify's regexes and sympy's caches before the first real item."""
    verify(_parse(r"\frac{1}{2}"), _parse("0.5"), timeout_seconds=SOFT_TIMEOUT)


def decide(task: SymbolicTask) -> bool | str:
    """True when any reading matches the reference; else False, or a note."""
    try:
        return _decide(task)
    except TimeoutException:
        return "timeout"


def _decide(task: SymbolicTask) -> bool | str:
    gold = [_parse(text) for text in task.reference]
    if not all(gold):
        return UNREADABLE_REFERENCE
    outcome: bool | str = UNREADABLE
    for reading in task.readings:
        answers = [_parse(text) for text in reading]
        if not all(answers):
            continue
        if _match(gold, answers, task.reference, reading):
            return True
        outcome = False
    return outcome


def _match(gold: list, answers: list, gold_texts: tuple[str, ...], answer_texts: tuple[str, ...]) -> bool:
    """Equal multisets of answers; with different counts, both sides read as one set."""
    if len(gold) != len(answers):
        joined = [_parse(",".join(texts)) for texts in (gold_texts, answer_texts)]
        return bool(all(joined)) and _equal(*joined)
    answers = list(answers)
    for expected in gold:
        found = next((i for i, answer in enumerate(answers) if _equal(expected, answer)), None)
        if found is None:
            return False
        answers.pop(found)
    return True


def _equal(gold: list, answer: list) -> bool:
    """Math-Verify's TimeoutException is a BaseException: it passes through to `decide`."""
    try:
        return verify(gold, answer, timeout_seconds=SOFT_TIMEOUT, raise_on_error=True)
    except Exception:  # noqa: BLE001 - sympy fails in many ways on odd input: not equal
        return False


def _parse(text: str) -> list:
    try:
        return parse(
            f"${text}$",
            extraction_config=_CONFIG,
            fallback_mode="no_fallback",
            extraction_mode="first_match",
            parsing_timeout=SOFT_TIMEOUT,
            raise_on_error=True,
        )
    except Exception:  # noqa: BLE001 - unparseable LaTeX is no answer, not a crash
        return []
