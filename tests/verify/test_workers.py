"""The deadline pool: a stuck item costs only its own worker, never the batch or the pool."""

from __future__ import annotations

import pytest

from processing.verify.workers import DeadlinePool


def test_a_hang_is_killed_and_only_its_worker_replaced():
    with DeadlinePool("time:sleep", workers=2, deadline=2) as pool:
        outcomes = pool.run([0, 0.01, 600, 0, 0.01, 0])
        assert [o.failure for o in outcomes] == [None, None, "timeout", None, None, None]
        assert pool.replaced == 1


def test_workers_live_across_batches():
    with DeadlinePool("time:sleep", workers=2, deadline=5) as pool:
        pool.run([0, 0])
        before = pool.worker_ids
        pool.run([0, 0, 0])
        assert pool.worker_ids == before and pool.replaced == 0


def test_an_exception_is_an_error_outcome_and_keeps_the_worker():
    with DeadlinePool("math:sqrt", workers=1, deadline=5) as pool:
        outcomes = pool.run([4.0, -1.0, 9.0])
        assert [(o.value, o.failure) for o in outcomes] == [(2.0, None), (None, "error"), (3.0, None)]
        assert pool.replaced == 0


def test_a_crashed_worker_fails_its_item_and_is_replaced():
    with DeadlinePool("os:_exit", workers=1, deadline=5) as pool:
        outcomes = pool.run([3])
        assert outcomes[0].failure == "error" and pool.replaced == 1


def test_workers_that_cannot_start_are_reported_not_retried_forever():
    with pytest.raises(RuntimeError, match="die while starting"):
        with DeadlinePool("no_such_module:f", workers=1, deadline=5) as pool:
            pool.run([1])
