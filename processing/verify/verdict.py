"""The outcome of checking one response, whatever the method."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    score: float | None  # 0–10; None when the row could not be checked
    method: str | None  # "math", "choice", "code", "judge"
    note: str | None = None  # why it was not checked normally: "timeout", "no-code", …
