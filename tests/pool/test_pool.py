"""`crd pool`: ingest → clean → dedup → decontam with every removal written down."""

from __future__ import annotations

import json

import polars as pl

from processing.cli import main

QUESTION = "小勇拍皮球，第一次拍了77下，第二次比第一次少了9下，第二次拍了多少下？"
LONG = "一个长方形花坛长12米，宽8米，在花坛四周铺一条宽2米的小路，小路的面积是多少平方米？请写出详细的计算过程。"


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_crd_pool_writes_pool_rejects_and_summary(tmp_path, capsys):
    write_jsonl(
        tmp_path / "web.jsonl",
        [
            {"instruction": LONG, "input": ""},
            {"instruction": "三原色是什么？", "input": ""},
            {"instruction": "哈" * 40, "input": ""},
            {"instruction": "请回答：", "input": QUESTION},
        ],
    )
    write_jsonl(tmp_path / "curated.jsonl", [{"question": LONG + "谢谢", "answer": "48"}])
    write_jsonl(tmp_path / "bench.jsonl", [{"question": QUESTION, "answer": "68"}])
    (tmp_path / "pool.toml").write_text(
        """
source_priority = ["curated"]

[[sources]]
path = "web.jsonl"
name = "web"
template = "{instruction}\\n{input}"

[[sources]]
path = "curated.jsonl"
name = "curated"
prompt_column = "question"
reference_column = "answer"
category = "math"

[[decontam.benchmarks]]
path = "bench.jsonl"
name = "mini"

[[models]]  # a full build config works too: generation tables are not read
name = "teacher"
base_url = "http://127.0.0.1:9/v1"
""",
        encoding="utf-8",
    )
    out = tmp_path / "run"
    assert main(["pool", str(tmp_path / "pool.toml"), "--out", str(out)]) == 0

    pool = pl.read_parquet(out / "pool.parquet")
    assert sorted(pool["prompt"]) == sorted([LONG + "谢谢", "三原色是什么？"])
    assert pool.filter(pl.col("source") == "curated")["reference_answer"].to_list() == ["48"]

    def reasons(stage):
        return pl.read_ndjson(out / "pool" / f"{stage}_rejects.jsonl")["reason"].to_list()

    assert reasons("clean") == ["repetition"]
    assert reasons("dedup") == ["near_duplicate"]
    assert reasons("decontam") == ["contaminated"]
    assert pl.read_ndjson(out / "pool" / "decontam_rejects.jsonl")["benchmark"].to_list() == ["mini"]
    clusters = pl.read_ndjson(out / "pool" / "dedup_clusters.jsonl")
    assert clusters["kept_source"].to_list() == ["curated"]

    summary = pl.read_csv(out / "pool" / "summary.csv")
    total = summary.filter(pl.col("source") == "total").row(0, named=True)
    assert (total["ingested"], total["repetition"], total["near_duplicate"], total["contaminated"], total["kept"]) == (5, 1, 1, 1, 2)
    printed = capsys.readouterr().out
    assert "contaminated" in printed and "pool of 2 prompts" in printed


def test_crd_pool_bad_key_is_one_line_error(tmp_path, capsys):
    (tmp_path / "pool.toml").write_text('[[sources]]\npath = "x.jsonl"\n\n[dedup]\nbandz = 3\n', encoding="utf-8")
    assert main(["pool", str(tmp_path / "pool.toml"), "--out", str(tmp_path / "run")]) == 2
    assert "dedup.bandz" in capsys.readouterr().err
