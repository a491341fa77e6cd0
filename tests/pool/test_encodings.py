"""Input encodings: UTF-8 (with or without BOM), GB18030/GBK and UTF-16 files, detected or
declared, through `crd pool`; undecodable lines located, or skipped and counted."""

from __future__ import annotations

import codecs
import csv
import io
import json
from pathlib import Path

import polars as pl
import pytest
import zstandard

from processing.cli import main
from processing.config import load_config
from processing.errors import CrdError
from processing.pool.settings import PoolConfig, SourceConfig
from processing.pool.sources import read_pool_report, read_source
from processing.textio import BLOCK_BYTES, SAMPLE_BYTES, choose_encoding, iter_lines

from helpers import SHARED_DATA

PROMPTS = {
    "gbk_jsonl": ["小明有三个苹果，又买了五个，一共有几个？", "请把“春眠不觉晓”翻译成英文，并解释诗意。"],
    "gbk_csv": ["计算 12 × 8 的结果，写出步骤。", "北京是中国的首都吗？请简要说明理由。"],
    "bom_csv": ["《红楼梦》的作者是谁？请介绍他的生平。", "解方程：2x + 3 = 11，求 x 的值。"],
    "utf16_jsonl": ["一个长方形长5米、宽3米，周长是多少米？", "简述光合作用的过程，以及它为什么重要。"],
    "gbk_zst": ["一辆汽车每小时行驶60千米，3小时行驶多少千米？", "列举三种常见的中国传统节日及其习俗。"],
}


def jsonl_text(prompts: list[str]) -> str:
    return "".join(json.dumps({"prompt": p}, ensure_ascii=False) + "\n" for p in prompts)


def csv_text(prompts: list[str]) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out)  # "\r\n" line ends, like Excel
    writer.writerow(["prompt", "note"])
    writer.writerows([[p, "备注"] for p in prompts])
    return out.getvalue()


def pool_prompts(run: Path) -> set[str]:
    return set(pl.read_parquet(run / "pool.parquet")["prompt"])


def test_every_encoding_ingests_through_crd_pool_with_a_gbk_config(tmp_path, capsys):
    (tmp_path / "gbk.jsonl").write_bytes(jsonl_text(PROMPTS["gbk_jsonl"]).encode("gbk"))
    (tmp_path / "gbk.csv").write_bytes(csv_text(PROMPTS["gbk_csv"]).encode("gbk"))
    (tmp_path / "excel.csv").write_bytes(codecs.BOM_UTF8 + csv_text(PROMPTS["bom_csv"]).encode("utf-8"))
    (tmp_path / "wide.jsonl").write_bytes(jsonl_text(PROMPTS["utf16_jsonl"]).encode("utf-16"))  # BOM first
    compressed = zstandard.ZstdCompressor().compress(jsonl_text(PROMPTS["gbk_zst"]).encode("gb18030"))
    (tmp_path / "packed.jsonl.zst").write_bytes(compressed)
    config = """# 指令池：各种编码的文件（本配置文件本身是 GBK 编码）
[[sources]]
path = "gbk.jsonl"
name = "国标JSONL"

[[sources]]
path = "gbk.csv"
encoding = "gbk"

[[sources]]
path = "excel.csv"

[[sources]]
path = "wide.jsonl"

[[sources]]
path = "packed.jsonl.zst"

[dedup]
near = false
"""
    (tmp_path / "pool.toml").write_bytes(config.encode("gbk"))
    run = tmp_path / "run"
    assert main(["pool", str(tmp_path / "pool.toml"), "--out", str(run), "-q"]) == 0

    assert pool_prompts(run) == {prompt for prompts in PROMPTS.values() for prompt in prompts}
    pool = pl.read_parquet(run / "pool.parquet")
    assert set(pool["source"]) == {"国标JSONL", "gbk", "excel", "wide", "packed"}
    assert "pool of 10 prompts" in capsys.readouterr().out


