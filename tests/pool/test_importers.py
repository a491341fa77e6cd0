"""Importers: each published record shape (REFERENCE.md §1) into the canonical schema."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
import zstandard

from processing.cli import main
from processing.errors import CrdError
from processing.pool.importers import IMPORT_SCHEMA, import_dataset, iter_import

from helpers import FIXTURES

FIXTURES = FIXTURES / "imports"


def test_congliu_raw_keeps_scores_tokens_and_category():
    frame = import_dataset("congliu", FIXTURES / "congliu_raw.jsonl")
    assert frame.schema == pl.Schema(IMPORT_SCHEMA)
    first = frame.row(0, named=True)
    assert first["prompt"] == "小明有5个苹果，吃了2个，还剩几个？"
    assert first["reasoning"] == "5减2等于3。"
    assert first["response"] == "还剩 \\boxed{3} 个。"
    assert first["score"] == 10.0
    assert (first["prompt_tokens"], first["reasoning_tokens"], first["response_tokens"]) == (18, 6, 9)
    assert frame["category"].to_list() == ["math", "general", "stem"]
    assert frame["source"].to_list() == frame["repo_name"].to_list()


def test_congliu_sft_splits_think_tags_and_joins_input():
    frame = import_dataset("congliu-sft", FIXTURES / "congliu_sft.jsonl")
    assert frame["reasoning"].to_list() == ["5减2等于3。", "直译即可。"]
    assert frame["response"].to_list() == ["还剩 \\boxed{3} 个。", "I love Beijing."]
    assert frame["prompt"][1] == "把下面的句子翻译成英文。\n我爱北京。"


def test_mxode_keeps_its_ids(tmp_path):
    frame = import_dataset("mxode", FIXTURES / "mxode.jsonl")
    assert frame["id"].to_list() == ["V1StGXR8_Z5j", "IRFa-VaY2b3x"]
    # The same rows from Parquet give the same frame.
    parquet = tmp_path / "mxode.parquet"
    pl.read_ndjson(FIXTURES / "mxode.jsonl").write_parquet(parquet)
    assert import_dataset("mxode", parquet).equals(frame)


def test_am_from_zstd_reads_info_and_test_cases(tmp_path):
    compressed = tmp_path / "am.jsonl.zst"
    compressed.write_bytes(zstandard.ZstdCompressor().compress((FIXTURES / "am.jsonl").read_bytes()))
    frame = import_dataset("am", compressed)
    math, code = frame.row(0, named=True), frame.row(1, named=True)
    assert (math["reasoning"], math["response"]) == ("2^10 = 1024。", "答案是 1024。")
    assert (math["source"], math["reference_answer"], math["test_cases"]) == ("natural_reasoning", "1024", None)
    # No think_content/answer_content in info: split the literal <think>/<answer> content.
    assert (code["reasoning"], code["response"]) == ("直接相加。", "def add(a, b):\n    return a + b")
    assert json.loads(code["test_cases"]) == {"test_code": "assert add(1, 2) == 3", "test_entry_point": "add"}


def test_alpaca_json_array_with_and_without_reasoning():
    frame = import_dataset("alpaca", FIXTURES / "alpaca.json")
    assert frame.select("prompt", "reasoning", "response").rows() == [
        ("计算 12 乘以 3。", "12×3=36。", "36"),
        ("总结下面的段落。\n今天天气很好，我们去公园散步。", "", "天气好，去公园散步。"),
    ]


def test_sharegpt_skips_system_turn():
    frame = import_dataset("sharegpt", FIXTURES / "sharegpt.json")
    assert frame.select("prompt", "reasoning", "response").row(0) == ("中国的首都是哪里？", "常识问题。", "北京。")
    assert frame["response"][1] == "你好！有什么可以帮你？"


def test_ids_are_stable_and_unique():
    first = import_dataset("congliu", FIXTURES / "congliu_raw.jsonl")["id"]
    again = import_dataset("congliu", FIXTURES / "congliu_raw.jsonl")["id"]
    assert first.equals(again)
    assert first.n_unique() == len(first)
    assert first.str.len_chars().to_list() == [12] * len(first)


def test_batches_bound_frame_size():
    sizes = [len(frame) for frame in iter_import("congliu", FIXTURES / "congliu_raw.jsonl", batch_rows=2)]
    assert sizes == [2, 1]


def test_missing_field_names_location_and_present_fields(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "问题", "content": "答"}\n', encoding="utf-8")
    with pytest.raises(CrdError, match=r"bad\.jsonl:1: missing field 'reasoning_content'; fields present: content, input"):
        import_dataset("congliu", bad)


def test_malformed_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "reasoning": "b", "response": "c"}\n{"prompt": \n', encoding="utf-8")
    with pytest.raises(CrdError, match=r"bad\.jsonl:2: malformed JSON"):
        import_dataset("mxode", bad)


def test_unknown_format_lists_known_ones():
    with pytest.raises(CrdError, match="known: congliu, congliu-sft, mxode, am, alpaca, sharegpt"):
        import_dataset("nope", FIXTURES / "mxode.jsonl")


def test_crd_import_writes_parquet_parts(tmp_path, capsys):
    out = tmp_path / "imported"
    (out).mkdir()
    (out / "part-00007.parquet").write_bytes(b"stale")
    assert main(["import", "congliu-sft", str(FIXTURES / "congliu_sft.jsonl"), "--out", str(out)]) == 0
    assert [p.name for p in out.iterdir()] == ["part-00000.parquet"]
    assert pl.read_parquet(out / "part-00000.parquet").equals(import_dataset("congliu-sft", FIXTURES / "congliu_sft.jsonl"))
    assert "imported 2 rows" in capsys.readouterr().out
    column = pq.ParquetFile(out / "part-00000.parquet").metadata.row_group(0).column(0)
    assert column.has_offset_index and column.has_column_index, "parts are written by the build's shard writer"


def test_crd_import_unknown_format_is_one_line_error(tmp_path, capsys):
    assert main(["import", "nope", str(FIXTURES / "mxode.jsonl"), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("crd: error: unknown import format 'nope'")
