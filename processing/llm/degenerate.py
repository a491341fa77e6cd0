"""Runaway repetition in a streamed reply, caught while it streams.

Reasoning models sometimes loop: the same sentence or paragraph again and again until
`max_tokens`, tens of thousands of tokens paid for and thrown away by the quality filter.
A loop makes the end of the text (nearly) periodic: the character at i equals the one at
i - p for the loop's length p, over many copies. Genuine text, even very repetitive text
(tables, option lists, templated exercises, poems), is not periodic over long stretches.

The check costs nothing per chunk: the detector only counts characters, and every
CHECK_EVERY characters looks at the last WINDOW characters. There it takes a few short
probes from the end, finds their previous occurrences with `str.rfind` (each gives a
candidate period) and walks back comparing BLOCK-character slices with the slices one
period earlier, tolerating the odd changed block (a counter, a sampling slip).

Thresholds, tuned with `bench/degenerate.py` (its docstring has the table): on 2,247
genuine Chinese texts of 2,000–4,000 characters (6.8 M characters: manual pages,
software help, CMMLU, Ape210K, alpaca_zh, poems) nothing was cut; the closest calls
reached 73% of the threshold (a 1,113-character boilerplate block of the LibreOffice
help, 2.1 times) and 400 of the 640 characters (lines of tcpdump output in a manual
page, 7 times). 99.97% of 3,000 planted loops were caught within 2,000 characters of
their start. Only literal repetition
counts: a runaway enumeration whose short items differ in a number is not a loop here.
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOW = 4096  # characters kept; loops of up to about WINDOW / MIN_COPIES characters are seen
CHECK_EVERY = 192  # characters between two checks
PROBE = 24  # characters of each probe
PROBE_ENDS = (0, 45, 111)  # probes end this far before the end, so one changed block cannot hide the loop
CANDIDATES = 3  # previous occurrences tried per probe
BLOCK = 8  # characters compared at a time
MISSES_IN_A_ROW = 2  # blocks that may differ in a row before the periodic stretch ends
MIN_MATCH = 0.8  # share of blocks within the stretch that must repeat exactly
MIN_SPAN = 640  # characters of repetition, at least...
MIN_COPIES = 2.5  # ...and copies of the repeated passage


@dataclass(frozen=True)
class Loop:
    period: int  # characters of the repeated passage
    span: int  # characters that repeat the passage before them

    @property
    def copies(self) -> float:
        return self.span / self.period + 1

    def __str__(self) -> str:
        return f"a {self.period}-character passage repeated {self.copies:.0f} times"


def required_span(period: int) -> int:
    """Characters of repetition that make a loop of this period."""
    return max(MIN_SPAN, round((MIN_COPIES - 1) * period))


class Degenerate(Exception):
    """A reply caught in a loop; the stream was cancelled after `chars` characters."""

    def __init__(self, loop: Loop, chars: int) -> None:
        super().__init__(f"{loop}, cancelled after {chars:,} characters")
        self.loop = loop
        self.chars = chars


class LoopDetector:
    """Fed a reply piece by piece; `feed` raises Degenerate once the text loops."""

    def __init__(self) -> None:
        self._pieces: list[str] = []
        self._unchecked = 0
        self._tail = ""
        self._checked = 0

    def feed(self, piece: str) -> None:
        self._pieces.append(piece)
        self._unchecked += len(piece)
        if self._unchecked >= CHECK_EVERY:
            self._check()

    def _check(self) -> None:
        self._checked += self._unchecked
        self._unchecked = 0
        self._tail = (self._tail + "".join(self._pieces))[-WINDOW:]
        self._pieces.clear()
        loop = find_loop(self._tail) if self._checked > MIN_SPAN else None  # too short to hold a loop yet
        if loop:
            raise Degenerate(loop, self._checked)


def scan(text: str) -> None:
    """A whole text checked as if it had streamed in: raises Degenerate where it would have."""
    first = (MIN_SPAN // CHECK_EVERY + 1) * CHECK_EVERY  # shorter text cannot hold a loop
    for end in range(first, len(text) + 1, CHECK_EVERY):
        loop = find_loop(text[max(0, end - WINDOW):end])
        if loop:
            raise Degenerate(loop, end)


def find_loop(text: str) -> Loop | None:
    """The loop the end of `text` is caught in, if any."""
    tried: set[int] = set()
    for gap in PROBE_ENDS:
        end = len(text) - gap
        if end < 2 * PROBE:
            break
        probe = text[end - PROBE:end]
        start = end - PROBE
        for _ in range(CANDIDATES):
            start = text.rfind(probe, 0, start + PROBE - 1)
            if start < 0:
                break
            period = end - PROBE - start
            if period in tried:
                continue
            tried.add(period)
            span = periodic_span(text, period, required_span(period))
            if span:
                return Loop(period, span)
    return None


def periodic_span(text: str, period: int, enough: int) -> int:
    """How far back from the end text[i] == text[i - period] (block by block, a few
    differing blocks allowed), once that reaches `enough` characters; else 0."""
    end = position = len(text)
    hits = misses = in_a_row = 0
    while position - BLOCK - period >= 0:
        if text[position - BLOCK:position] == text[position - BLOCK - period:position - period]:
            hits += 1
            in_a_row = 0
            if end - position + BLOCK >= enough and hits >= MIN_MATCH * (hits + misses):
                return end - position + BLOCK
        else:
            misses += 1
            in_a_row += 1
            if in_a_row > MISSES_IN_A_ROW:
                return 0
        position -= BLOCK
    return 0
