"""The accuracy regression table (reply_table.py) from ../shared/data, through the batch API.

Every format group must agree with the truth on at least 99.5% of its rows, and no wrong
reply may be accepted: each one writes the reference answer in its reasoning and states a
different final answer.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from helpers import SHARED_DATA
from reply_table import GROUPS, WRONG, build_table

MIN_AGREEMENT = 0.995

pytestmark = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"shared data not found at {SHARED_DATA}")


@pytest.fixture(scope="module")
def table(verifier):
    cases = build_table(SHARED_DATA)
    verdicts = verifier.check([(case.reference, case.response, case.category) for case in cases])
    return list(zip(cases, verdicts))


def test_every_format_group_agrees_with_the_truth(table):
    by_group = defaultdict(list)
    for case, verdict in table:
        by_group[case.group].append(verdict.score == case.truth)
    assert set(by_group) == set(GROUPS)
    shares = {group: sum(agreed) / len(agreed) for group, agreed in by_group.items()}
    assert {group: share for group, share in shares.items() if share < MIN_AGREEMENT} == {}


def test_no_wrong_reply_is_accepted(table):
    accepted = [(case.reference, case.response[-120:]) for case, verdict in table if case.truth == WRONG and verdict.score == 10]
    assert accepted == []


def test_the_table_is_half_right_half_wrong(table):
    """The truth is balanced in every group (hedges are wrong by construction, no-answer has none)."""
    counts = defaultdict(lambda: defaultdict(int))
    for case, _ in table:
        counts[case.group][case.truth] += 1
    for group, truths in counts.items():
        if group in ("choice-hedge", "no-answer"):
            assert len(truths) == 1, group
        else:
            assert abs(truths[10.0] - truths[0.0]) <= max(2, 0.02 * sum(truths.values())), group
