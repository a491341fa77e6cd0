"""Long-lived worker processes with a hard deadline per item.

`multiprocessing.Pool` cannot kill one stuck task: the old verifier tore the whole pool
down on every hang and paid the start-up again (about 3 s per power tower). Here each
worker has its own pipe and runs one item at a time; when an item outlives the deadline
only that worker is killed, its item is reported as timed out, and a fresh worker is
started while the others keep going. Workers are spawned (fork next to polars' and
aiohttp's threads can deadlock) and only when the first item arrives.
"""

from __future__ import annotations

import importlib
import multiprocessing
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

READY = "ready"
MAX_FAILED_STARTS = 3  # workers in a row that die before they are ready: give up
TIMEOUT = "timeout"
ERROR = "error"


@dataclass(eq=False)
class _Worker:
    process: Any
    connection: Connection
    ready: bool = False
    job: tuple[int, float] | None = None  # (item index, monotonic time it was sent)


@dataclass
class Outcome:
    """What came back for one item: its value, or `failure` ("timeout" / "error")."""

    value: Any = None
    failure: str | None = None


@dataclass
class DeadlinePool:
    """`target` is "module:function"; `warm_up` an optional function name in that module,
    run once when a worker starts so its first item is not charged with imports."""

    target: str
    workers: int
    deadline: float
    warm_up: str | None = None
    replaced: int = 0  # workers killed and replaced so far (timeouts and crashes)
    _failed_starts: int = 0
    _pool: list[_Worker] = field(default_factory=list)

    def __enter__(self) -> DeadlinePool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def worker_ids(self) -> list[int]:
        """Process ids of the current workers (they change only when one is replaced)."""
        return [worker.process.pid for worker in self._pool]

    def run(self, payloads: list) -> list[Outcome]:
        """One Outcome per payload, in order."""
        if not payloads:
            return []
        while len(self._pool) < self.workers:
            self._pool.append(self._start())
        outcomes: list[Outcome | None] = [None] * len(payloads)
        queue = deque(range(len(payloads)))
        remaining = len(payloads)
        while remaining:
            self._dispatch(queue, payloads)
            remaining -= self._collect(outcomes)
            remaining -= self._expire(outcomes)
        return outcomes  # type: ignore[return-value]

    def close(self) -> None:
        for worker in self._pool:
            _stop(worker)
        self._pool.clear()

    def _start(self) -> _Worker:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(theirs, self.target, self.warm_up), daemon=True)
        process.start()
        theirs.close()
        return _Worker(process, ours)

    def _dispatch(self, queue: deque, payloads: list) -> None:
        for worker in self._pool:
            if worker.ready and worker.job is None and queue:
                index = queue.popleft()
                worker.connection.send((index, payloads[index]))
                worker.job = (index, time.monotonic())

    def _collect(self, outcomes: list) -> int:
        """Wait for a result, a ready worker, a death or the nearest deadline."""
        waiting = {w.connection: w for w in self._pool} | {w.process.sentinel: w for w in self._pool}
        deadlines = [started + self.deadline for _, started in (w.job for w in self._pool if w.job)]
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        finished = 0
        for handle in wait(list(waiting), timeout):
            worker = waiting[handle]
            if worker not in self._pool:
                continue  # already replaced through its other handle
            try:
                message = worker.connection.recv() if handle is worker.connection else None
            except (EOFError, OSError):
                message = None
            if message == READY:
                worker.ready = True
                self._failed_starts = 0
            elif message is not None:
                index, outcome = message
                outcomes[index] = outcome
                worker.job = None
                finished += 1
            else:
                finished += self._replace(worker, outcomes, ERROR)
        return finished

    def _expire(self, outcomes: list) -> int:
        now = time.monotonic()
        late = [w for w in self._pool if w.job and now - w.job[1] >= self.deadline]
        return sum(self._replace(worker, outcomes, TIMEOUT) for worker in late)

    def _replace(self, worker: _Worker, outcomes: list, failure: str) -> int:
        """Kill a stuck or dead worker, fail its item, start another. Returns items failed."""
        _stop(worker, kill=True)
        if not worker.ready:
            self._failed_starts += 1
            if self._failed_starts >= MAX_FAILED_STARTS:
                self.close()
                raise RuntimeError(f"worker processes for {self.target} die while starting (exit code {worker.process.exitcode})")
        self._pool[self._pool.index(worker)] = self._start()
        self.replaced += 1
        if worker.job is None:
            return 0
        outcomes[worker.job[0]] = Outcome(failure=failure)
        return 1


def _stop(worker: _Worker, kill: bool = False) -> None:
    if not kill:
        try:
            worker.connection.send(None)
        except (OSError, ValueError):
            kill = True
    worker.process.join(timeout=0 if kill else 1)
    if worker.process.is_alive():
        worker.process.kill()
        worker.process.join()
    worker.connection.close()


def _serve(connection: Connection, target: str, warm_up: str | None) -> None:
    """Worker main loop: (index, payload) in, (index, Outcome) out, None to stop."""
    module_name, function_name = target.split(":")
    module = importlib.import_module(module_name)
    function = getattr(module, function_name)
    if warm_up:
        getattr(module, warm_up)()
    connection.send(READY)
    while True:
        try:
            message = connection.recv()
        except EOFError:
            return
        if message is None:
            return
        index, payload = message
        try:
            outcome = Outcome(function(payload))
        except Exception:  # noqa: BLE001 - one bad item must not cost a worker restart
            outcome = Outcome(failure=ERROR)
        connection.send((index, outcome))
