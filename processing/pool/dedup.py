"""Deduplication: exact on the comparison key, then near-duplicates by MinHash LSH.

Near-duplicates are found on character n-grams of the comparison key (clean.py), which
works on unsegmented Chinese where whitespace "words" do not. Two rules peers get wrong:
- digits are never folded, and prompts whose numbers differ are never duplicates: the
  sequence of numbers is part of every LSH band key, so such prompts are not even
  compared (a problem with other numbers is another problem);
- short prompts are hashed whole instead of being dropped (textarrays.ngram_hashes).

Which member of a cluster survives: the one whose source comes first in
`source_priority` (sources not listed come after all listed ones), then the one seen
first.

MinHash is our own numpy code rather than datasketch because it is faster: measured in
one run on 500-character Chinese texts, char 5-grams, 128 permutations, one core:
datasketch 900–1,400 docs/s, this code 12,000–19,000 docs/s, 11–16 times faster
(`python bench/pool.py` prints both figures in the same run).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from processing.pool.clean import comparison_key
from processing.pool.textarrays import mix64, ngram_hashes
from processing.progress import advance

_U64 = np.uint64
_NO_GRAM = np.iinfo(np.uint32).max  # signature of a text with no n-gram at all
_TEXTS_PER_BATCH = 20_000  # bounds the n-gram arrays in memory
_GRAMS_PER_CHUNK = 1 << 16  # a chunk of 64-bit values stays in the L2 cache
_KEPT, _EXACT, _NEAR = 0, 1, 2
_REASONS = {_KEPT: None, _EXACT: "exact_duplicate", _NEAR: "near_duplicate"}


class DedupSettings(BaseModel):
    """Exact and near-duplicate removal (TOML table `[dedup]`).

    Permutations = bands × rows; LSH proposes pairs, and a pair is kept when the share
    of equal signature entries (estimated Jaccard) reaches `threshold`.

    Defaults from `python bench/pool_params.py dedup`: 26,582 real prompts (Alpaca,
    Ape210K, CMMLU) plus 2,000 copies each with changed punctuation, 5% of characters
    edited, or a phrase appended, plus 2,000 renumbered Ape210K problems:
    - n=5, 20×5, 0.6: recall 100% / 52% / 88% (punctuation / edited / appended),
      0 renumbered removed, 84 further removals in the real pools (0.3%), which on
      inspection are mostly genuine near-duplicates (reordered options, one word changed);
    - n=5, 16×8, 0.7 (datatrove-like): 100% / 21% / 75%, 26 further removals;
    - n=3, 32×4, 0.5: 100% / 97% / 96%, but 272 further removals, many of them distinct
      exam questions that share a stem ("暖锋雨…" vs "冷锋雨…").
    Short prompts cannot be near-duplicates at these thresholds (one edit in 20
    characters already halves their shared 5-grams); exact dedup still covers them.
    """

    model_config = ConfigDict(extra="forbid")

    exact: bool = Field(True, description="drop prompts with an identical comparison key")
    near: bool = Field(True, description="drop near-duplicates found by MinHash LSH")
    ngram: int = Field(5, ge=1, description="characters per n-gram")
    bands: int = Field(20, ge=1, description="LSH bands")
    rows: int = Field(5, ge=1, description="signature rows per band")
    threshold: float = Field(
        0.6, gt=0, le=1, description="estimated Jaccard similarity that makes two prompts duplicates"
    )
    seed: int = Field(1, description="seed of the MinHash permutations")

    @property
    def permutations(self) -> int:
        return self.bands * self.rows


def dedup(
    df: pl.DataFrame, settings: DedupSettings, source_priority: Sequence[str] = ()
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Split the pool into (kept, rejects, clusters).

    rejects: the removed rows plus `reason` (exact_duplicate / near_duplicate), `detail`
    and `duplicate_of` (the surviving id). clusters: one row per cluster with its kind,
    survivor, size and removed ids.
    """
    ordered = _survivor_order(df, source_priority)
    key = comparison_key(ordered["prompt"])
    own = np.arange(len(ordered))
    direct = _exact_leaders(key) if settings.exact else own.copy()
    reason = np.where(direct != own, _EXACT, _KEPT)
    similarity = np.ones(len(ordered))
    if settings.near:
        firsts = np.flatnonzero(direct == own)
        near_of, near_sim = _near_leaders(key.gather(firsts), settings)
        is_near = near_of != np.arange(len(firsts))
        direct[firsts[is_near]] = firsts[near_of[is_near]]
        reason[firsts[is_near]] = _NEAR
        similarity[firsts[is_near]] = near_sim[is_near]
    # An exact copy of a near-duplicate is represented by the near-duplicate's survivor.
    survivor = direct[direct]
    return _split(ordered, direct, survivor, reason, similarity)


