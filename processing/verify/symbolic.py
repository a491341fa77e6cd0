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

from processing.verify.math import UNREADABLE, UNREADABLE_REFERENCE, SymbolicTask

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
    decide((SymbolicTask((r"\frac{1}{2}",), (("0.5",),)), 60))


def decide(job: tuple[SymbolicTask, int]) -> bool | str:
    """True when any reading matches the reference; else False, or a note. The int is
    Math-Verify's own time limit in whole seconds for each parse and comparison."""
    task, seconds = job
    try:
        return _decide(task, seconds)
    except TimeoutException:
        return "timeout"


def _decide(task: SymbolicTask, seconds: int) -> bool | str:
    gold = [_parse(text, seconds) for text in task.reference]
    if not all(gold):
        return UNREADABLE_REFERENCE
    outcome: bool | str = UNREADABLE
    for reading in task.readings:
        answers = [_parse(text, seconds) for text in reading]
        if not all(answers):
            continue
        if _match(gold, answers, task.reference, reading, seconds):
            return True
        outcome = False
    return outcome


def _match(gold: list, answers: list, gold_texts: tuple[str, ...], answer_texts: tuple[str, ...], seconds: int) -> bool:
    """Equal multisets of answers; with different counts, both sides read as one set."""
    if len(gold) != len(answers):
        joined = [_parse(",".join(texts), seconds) for texts in (gold_texts, answer_texts)]
        return bool(all(joined)) and _equal(*joined, seconds)
    answers = list(answers)
    for expected in gold:
        found = next((i for i, answer in enumerate(answers) if _equal(expected, answer, seconds)), None)
        if found is None:
            return False
        answers.pop(found)
    return True


def _equal(gold: list, answer: list, seconds: int) -> bool:
    """Math-Verify's TimeoutException is a BaseException: it passes through to `decide`."""
    try:
        return verify(gold, answer, timeout_seconds=seconds, raise_on_error=True)
    except Exception:  # noqa: BLE001 - sympy fails in many ways on odd input: not equal
        return False


def _parse(text: str, seconds: int) -> list:
    try:
        return parse(
            f"${text}$",
            extraction_config=_CONFIG,
            fallback_mode="no_fallback",
            extraction_mode="first_match",
            parsing_timeout=seconds,
            raise_on_error=True,
        )
    except Exception:  # noqa: BLE001 - unparseable LaTeX is no answer, not a crash
        return []
