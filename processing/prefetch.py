"""Read ahead on a thread: the next items are made while the caller works on this one.

After generation, a build reads answers back from the journal (Python, holding the GIL)
and then scores and writes them (numpy, polars and Arrow, which mostly release it); with
the reading on a thread of its own the two overlap on a second core.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from queue import Queue
from typing import TypeVar

T = TypeVar("T")
_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield `items` in order, at most `depth` made ahead. An exception raised while making
    them is raised here, at the item it stopped; closing this generator early stops the thread."""
    ahead: Queue = Queue(maxsize=depth)
    stop = threading.Event()

    def make() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                ahead.put(item)
        except BaseException as exc:  # handed to the consumer, raised there
            ahead.put(_Failed(exc))
            return
        ahead.put(_END)

    thread = threading.Thread(target=make, name="prefetch", daemon=True)
    thread.start()
    try:
        while (item := ahead.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            while not ahead.empty():
                ahead.get_nowait()
            thread.join(timeout=0.05)
