"""Decontamination: benchmark questions, however dressed up, are found and reported."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from processing.pool.decontam import BenchmarkFile, DecontamSettings, decontaminate, load_benchmarks
from processing.errors import CrdError

from helpers import SHARED_DATA

DATA = SHARED_DATA
QUESTION = "小勇拍皮球，第一次拍了77下，第二次比第一次少了9下，第二次拍了多少下？"


@pytest.fixture
def bench_file(tmp_path):
    path = tmp_path / "mini.jsonl"
    rows = [
        {"question": "芳芳买了一本书有99页，看了90页，她还剩多少页没有看？", "answer": "9"},
        {"question": QUESTION, "answer": 68},
        {"question": "求x", "answer": "1"},  # shorter than one n-gram
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def pool(*prompts: str) -> pl.DataFrame:
    return pl.DataFrame({"id": [f"p{i}" for i in range(len(prompts))], "prompt": list(prompts)})


def test_dressed_up_copies_are_removed_and_report_the_item(bench_file):
    benchmarks = load_benchmarks([BenchmarkFile(path=str(bench_file), answer_field="answer", name="mini")])
    frame = pool(
        QUESTION,
        QUESTION.replace("，", ", ").replace("？", "?"),
        "请回答：" + QUESTION,
        "我在做作业的时候遇到这道题，" + QUESTION + "请给出详细的解题步骤。",
        "三原色是什么？",
        QUESTION.replace("77", "78"),  # another problem: numbers are part of the n-grams
    )
    kept, rejects = decontaminate(frame, benchmarks, DecontamSettings())
    assert kept["id"].to_list() == ["p4", "p5"]
    assert rejects.select("id", "benchmark", "benchmark_item", "benchmark_answer").rows() == [
        (f"p{i}", "mini", 1, "68") for i in range(4)
    ]
    assert rejects["reason"].unique().to_list() == ["contaminated"]
    assert rejects["benchmark_question"][0] == QUESTION
    assert rejects["detail"][0] == "1.0 of the n-grams of mini item 1"


def test_short_questions_match_by_containment(bench_file):
    benchmarks = load_benchmarks([BenchmarkFile(path=str(bench_file), name="mini")])
    kept, rejects = decontaminate(pool("请你求 x 的值", "三原色是什么？"), benchmarks, DecontamSettings())
    assert rejects.select("id", "benchmark_item").rows() == [("p0", 2)]


def test_partial_overlap_below_threshold_is_kept(bench_file):
    benchmarks = load_benchmarks([BenchmarkFile(path=str(bench_file))])
    half = QUESTION[: len(QUESTION) // 3]
    kept, _ = decontaminate(pool(half + "其他内容完全不同的一段话。"), benchmarks, DecontamSettings())
    assert len(kept) == 1


def test_missing_question_field_names_it_and_the_fields_present(bench_file):
    with pytest.raises(CrdError, match=r"mini\.jsonl: record 1 has no text field 'problem'; fields present: answer, question"):
        load_benchmarks([BenchmarkFile(path=str(bench_file), question_field="problem")])


def test_settings_refuse_unknown_keys():
    with pytest.raises(ValueError, match="ngrams"):
        DecontamSettings(ngrams=5)


def test_real_benchmarks_against_real_pool():
    """Planted copies of cmath questions are all caught; Alpaca stays untouched."""
    if not DATA.exists():
        pytest.skip("../shared/data is absent")
    benchmarks = load_benchmarks(
        [BenchmarkFile(path=str(DATA / "benchmarks" / "cmath.jsonl"), answer_field="answer")]
    )
    alpaca = pl.read_ndjson(DATA / "instructions" / "alpaca_zh.jsonl")["instruction"].to_list()
    planted = ["请回答：" + q for q in benchmarks["question"].to_list()]
    kept, rejects = decontaminate(pool(*alpaca, *planted), benchmarks, DecontamSettings())
    assert len(kept) == len(alpaca)
    assert rejects["benchmark_item"].to_list() == list(range(len(planted)))
