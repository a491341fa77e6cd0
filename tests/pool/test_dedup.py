"""Dedup: exact on the key, near by MinHash LSH; numbers never fold; priority picks survivors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from processing.pool.dedup import DedupSettings, components, dedup, minhash

from helpers import SHARED_DATA

DATA = SHARED_DATA / "instructions"
LONG = "一个长方形花坛长12米，宽8米，在花坛四周铺一条宽2米的小路，小路的面积是多少平方米？请写出详细的计算过程。"


def pool(prompts: list[str], sources: list[str] | None = None) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [f"p{i}" for i in range(len(prompts))],
            "prompt": prompts,
            "source": sources or ["s"] * len(prompts),
        },
        schema={"id": pl.String, "prompt": pl.String, "source": pl.String},
    )


def test_exact_duplicates_by_key_first_seen_survives():
    kept, rejects, clusters = dedup(pool(["三原色是什么？", "三原色 是什么?", "你好", "你好"]), DedupSettings())
    assert kept["id"].to_list() == ["p0", "p2"]
    assert rejects.select("id", "reason", "duplicate_of").rows() == [
        ("p1", "exact_duplicate", "p0"),
        ("p3", "exact_duplicate", "p2"),
    ]
    assert clusters.select("kept_id", "size", "removed_ids").rows() == [("p0", 2, ["p1"]), ("p2", 2, ["p3"])]


def test_near_duplicate_with_added_phrase_is_removed():
    kept, rejects, _ = dedup(pool([LONG, "请回答：" + LONG + "谢谢"]), DedupSettings())
    assert kept["id"].to_list() == ["p0"]
    assert rejects["reason"].to_list() == ["near_duplicate"]
    assert rejects["detail"][0].startswith("near-duplicate of p0 (estimated Jaccard")


def test_problems_differing_only_in_numbers_are_kept():
    prompts = [LONG, LONG.replace("12米", "13米"), LONG.replace("宽2米", "宽3米"), LONG.replace("12", "1.2")]
    kept, rejects, _ = dedup(pool(prompts), DedupSettings())
    assert len(kept) == 4 and rejects.is_empty()


def test_short_prompts_are_compared_not_dropped():
    kept, rejects, _ = dedup(pool(["好", "好", "坏", "1+1"]), DedupSettings(exact=False))
    assert kept["prompt"].to_list() == ["好", "坏", "1+1"]
    assert rejects["reason"].to_list() == ["near_duplicate"]


def test_source_priority_then_first_seen_picks_the_survivor():
    prompts = [LONG, LONG + "谢谢", LONG]
    kept, rejects, clusters = dedup(pool(prompts, ["web", "curated", "web"]), DedupSettings(), ["curated"])
    assert kept["id"].to_list() == ["p1"]
    assert set(rejects["duplicate_of"]) == {"p1"}
    assert clusters.select("kept_id", "kept_source", "size").rows() == [("p1", "curated", 3)]


def test_output_columns_and_order():
    frame = pool([LONG, "你好", LONG, "三原色是什么？"]).with_columns(pl.lit("general").alias("category"))
    kept, rejects, _ = dedup(frame, DedupSettings())
    assert kept.columns == frame.columns
    assert kept["id"].to_list() == ["p0", "p1", "p3"]
    assert rejects.columns == [*frame.columns, "reason", "duplicate_of", "detail"]


def test_minhash_estimates_jaccard():
    left = "".join(chr(0x4E00 + i) for i in range(300))
    right = left[:200] + "".join(chr(0x5E00 + i) for i in range(100))
    signatures = minhash(pl.Series([left, right]), ngram=5, permutations=256, seed=3)
    true = 196 / (296 + 100)  # shared 5-grams / union of 5-grams
    assert abs((signatures[0] == signatures[1]).mean() - true) < 0.08


def test_components_labels_are_lowest_member():
    pairs = np.array([[4, 2], [2, 0], [5, 3]])
    assert components(6, pairs).tolist() == [0, 1, 0, 3, 0, 3]


def test_renumbered_real_problems_all_survive():
    if not DATA.exists():
        pytest.skip("../shared/data is absent")
    problems = pl.read_ndjson(DATA / "ape210k_valid.jsonl")["question"].head(1000)
    renumbered = problems.str.replace_all(r"(\d+)", "${1}7")
    frame = pool(problems.to_list() + renumbered.to_list())
    kept, rejects, _ = dedup(frame, DedupSettings())
    assert not rejects["id"].is_in([f"p{i}" for i in range(1000, 2000)]).any()


def test_empty_and_single_row_pools():
    for frame in (pool([]), pool(["你好"])):
        kept, rejects, clusters = dedup(frame, DedupSettings())
        assert kept.equals(frame) and rejects.is_empty() and clusters.is_empty()
