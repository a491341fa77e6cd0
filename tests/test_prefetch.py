"""Read-ahead on a thread: same items, same order, errors where they happened, and an early
stop that stops the reading too."""

from __future__ import annotations

import itertools
import threading

import pytest

from processing.prefetch import prefetch


def test_items_come_in_order_and_all_of_them():
    assert list(prefetch(iter(range(1000)), depth=3)) == list(range(1000))


def test_an_error_while_reading_is_raised_after_the_items_before_it():
    def items():
        yield from range(5)
        raise ValueError("line 6 is malformed")

    seen = []
    with pytest.raises(ValueError, match="line 6 is malformed"):
        for item in prefetch(items()):
            seen.append(item)
    assert seen == list(range(5))


def test_stopping_early_stops_the_reader_within_its_read_ahead():
    made = itertools.count()

    def items():
        for n in itertools.count():
            next(made)
            yield n

    reader = prefetch(items(), depth=2)
    assert [next(reader) for _ in range(3)] == [0, 1, 2]
    reader.close()
    assert not any(t.name == "prefetch" and t.is_alive() for t in threading.enumerate())
    assert next(made) <= 3 + 2 + 2  # taken, queued, and the one in hand when it stopped
