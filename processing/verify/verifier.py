"""The batch API the pipeline and `crd verify` call: a verdict per (reference, response, category).

    with Verifier(settings) as verifier:
        verdicts = verifier.check([(reference, response, category), ...])

Choice rows and most math rows are decided in this process (choice.py, math.py's exact
path). The rest go to Math-Verify in long-lived worker processes owned by the Verifier,
started on first need and stopped when the `with` block ends; feed it batch after batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from processing.verify.choice import check_choice, read_choice_reference
from processing.verify.math import NO_ANSWER, SymbolicTask, check_fast
from processing.verify.settings import VerifyConfig
from processing.verify.workers import DeadlinePool

RIGHT, WRONG = 10.0, 0.0
MATH, CHOICE = "math", "choice"
# Categories whose reference answers are matched; other rows are left to a judge.
CHECKED_CATEGORIES = {None, "math", "exam", "stem"}


@dataclass(frozen=True)
class Verdict:
    score: float | None  # 10 right, 0 wrong, None unchecked
    method: str | None  # "math", "choice", or None when the row has nothing to check against
    note: str | None = None  # why it was not checked normally: no-answer, timeout, error, …


def method_for(reference: str | None, category: str | None = None) -> str | None:
    """`choice` for option letters (`B`, `ACD`, `C. 1-i`), `math` for any other reference of
    a math, exam or STEM row (or a row without category), else None."""
    if reference is None or not reference.strip() or category not in CHECKED_CATEGORIES:
        return None
    return CHOICE if read_choice_reference(reference) else MATH


class Verifier:
    """Owns the Math-Verify worker pool; `check` may be called any number of times."""

    def __init__(self, settings: VerifyConfig):
        # Math-Verify's own signal-based limits fire well before our hard kill, so a slow
        # sympy comparison ends as "timeout" without losing the worker.
        self._soft_timeout = max(1, int(settings.timeout / 3))
        self._pool = DeadlinePool(
            "processing.verify.symbolic:decide", settings.workers, settings.timeout, warm_up="warm_up"
        )

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc_info) -> None:
        self._pool.close()

    @property
    def workers_replaced(self) -> int:
        """Workers killed after a hang or crash since the Verifier started."""
        return self._pool.replaced

    def check(self, rows: Iterable[tuple[str | None, str | None, str | None]]) -> list[Verdict]:
        verdicts: list[Verdict | None] = []
        pending: list[tuple[int, str, SymbolicTask]] = []
        for reference, response, category in rows:
            method = method_for(reference, category)
            outcome = _decide_here(method, reference or "", response or "")
            if isinstance(outcome, SymbolicTask):
                pending.append((len(verdicts), method, outcome))
            verdicts.append(None if isinstance(outcome, SymbolicTask) else _verdict(method, outcome))
        results = self._pool.run([(task, self._soft_timeout) for _, _, task in pending])
        for (index, method, _), result in zip(pending, results):
            verdicts[index] = _verdict(method, result.failure or result.value)
        return verdicts  # type: ignore[return-value]


def _decide_here(method: str | None, reference: str, response: str) -> bool | str | SymbolicTask | None:
    if method is None:
        return None
    if method == MATH:
        return check_fast(reference, response)
    choice = read_choice_reference(reference)
    right = check_choice(choice, response)
    if right is None and choice.value:
        return check_fast(choice.value, response)  # no letter stated: compare the option's value
    return NO_ANSWER if right is None else right


def _verdict(method: str | None, outcome: bool | str | None) -> Verdict:
    if outcome is None:
        return Verdict(None, method)
    if isinstance(outcome, str):
        return Verdict(None, method, outcome)
    return Verdict(RIGHT if outcome else WRONG, method)
