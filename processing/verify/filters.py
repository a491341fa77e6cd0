"""Quality flags on generated rows: every row gets the list of rules it breaks, nothing is dropped.

The pipeline decides what to do with a flag (count it, keep it, filter on it); this module
only measures. All checks are polars string operations or numpy over a whole batch, so
100k rows of several thousand characters take seconds, not minutes.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

from processing.pool.textarrays import Ragged, codepoints
from processing.verify.answers import final_answer
from processing.verify.settings import FilterSettings

FLAGS = ("missing_reasoning", "not_chinese", "language_mixing", "repetition", "no_final_answer")

# Not language: code (fenced or inline), LaTeX (display, inline, \[ \], \( \)) and URLs.
_NOT_PROSE = r"(?s)```.*?```|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]*\$|\\\[.*?\\\]|\\\(.*?\\\)|https?://\S+|www\.\S+"
_WORD = r"[A-Za-z][A-Za-z'’-]*"
# Between two words of a sentence: spaces, maybe after punctuation, maybe around a number.
_WORD_GAP = r"[,;:!?\"'’“”.]?[ \t]+(?:[0-9][0-9.,%]*[ \t]+)?"
# Characters of reasoning and response per chunk of rows: bounds the copies made while
# checking (hash arrays take 8 bytes per character, a few at a time).
_BATCH_CHARS = 8_000_000
_SCREEN = 8  # length of the short grams that screen positions for repetition
_POLY = np.uint64(0x100000001B3)  # the 64-bit FNV prime, far above the 21 bits of a code point
_SPREAD = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits of hash × this are well mixed
# Punctuation, symbols, marks and private use (code point ranges, inclusive): not letters.
_NOT_LETTERS = [
    (0x80, 0xBF), (0x2B9, 0x36F), (0x2000, 0x2BFF), (0x3000, 0x303F), (0xE000, 0xF8FF),
    (0xFE10, 0xFE6F), (0xFF00, 0xFF0F), (0xFF1A, 0xFF20), (0xFF3B, 0xFF40), (0xFF5B, 0xFF65),
    (0x1F000, 0x1FAFF),  # emoji
]


def quality_flags(frame: pl.DataFrame, settings: FilterSettings) -> pl.Series:
    """Per row, the flags it raises (list of str, empty when clean), in FLAGS order.

    Reads `prompt`, `reasoning`, `response` and, when present, `category`. Works through
    the rows in chunks of about _BATCH_CHARS characters, so memory stays flat."""
    sizes = sum(_text(frame, column).str.len_chars().to_numpy().astype(np.int64) for column in ("reasoning", "response"))
    # numpy's hashing and sorting and polars' string operations release the GIL: chunks of
    # a core's share (at most _BATCH_CHARS among all of them in flight) run side by side.
    workers = os.cpu_count() or 1
    size = max(1, min(_BATCH_CHARS // workers, -(-int(sizes.sum()) // workers)))
    with ThreadPoolExecutor(max_workers=workers) as threads:
        chunks = list(threads.map(lambda rows: _chunk_flags(frame[rows], settings), _chunks(sizes, size)))
    return pl.concat(chunks) if chunks else pl.Series("quality_flags", [], pl.List(pl.String))


def _chunk_flags(frame: pl.DataFrame, settings: FilterSettings) -> pl.Series:
    text = {column: _text(frame, column) for column in ("prompt", "reasoning", "response")}
    category = _text(frame, "category")
    prose = {column: values.str.replace_all(_NOT_PROSE, " ") for column, values in text.items()}
    chinese_prompt = (_chinese_share(prose["prompt"]) >= settings.chinese_prompt) & ~text["prompt"].str.contains(
        settings.other_language_prompt
    )
    checks = pl.DataFrame(
        {
            "missing_reasoning": text["reasoning"].str.strip_chars().str.len_chars() < settings.min_reasoning_chars,
            "not_chinese": chinese_prompt & (_chinese_share(prose["response"]) < settings.min_chinese_response),
            "language_mixing": chinese_prompt
            & ~category.is_in(settings.mixing_exempt)
            & ~prose["prompt"].str.contains(_english_run(settings.quoting_run))
            & prose["reasoning"].str.contains(_english_run(settings.max_english_run + 1)),
            "repetition": _repeats(text["reasoning"], settings.ngram, settings.max_ngram_repeats)
            | _repeats(text["response"], settings.ngram, settings.max_ngram_repeats),
            "no_final_answer": _no_final_answer(text["response"], category.is_in(settings.answer_categories)),
        }
    )
    named = [pl.when(pl.col(flag)).then(pl.lit(flag)) for flag in FLAGS]
    return checks.select(pl.concat_list(named).list.drop_nulls().alias("quality_flags")).to_series()


def _text(frame: pl.DataFrame, column: str) -> pl.Series:
    """The column as strings, empty where null or absent."""
    if column not in frame.columns:
        return pl.repeat("", frame.height, eager=True)
    return frame[column].cast(pl.String).fill_null("")


def _chunks(sizes: np.ndarray, size: int) -> list[slice]:
    """Consecutive row ranges of about `size` characters each (a longer row alone)."""
    if not len(sizes):
        return []
    cuts = np.unique(np.searchsorted(np.cumsum(sizes), np.arange(size, sizes.sum(), size), side="right"))
    bounds = [0, *(int(cut) for cut in cuts if 0 < cut < len(sizes)), len(sizes)]
    return [slice(start, stop) for start, stop in zip(bounds, bounds[1:])]


def flag_counts(flags: pl.Series) -> dict[str, int]:
    """How many rows raise each flag (every flag listed, zeros included)."""
    counted = flags.explode().drop_nulls().value_counts()
    found = dict(zip(counted[flags.name].to_list(), counted["count"].to_list()))
    return {flag: found.get(flag, 0) for flag in FLAGS}


def _english_run(words: int) -> str:
    """A regex for `words` or more English words in a row."""
    return rf"{_WORD}(?:{_WORD_GAP}{_WORD}){{{words - 1},}}"


def _chinese_share(prose: pl.Series) -> pl.Series:
    """Han characters / (Han characters + words in English runs); 1.0 for text with neither.

    Only runs of three or more words count as English, so a name, a unit or a variable in
    Chinese text does not, while an English sentence does."""
    han = prose.str.count_matches(r"\p{Han}").cast(pl.Float64)
    runs = prose.str.extract_all(_english_run(3)).list.join(" ")
    english = runs.str.count_matches(_WORD).cast(pl.Float64)
    return (han / (han + english)).fill_nan(1.0)


def _no_final_answer(responses: pl.Series, applies: pl.Series) -> np.ndarray:
    """Where it applies, whether the math verifier's answer locator finds nothing: a row
    flagged here is one the math check would call no-answer. (A Python call per row, about
    40 µs; only rows of the answer categories pay it.)"""
    missing = np.zeros(len(responses), dtype=bool)
    rows = np.flatnonzero(applies.to_numpy())
    missing[rows] = [final_answer(response) is None for response in responses.gather(rows).to_list()]
    return missing


def _repeats(texts: pl.Series, n: int, limit: int) -> np.ndarray:
    """Rows where some n-gram of letters and digits occurs more than `limit` times.

    LaTeX commands go first: 3\\times 3\\times 3… is a long product, not a loop."""
    texts = texts.str.replace_all(r"\\[A-Za-z]+", "")
    flagged = np.zeros(len(texts), dtype=bool)
    # Only a text of n + limit characters or more holds limit + 1 n-grams.
    candidates = np.flatnonzero(texts.str.len_chars().to_numpy() >= n + limit)
    if len(candidates):
        flagged[candidates] = _over_limit(_letters(codepoints(texts.gather(candidates))), n, limit)
    return flagged


def _letters(points: Ragged) -> Ragged:
    """Only letters and digits: rules (-----, ____), indentation and table borders repeat
    legitimately, so whitespace, punctuation, symbols and combining marks are dropped."""
    keep = _IS_LETTER[points.values]
    # Offsets minus what was dropped before them (searchsorted: numpy's cumsum of a boolean
    # array is ten times slower).
    dropped_before = np.searchsorted(np.flatnonzero(~keep), points.offsets)
    return Ragged(points.values[keep], points.offsets - dropped_before)


def _over_limit(points: Ragged, n: int, limit: int) -> np.ndarray:
    """Per text, whether one n-gram occurs more than `limit` times in it.

    An n-gram that repeats that often starts with a shorter gram that does too, so short
    grams screen every position cheaply and only the positions they flag get their full
    n-gram hashed. Every key mixes in the text's index: the same words in two texts must
    not add up."""
    owners = points.owners()
    screen = _window_hashes(points.values, min(n, _SCREEN))
    screen += owners[: len(screen)].astype(np.uint64) * _SPREAD
    starts = _crowded(screen, limit)
    starts = starts[starts + n <= len(points.values)]
    starts = starts[~_all_digits(points.values, starts, n)]  # 1111… and 0000… are numbers
    keys = _hashes_at(points.values, starts, n) + owners[starts].astype(np.uint64) * _SPREAD
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    over = np.zeros(len(points.offsets) - 1, dtype=bool)
    over[owners[starts[first[counts > limit]]]] = True
    return over


def _crowded(keys: np.ndarray, limit: int) -> np.ndarray:
    """Positions whose key may occur more than `limit` times: those in a bucket holding that
    many keys. With about two keys per bucket, a bucket of distinct keys practically never
    does, so few positions come back beyond the real repeats."""
    bits = max((len(keys) // 2).bit_length(), 16)
    buckets = ((keys * _SPREAD) >> np.uint64(64 - bits)).astype(np.int64)
    return np.flatnonzero(np.bincount(buckets, minlength=1 << bits)[buckets] > limit)


def _window_hashes(cps: np.ndarray, n: int) -> np.ndarray:
    """A polynomial hash of every window cps[i:i + n], built by doubling in log2(n) passes:
    hash(i, a + b) = hash(i, a)·P^b + hash(i + a, b). Windows run across text boundaries;
    such a window belongs to the text it starts in and occurs there once, so it never makes
    a repeat."""
    powers = {1: cps.astype(np.uint64)}
    size = 1
    while size * 2 <= n:
        longer = powers[size][:-size] * _POLY ** np.uint64(size)
        longer += powers[size][size:]
        powers[size * 2] = longer
        size *= 2
    hashes, covered = None, 0
    for size in sorted(powers, reverse=True):
        if covered + size <= n:
            block = powers[size][covered:]
            hashes = block if hashes is None else hashes[: len(block)] * _POLY ** np.uint64(size) + block
            covered += size
    return hashes


def _hashes_at(cps: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """The same hash as _window_hashes, for the windows at `starts` only."""
    hashes = np.zeros(len(starts), dtype=np.uint64)
    for offset in range(n):
        hashes *= _POLY
        hashes += cps[starts + offset]
    return hashes


def _all_digits(cps: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """Whether each window cps[start:start + n] is digits only."""
    digits = np.flatnonzero((cps >= 0x30) & (cps <= 0x39))
    return np.searchsorted(digits, starts + n) - np.searchsorted(digits, starts) == n


def _letter_table() -> np.ndarray:
    table = np.ones(0x110000, dtype=bool)
    table[:0x80] = False
    for low, high in ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)):
        table[low : high + 1] = True
    for low, high in _NOT_LETTERS:
        table[low : high + 1] = False
    return table


_IS_LETTER = _letter_table()