def minhash(keys: pl.Series, ngram: int, permutations: int, seed: int) -> np.ndarray:
    """MinHash signatures (texts × permutations, uint32) of the character n-grams of keys.

    Permutation k maps a 32-bit n-gram hash x to the top 32 bits of a_k·x + b_k mod 2^64
    (multiply-add-shift, a strongly universal family); the signature is the minimum over
    the text's n-grams. Loops run over permutations, never over texts or n-grams.
    """
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**64, permutations, dtype=_U64, endpoint=False) | _U64(1)
    b = rng.integers(0, 2**64, permutations, dtype=_U64, endpoint=False)
    signatures = np.full((len(keys), permutations), _NO_GRAM, dtype=np.uint32)
    for first in range(0, len(keys), _TEXTS_PER_BATCH):
        batch = keys.slice(first, _TEXTS_PER_BATCH)
        grams = ngram_hashes(batch, ngram)
        values = grams.values >> _U64(32)
        for texts, lo, hi in _chunks(grams.offsets):
            starts = grams.offsets[texts] - lo
            scratch = np.empty(hi - lo, dtype=_U64)
            for k in range(permutations):
                np.multiply(values[lo:hi], a[k], out=scratch)
                scratch += b[k]
                signatures[first + texts, k] = np.minimum.reduceat(scratch, starts) >> _U64(32)
        advance(len(batch))
    return signatures


def _chunks(offsets: np.ndarray):
    """(non-empty text indices, lo, hi): runs of whole texts of about _GRAMS_PER_CHUNK n-grams."""
    counts = np.diff(offsets)
    bounds = np.searchsorted(offsets, np.arange(0, offsets[-1], _GRAMS_PER_CHUNK), side="right") - 1
    bounds = np.unique(np.append(bounds, len(counts)))
    for start, stop in zip(bounds[:-1], bounds[1:]):
        texts = start + np.flatnonzero(counts[start:stop] > 0)
        if len(texts):
            yield texts, offsets[start], offsets[stop]


def lsh_candidates(signatures: np.ndarray, bands: int, rows: int, extra: np.ndarray) -> np.ndarray:
    """Unique (text, earlier text) pairs sharing a whole band; `extra` is part of every band key.

    Each text is paired with the first text of its bucket, which is enough for connected
    components and keeps the pair count linear in the bucket size.
    """
    pairs = [np.zeros((0, 2), dtype=np.int64)]
    for band in range(bands if len(signatures) else 0):
        bucket = extra.astype(_U64, copy=True)
        for column in signatures[:, band * rows : (band + 1) * rows].T:
            bucket = bucket * _U64(0x100000001B3) + column
        bucket = mix64(bucket)
        order = np.argsort(bucket, kind="stable")
        sorted_buckets = bucket[order]
        opens = np.concatenate(([True], sorted_buckets[1:] != sorted_buckets[:-1]))
        leaders = order[np.flatnonzero(opens)[np.cumsum(opens) - 1]]
        member = order != leaders
        pairs.append(np.stack([order[member], leaders[member]], axis=1))
    return np.unique(np.concatenate(pairs), axis=0)


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components as labels: each text's label is the lowest index of its component."""
    label = np.arange(n)
    left, right = pairs[:, 0], pairs[:, 1]
    while True:
        la, lb = label[left], label[right]
        differ = la != lb
        if not differ.any():
            return label
        # Hook the higher root under the lower one, then flatten until every label is a root.
        np.minimum.at(label, np.maximum(la, lb)[differ], np.minimum(la, lb)[differ])
        while not np.array_equal(label[label], label):
            label = label[label]


