"""Rate control: RPM/TPM token buckets where configured, adaptive concurrency always.

Providers answer overload with 429. A fixed concurrency either leaves throughput unused
or keeps hammering a throttled endpoint, so the limit on requests in flight behaves like
TCP congestion control: it halves on a 429 and climbs back by a constant step per round
trip (additive increase, multiplicative decrease).
"""

from __future__ import annotations

import asyncio
from collections import deque
from time import monotonic

from processing.llm.extract import Usage

DECREASE = 0.5  # multiplicative back-off on 429
RECOVERY_SHARE = 0.05  # additive recovery per round trip, as a share of the configured maximum


class AdaptiveLimit:
    """At most `limit` holders at once; `limit` moves between 1 and `maximum`."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.limit = float(maximum)
        self.in_flight = 0
        # One decrease per congestion event: a 429 for a request sent before the last
        # decrease says nothing new, so it carries an older epoch and is ignored.
        self.epoch = 0
        self._step = max(1.0, maximum * RECOVERY_SHARE)
        self._waiters: deque[asyncio.Future] = deque()

    async def acquire(self) -> int:
        """Wait for a slot (first come, first served); returns the epoch to report back."""
        if self.in_flight < int(self.limit) and not self._waiters:
            self.in_flight += 1
            return self.epoch
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise
        return self.epoch

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def succeeded(self) -> None:
        """Additive increase: `limit` successes (one round trip) add one step."""
        if self.limit < self.maximum:
            self.limit = min(self.maximum, self.limit + self._step / self.limit)
            self._wake()

    def throttled(self, epoch: int) -> None:
        """Multiplicative decrease, once per round trip of requests."""
        if epoch == self.epoch:
            self.limit = max(1.0, self.limit * DECREASE)
            self.epoch += 1

    def _wake(self) -> None:
        while self._waiters and self.in_flight < int(self.limit):
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1  # the slot passes straight to the waiter
                waiter.set_result(None)


class TokenBucket:
    """`per_minute` units, refilled continuously; bursts of at most one second's worth.

    Pacing evenly (rather than allowing a minute's burst) keeps sliding-window limiters
    on the provider side from ever seeing more than the configured rate.
    """

    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self._stamp = monotonic()
        self._lock = asyncio.Lock()  # waiters queue in order instead of racing for refills

    async def take(self, amount: float) -> None:
        """Wait until `amount` fits; an amount above capacity waits for a full bucket and overdraws."""
        async with self._lock:
            self._refill()
            deficit = min(amount, self.capacity) - self.level
            if deficit > 0:  # the lock keeps other takers out while this one waits
                await asyncio.sleep(deficit / self.rate)
                self._refill()
            self.level -= amount

    def charge(self, amount: float) -> None:
        """Correct an estimate once the real cost is known (negative refunds)."""
        self._refill()
        self.level = min(self.capacity, self.level - amount)

    def _refill(self) -> None:
        now = monotonic()
        self.level = min(self.capacity, self.level + (now - self._stamp) * self.rate)
        self._stamp = now


class RateLimits:
    """The RPM and TPM buckets of one model.

    Tokens are unknown until the reply arrives, so each request is charged an estimate
    (its prompt plus the mean completion so far) and corrected by the reported usage.
    """

    def __init__(self, rpm: float | None, tpm: float | None, first_guess: int) -> None:
        self.requests = TokenBucket(rpm) if rpm else None
        self.tokens = TokenBucket(tpm) if tpm else None
        self._completion_mean = float(first_guess)
        self._replies = 0

    async def admit(self, prompt_tokens: int) -> float:
        """Wait for room for one request; returns the tokens charged for it."""
        if self.requests:
            await self.requests.take(1)
        charged = prompt_tokens + self._completion_mean
        if self.tokens:
            await self.tokens.take(charged)
        return charged

    def settle(self, charged: float, usage: Usage) -> None:
        total, completion = usage.total_tokens, usage.completion_tokens
        if completion is not None:
            self._replies += 1
            self._completion_mean += (completion - self._completion_mean) / self._replies
        if self.tokens and total is not None:
            self.tokens.charge(total - charged)
