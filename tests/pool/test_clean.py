"""Cleaning: the teacher's text is only tidied; the comparison key folds but keeps digits."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from processing.pool.clean import CleanSettings, clean, comparison_key, longest_repeat, tidy

from helpers import SHARED_DATA

DATA = SHARED_DATA / "instructions"


def pool(*prompts: str, category: str = "general") -> pl.DataFrame:
    return pl.DataFrame({"id": [f"p{i}" for i in range(len(prompts))], "prompt": list(prompts), "category": category})


def test_tidy_only_trims_and_drops_control_characters():
    assert tidy(pl.Series(["  第一行\r\n第二行\x07，全角ＡＢＣ。  "])).to_list() == ["第一行\n第二行，全角ＡＢＣ。"]


def test_key_folds_width_case_punctuation_and_spaces():
    variants = ["请计算：ＡＢＣ的值是多少？", "请计算 abc 的值是多少?", "请计算,ABC的值是多少。"]
    assert comparison_key(pl.Series(variants)).n_unique() == 1


@pytest.mark.parametrize(
    ("left", "right"),
    [("3.5米", "35米"), ("3/5", "35"), ("50%", "50"), ("-3", "3"), ("买了12个", "买了13个"), ("１２个", "13个")],
)
def test_key_keeps_numbers_apart(left, right):
    keys = comparison_key(pl.Series([left, right]))
    assert keys[0] != keys[1]


def test_key_decimal_point_survives_spaces_but_full_stop_goes():
    keys = comparison_key(pl.Series(["用了5 .2元。", "用了5.2元.", "用了52元"])).to_list()
    assert keys[0] == keys[1] != keys[2]


def test_each_rule_rejects_with_reason_and_detail():
    settings = CleanSettings(min_chars=4, max_chars=40)
    kept, rejects = clean(
        pool(
            "三原色是什么？",
            "  ？？！  ",
            "你好",
            "给出保持健康的三个建议。" * 5,
            "How much does Janet make each day?",
            "哈" * 30,
            "3600-(96*29+96)",
        ),
        settings,
    )
    assert kept["prompt"].to_list() == ["三原色是什么？", "3600-(96*29+96)"]
    assert rejects.select("id", "reason").rows() == [
        ("p1", "empty"),
        ("p2", "too_short"),
        ("p3", "too_long"),
        ("p4", "low_chinese_ratio"),
        ("p5", "repetition"),
    ]
    assert rejects["detail"][1] == "2 < 4 characters"
    assert rejects["detail"][3].startswith("Chinese ratio 0.0 < 0.1")


def test_rejects_keep_every_input_column_and_kept_plus_rejects_is_everything():
    frame = pool("三原色是什么？", "哈" * 30).with_columns(pl.lit("alpaca").alias("source"))
    kept, rejects = clean(frame, CleanSettings())
    assert kept.columns == frame.columns
    assert rejects.columns == [*frame.columns, "reason", "detail"]
    assert len(kept) + len(rejects) == len(frame)


def test_code_category_is_exempt_from_chinese_ratio():
    code = 'def add(a, b):\n    """Return the sum of the two numbers given as arguments."""\n    return a + b  # 修'

    assert len(clean(pool(code, category="code"), CleanSettings())[0]) == 1
    assert len(clean(pool(code, category="general"), CleanSettings())[0]) == 0


def test_repetition_ignores_numbers_and_table_rules():
    spans = longest_repeat(
        comparison_key(pl.Series(["1111111111*1111111111=", "|---|---|---|---|---|---|", "好的好的好的好的好的好的好的好的好的"])),
        max_unit=4,
    )
    assert spans.tolist()[:2] == [0, 0]
    assert spans[2] == 18


def test_real_pools_lose_almost_nothing():
    if not DATA.exists():
        pytest.skip("../shared/data is absent")
    prompts = pl.concat(
        [
            pl.read_ndjson(DATA / "ape210k_valid.jsonl")["question"],
            pl.read_ndjson(DATA / "alpaca_zh.jsonl")["instruction"],
        ]
    )
    kept, rejects = clean(pool(*prompts.to_list()), CleanSettings())
    assert len(rejects) / len(prompts) < 0.001