def _near_leaders(key: pl.Series, settings: DedupSettings) -> tuple[np.ndarray, np.ndarray]:
    """For each text, the lowest index in its near-duplicate cluster and their similarity."""
    signatures = minhash(key, settings.ngram, settings.permutations, settings.seed)
    numbers = key.str.extract_all(r"[0-9]+(?:\.[0-9]+)?").list.join(" ").hash(settings.seed)
    pairs = lsh_candidates(signatures, settings.bands, settings.rows, numbers.to_numpy())
    agreement = _agreement(signatures, pairs)
    label = components(len(key), pairs[agreement >= settings.threshold])
    return label, _agreement(signatures, np.stack([np.arange(len(key)), label], axis=1))


def _agreement(signatures: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of each pair: the share of equal signature entries."""
    out = np.empty(len(pairs))
    for lo in range(0, len(pairs), 100_000):
        part = pairs[lo : lo + 100_000]
        out[lo : lo + 100_000] = (signatures[part[:, 0]] == signatures[part[:, 1]]).mean(axis=1)
    return out


def _exact_leaders(key: pl.Series) -> np.ndarray:
    """For each text, the index of the first text with the same key."""
    frame = pl.DataFrame({"key": key}).with_row_index("i")
    return frame.select(pl.col("i").first().over("key")).to_series().to_numpy().astype(np.int64)


def _survivor_order(df: pl.DataFrame, source_priority: Sequence[str]) -> pl.DataFrame:
    """Rows sorted so that the first of any cluster is its survivor (priority, then seen first)."""
    rank = {source: position for position, source in enumerate(source_priority)}
    ranks = df["source"].replace_strict(rank, default=len(rank), return_dtype=pl.Int64)
    return df.with_row_index("_row").with_columns(ranks.alias("_rank")).sort("_rank", "_row")


def _split(ordered: pl.DataFrame, direct, survivor, reason, similarity):
    ids = ordered["id"]
    marked = ordered.with_columns(
        pl.Series("reason", reason).replace_strict(_REASONS, return_dtype=pl.String),
        pl.Series("similarity", similarity),
        ids.gather(direct).alias("_direct"),
        ids.gather(survivor).alias("duplicate_of"),
    )
    helpers = ["_row", "_rank", "_direct", "similarity"]
    kept = marked.filter(pl.col("reason").is_null()).sort("_row").drop(*helpers, "reason", "duplicate_of")
    rejects = marked.filter(pl.col("reason").is_not_null()).sort("_row").with_columns(_detail())
    return kept, rejects.drop(helpers), _clusters(rejects, ordered)


def _detail() -> pl.Expr:
    exact = pl.format("same comparison key as {}", "_direct")
    near = pl.format("near-duplicate of {} (estimated Jaccard {})", "_direct", pl.col("similarity").round(3))
    return pl.when(pl.col("reason") == "exact_duplicate").then(exact).otherwise(near).alias("detail")


def _clusters(rejects: pl.DataFrame, ordered: pl.DataFrame) -> pl.DataFrame:
    """One row per surviving prompt that absorbed duplicates."""
    survivors = ordered.select(pl.col("id").alias("kept_id"), pl.col("source").alias("kept_source"))
    return (
        rejects.group_by("duplicate_of", maintain_order=True)
        .agg(
            pl.col("id").alias("removed_ids"),
            pl.col("source").alias("removed_sources"),
            pl.col("reason").alias("removed_reasons"),
            pl.col("similarity").min().alias("min_similarity"),
        )
        .rename({"duplicate_of": "kept_id"})
        .join(survivors, on="kept_id", how="left")
        .with_columns((pl.col("removed_ids").list.len() + 1).alias("size"))
        .select("kept_id", "kept_source", "size", "removed_ids", "removed_sources", "removed_reasons", "min_similarity")
    )