def test_bom_never_joins_a_column_name(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(codecs.BOM_UTF8 + csv_text(PROMPTS["bom_csv"]).encode("utf-8"))
    for declared in (None, "utf-8"):  # detected, or declared as plain UTF-8: the BOM is dropped either way
        assert read_source(SourceConfig(path=str(path), encoding=declared))["prompt"].to_list() == PROMPTS["bom_csv"]


def test_gbk_json_array_and_a_line_longer_than_a_block(tmp_path):
    long_prompt = "请详细证明勾股定理，" * (3 * BLOCK_BYTES // 20)  # far longer than one read block
    prompts = ["一年有几个季节？", long_prompt, "水的沸点是多少摄氏度？"]
    array = tmp_path / "a.json"
    array.write_bytes(json.dumps([{"prompt": p} for p in prompts], ensure_ascii=False).encode("gbk"))  # one line
    lines = tmp_path / "a.jsonl"
    lines.write_bytes(jsonl_text(prompts).encode("gbk"))
    for path in (array, lines):
        assert read_source(SourceConfig(path=str(path)))["prompt"].to_list() == prompts, path.name


def test_undecodable_line_names_file_line_and_byte_offset(tmp_path):
    good = jsonl_text(["第一行没有问题。", "第二行也没有问题。"]).encode("utf-8")
    bad = jsonl_text(["第三行是国标码。"]).encode("gbk")
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(good + bad + jsonl_text(["第四行没有问题。"]).encode("utf-8"))
    offset = len(good) + bad.index(b'"', 11) + 1  # the first byte of the GBK text, after {"prompt": "
    expected = rf'mixed\.jsonl:3: undecodable as utf-8 \(byte 0x{bad[offset - len(good)]:02X} at byte offset {offset}\)'
    with pytest.raises(CrdError, match=expected + r'; set its encoding: encoding = "gb18030"'):
        read_source(SourceConfig(path=str(path)))


def test_undecodable_lines_are_skipped_and_counted_under_on_error_skip(tmp_path):
    rows = [jsonl_text([p]).encode("utf-8") for p in ("甲：第一个问题是什么？", "乙：第二个问题是什么？")]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_bytes(rows[0] + jsonl_text(["丙：国标码的一行"]).encode("gbk") + b"{broken\n" + rows[1])
    table = tmp_path / "p.csv"
    table.write_bytes(("prompt\r\n甲：表格第一行\r\n").encode() + "丙：国标码\r\n".encode("gbk") + "乙：表格第三行\r\n".encode())
    pool, skipped, _ = read_pool_report([SourceConfig(path=str(jsonl), on_error="skip"),
                                         SourceConfig(path=str(table), on_error="skip")])
    assert pool["prompt"].to_list() == ["甲：第一个问题是什么？", "乙：第二个问题是什么？", "甲：表格第一行", "乙：表格第三行"]
    assert skipped.select("location", "reason").rows() == [
        (f"{jsonl}:2", "undecodable"), (f"{jsonl}:3", "malformed"), (f"{table}:3", "undecodable"),
    ]


def test_crd_pool_summary_counts_undecodable(tmp_path):
    (tmp_path / "p.jsonl").write_bytes(
        jsonl_text(["请解释什么是质数，并举三个例子。"]).encode() + jsonl_text(["国标码写成的一行文字"]).encode("gbk")
    )
    (tmp_path / "pool.toml").write_text('[[sources]]\npath = "p.jsonl"\non_error = "skip"\n', encoding="utf-8")
    assert main(["pool", str(tmp_path / "pool.toml"), "--out", str(tmp_path / "run"), "-q"]) == 0
    total = pl.read_csv(tmp_path / "run" / "pool" / "summary.csv").filter(pl.col("source") == "total").row(0, named=True)
    assert (total["ingested"], total["undecodable"], total["malformed"], total["kept"]) == (1, 1, 0, 1)


def test_utf8_with_a_corrupt_byte_is_reported_not_read_as_gb18030_mojibake(tmp_path):
    # UTF-8 "中文" plus the GBK bytes of "啊": invalid UTF-8, yet every byte pair is valid GB18030.
    data = b'{"prompt": "' + "中文".encode() + "啊".encode("gbk") + b'"}\n'
    assert data.decode("gb18030")  # mojibake would decode without an error
    assert choose_encoding(data, None, complete=True) == ("utf-8", 0)
    path = tmp_path / "corrupt.jsonl"
    path.write_bytes(data)
    [(number, error)] = list(iter_lines(path))
    assert number == 1 and isinstance(error, CrdError) and "byte offset 18" in str(error)


def test_detection_order_bom_then_utf8_then_gb18030():
    text = "今天天气很好，我们去公园散步吧。"
    assert choose_encoding(codecs.BOM_UTF16_BE + text.encode("utf-16-be"), None, True) == ("utf-16-be", 2)
    assert choose_encoding(codecs.BOM_UTF8 + text.encode(), None, True) == ("utf-8", 3)
    assert choose_encoding(text.encode(), None, True) == ("utf-8", 0)
    assert choose_encoding(text.encode("gb18030"), None, True) == ("gb18030", 0)
    assert choose_encoding(text.encode(), "gbk", True) == ("gbk", 0)  # declared wins
    # A sample that ends inside a character is still valid: only the start of the file is read.
    assert choose_encoding(text.encode()[:-1], None, complete=False) == ("utf-8", 0)


def test_gbk_after_the_detection_sample_fails_with_the_advice_to_declare(tmp_path):
    path = tmp_path / "late.jsonl"
    ascii_rows = jsonl_text(["What is two plus two?"]) * (SAMPLE_BYTES // 30 + 1)
    path.write_bytes(ascii_rows.encode() + jsonl_text(["二加二等于几？"]).encode("gbk"))
    with pytest.raises(CrdError, match=r'late\.jsonl:\d+: undecodable as utf-8 .*encoding = "gb18030"'):
        read_source(SourceConfig(path=str(path)))
    declared = read_source(SourceConfig(path=str(path), encoding="gbk"))
    assert declared["prompt"][-1] == "二加二等于几？"


def test_unknown_declared_encoding_names_the_key(tmp_path):
    (tmp_path / "pool.toml").write_text('[[sources]]\npath = "p.jsonl"\nencoding = "gbkk"\n', encoding="utf-8")
    with pytest.raises(CrdError, match=r"sources\.0\.encoding: .*unknown encoding 'gbkk'"):
        load_config(tmp_path / "pool.toml", PoolConfig)


def test_config_with_bom_or_in_utf16_loads(tmp_path):
    text = '# 配置\nname = "中文数据集"\n[[sources]]\npath = "p.jsonl"\n'
    for name, data in (("bom.toml", codecs.BOM_UTF8 + text.encode()), ("wide.toml", text.encode("utf-16"))):
        (tmp_path / name).write_bytes(data)
        assert load_config(tmp_path / name, PoolConfig).name == "中文数据集", name


def test_undecodable_config_is_one_line(tmp_path, capsys):
    (tmp_path / "pool.toml").write_bytes(b'name = "ok"\n# \xff\xfe\xfd\n[[sources]]\npath = "p.jsonl"\n')
    assert main(["pool", str(tmp_path / "pool.toml"), "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "pool.toml:2: undecodable" in error and "save the config as UTF-8" in error


def test_real_alpaca_in_gb18030_reads_like_the_utf8_original(tmp_path):
    original = SHARED_DATA / "instructions" / "alpaca_zh.jsonl"
    if not original.exists():
        pytest.skip("../shared/data is absent")
    converted = tmp_path / "alpaca_gb.jsonl"
    converted.write_bytes(original.read_text(encoding="utf-8").encode("gb18030"))
    spec = {"template": "{instruction}\n{input}", "name": "alpaca"}
    utf8 = read_source(SourceConfig(path=str(original), **spec))
    assert read_source(SourceConfig(path=str(converted), **spec)).equals(utf8)
