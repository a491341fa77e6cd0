"""Math answers checked with Math-Verify in worker processes under a hard timeout.

Math-Verify times out with `signal.alarm`, which only works in a main thread, and some
inputs (power towers) hang far past its own limit (REFERENCE.md §4). So each check runs
in a worker process that is killed when our own deadline passes.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from multiprocessing.pool import Pool


@dataclass(frozen=True)
class Verdict:
    correct: bool
    note: str | None = None  # why it could not be checked normally: "timeout", "no-answer"


def check(reference: str, response: str) -> Verdict:
    """Gold first: Math-Verify's comparison is not symmetric."""
    from math_verify import parse, verify

    gold = parse(f"${reference}$")
    if not gold:
        gold = parse(reference)
    predicted = parse(response)
    if not predicted:
        return Verdict(False, "no-answer")
    return Verdict(bool(verify(gold, predicted)))


def verify_math(pairs: list[tuple[str, str]], timeout: float, workers: int) -> list[Verdict]:
    """Verdicts in order; a check that outlives `timeout` is wrong with note "timeout"."""
    verdicts: list[Verdict | None] = [None] * len(pairs)
    todo = list(range(len(pairs)))
    context = multiprocessing.get_context("spawn")  # fork + threads (aiohttp, polars) can deadlock
    while todo:
        with Pool(workers, context=context) as pool:
            todo = _run_until_timeout(pool, pairs, todo, verdicts, timeout)
    return verdicts  # type: ignore[return-value]


def _run_until_timeout(pool: Pool, pairs, todo: list[int], verdicts: list, timeout: float) -> list[int]:
    """Fill verdicts; on the first hang, mark it and return the rest for a fresh pool."""
    pending = [(i, pool.apply_async(check, pairs[i])) for i in todo]
    for position, (i, result) in enumerate(pending):
        try:
            verdicts[i] = result.get(timeout=timeout)
        except multiprocessing.TimeoutError:
            verdicts[i] = Verdict(False, "timeout")
            return [j for j, _ in pending[position + 1:] if verdicts[j] is None]
        except Exception:  # noqa: BLE001 - a parser crash on one answer must not stop the batch
            verdicts[i] = Verdict(False, "error")
    return []
