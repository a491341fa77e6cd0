"""Texts as numpy arrays: code points and hashed character n-grams.

Cleaning, deduplication and decontamination all look at characters of unsegmented
Chinese. A Python loop over a million strings is far too slow, so a batch of texts is
concatenated into one UTF-32 code point array and every character n-gram is hashed with
vectorised rolling arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

_U64 = np.uint64
# Multiplier of the rolling polynomial: the 64-bit FNV prime, far above the 21 bits of a
# code point, so distinct n-grams practically never share a polynomial value.
_POLY = _U64(0x100000001B3)


@dataclass(frozen=True)
class Ragged:
    """Per-text runs laid end to end: text i owns values[offsets[i]:offsets[i+1]].

    Used for code points (uint32) and for n-gram hashes (uint64).
    """

    values: np.ndarray
    offsets: np.ndarray  # int64, one more than the number of texts

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def owners(self) -> np.ndarray:
        """The index of the text each value belongs to."""
        return np.repeat(np.arange(len(self.counts)), self.counts)


def codepoints(texts: pl.Series | list[str]) -> Ragged:
    """Decode texts (nulls read as empty) into one code point array."""
    strings = pl.Series(texts, dtype=pl.String).fill_null("")
    lengths = strings.str.len_chars().to_numpy().astype(np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    joined = "".join(strings.to_list()).encode("utf-32-le")
    return Ragged(np.frombuffer(joined, dtype=np.uint32), offsets)


def mix64(values: np.ndarray) -> np.ndarray:
    """The murmur3 finaliser: spreads polynomial values over all 64 bits (in place)."""
    values ^= values >> _U64(33)
    values *= _U64(0xFF51AFD7ED558CCD)
    values ^= values >> _U64(33)
    values *= _U64(0xC4CEB9FE1A85EC53)
    values ^= values >> _U64(33)
    return values


def ngram_hashes(texts: pl.Series | list[str], n: int) -> Ragged:
    """64-bit hashes of every character n-gram of each text, in order.

    A non-empty text shorter than n yields one hash of the whole text, so short records
    are compared like any other instead of being dropped (a failure of peer tools).
    An empty text yields none.
    """
    points = codepoints(texts)
    lengths = points.counts
    counts = np.where(lengths >= n, lengths - n + 1, np.minimum(lengths, 1))
    # Each text is followed by n - 1 zeros, so no n-gram spans two texts and a short text's
    # single n-gram is the text followed by zeros (code point 0 never occurs in a key).
    padded_starts = points.offsets[:-1] + np.arange(len(lengths)) * (n - 1)
    padded = np.zeros(len(points.values) + len(lengths) * (n - 1) + n, dtype=np.uint64)
    padded[_ranges(padded_starts, lengths)] = points.values
    width = len(padded) - n + 1
    rolling = np.zeros(width, dtype=np.uint64)
    for k in range(n):
        rolling *= _POLY
        rolling += padded[k : k + width]
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Ragged(mix64(rolling[_ranges(padded_starts, counts)]), offsets)


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + c) for each start s and count c, in one cumsum."""
    keep = counts > 0
    starts, counts = starts[keep], counts[keep]
    if not len(counts):
        return np.zeros(0, dtype=np.int64)
    step = np.ones(int(counts.sum()), dtype=np.int64)
    step[0] = starts[0]
    # At the first element of each later range, jump from the previous range's last value.
    step[np.cumsum(counts)[:-1]] = starts[1:] - (starts[:-1] + counts[:-1] - 1)
    return np.cumsum(step)
