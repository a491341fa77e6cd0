"""Sources: every file shape and column mapping into the pool frame, with errors that locate."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import zstandard

from processing.pool.settings import CategoryRule, SourceConfig
from processing.errors import CrdError
from processing.pool.sources import POOL_SCHEMA, read_pool, read_pool_report, read_source

from helpers import SHARED_DATA

ALPACA = [
    {"instruction": "给出保持健康的三个建议。", "input": "", "output": "…"},
    {"instruction": "把下面的句子翻译成英文。", "input": "我爱北京。", "output": "…"},
]
DATA = SHARED_DATA / "instructions"


def write_jsonl(path: Path, rows: list[dict], extra_lines: str = "") -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + extra_lines, encoding="utf-8")
    return path


def test_alpaca_template_in_every_file_shape(tmp_path):
    jsonl = write_jsonl(tmp_path / "a.jsonl", ALPACA)
    shapes = {
        "a.jsonl": jsonl,
        "a.json": tmp_path / "a.json",
        "a.parquet": tmp_path / "a.parquet",
        "a.csv": tmp_path / "a.csv",
        "a.jsonl.zst": tmp_path / "a.jsonl.zst",
    }
    shapes["a.json"].write_text(json.dumps(ALPACA, ensure_ascii=False), encoding="utf-8")
    pl.DataFrame(ALPACA).write_parquet(shapes["a.parquet"])
    pl.DataFrame(ALPACA).write_csv(shapes["a.csv"])
    shapes["a.jsonl.zst"].write_bytes(zstandard.ZstdCompressor().compress(jsonl.read_bytes()))
    for name, path in shapes.items():
        pool = read_source(SourceConfig(path=str(path), name="alpaca", template="{instruction}\n{input}"))
        assert pool.schema == pl.Schema(POOL_SCHEMA), name
        assert pool["prompt"].to_list() == ["给出保持健康的三个建议。\n", "把下面的句子翻译成英文。\n我爱北京。"], name
        assert pool["source"].to_list() == ["alpaca", "alpaca"], name


def test_glob_reads_every_match_and_ids_are_stable(tmp_path):
    for part in range(2):
        write_jsonl(tmp_path / f"part-{part}.jsonl", [{"prompt": f"问题{part}"}])
    spec = SourceConfig(path=str(tmp_path / "part-*.jsonl"), name="parts")
    pool = read_source(spec)
    assert pool["prompt"].to_list() == ["问题0", "问题1"]
    assert read_source(spec)["id"].equals(pool["id"])


def test_hugging_face_dataset_saved_on_disk(tmp_path):
    import datasets

    datasets.Dataset.from_list([{"question": "1+1=?", "answer": 2}]).save_to_disk(str(tmp_path / "saved"))
    pool = read_source(SourceConfig(path=str(tmp_path / "saved"), prompt_column="question", reference_column="answer"))
    assert pool.select("prompt", "reference_answer", "source").row(0) == ("1+1=?", "2", "saved")


def test_dataset_repository_with_a_llamafactory_dataset_info_json(tmp_path):
    """A crd output folder is a dataset repository, not a `save_to_disk` folder."""
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "train.jsonl", [{"prompt": "问题"}])
    (tmp_path / "dataset_info.json").write_text('{"sft": {"file_name": "data"}}', encoding="utf-8")
    assert read_source(SourceConfig(path=str(tmp_path)))["prompt"].to_list() == ["问题"]


def test_category_fixed_column_or_rules(tmp_path):
    rows = [
        {"prompt": "a", "repo_name": "meta-math/GSM8K_zh", "category": "exam"},
        {"prompt": "b", "repo_name": "stem_zh/phy", "category": None},
        {"prompt": "c", "repo_name": "COIG-CQIA"},
    ]
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    assert read_source(SourceConfig(path=str(path)))["category"].to_list() == ["exam", "general", "general"]
    assert read_source(SourceConfig(path=str(path), category="code"))["category"].to_list() == ["code"] * 3
    rules = [
        CategoryRule(column="repo_name", pattern="(?i)math|gsm8k", category="math"),
        CategoryRule(column="repo_name", pattern="^stem_zh", category="stem"),
    ]
    ruled = read_source(SourceConfig(path=str(path), category_rules=rules))
    assert ruled["category"].to_list() == ["math", "stem", "general"]


def test_reference_and_test_cases_as_text(tmp_path):
    rows = [{"prompt": "写 add", "reference_answer": 3, "test_cases": {"test_code": "assert add(1, 2) == 3"}}]
    pool = read_source(SourceConfig(path=str(write_jsonl(tmp_path / "t.jsonl", rows))))
    assert pool["reference_answer"][0] == "3"
    assert json.loads(pool["test_cases"][0]) == {"test_code": "assert add(1, 2) == 3"}


def test_missing_column_names_it_and_the_columns_present(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", ALPACA)
    with pytest.raises(CrdError, match=r"a\.jsonl:1: no column 'question'; columns present: input, instruction, output"):
        read_source(SourceConfig(path=str(path), prompt_column="question", on_error="skip"))


def test_malformed_line_fails_with_file_and_line_or_is_skipped_and_counted(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "好"}], extra_lines='{"prompt": \n[1, 2]\n{"other": 1}\n')
    with pytest.raises(CrdError, match=r"p\.jsonl:2: malformed JSON"):
        read_source(SourceConfig(path=str(path)))
    pool, skipped, _ = read_pool_report([SourceConfig(path=str(path), on_error="skip")])
    assert pool["prompt"].to_list() == ["好"]
    assert skipped.select("location", "reason").rows() == [
        (f"{path}:2", "malformed"),
        (f"{path}:3", "malformed"),
        (f"{path}:4", "malformed"),
    ]
    assert "no column 'prompt'" in skipped["detail"][2]


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(CrdError, match="source file not found"):
        read_source(SourceConfig(path=str(tmp_path / "none.jsonl")))
    (tmp_path / "a.txt").write_text("x", encoding="utf-8")
    with pytest.raises(CrdError, match="unknown file type"):
        read_source(SourceConfig(path=str(tmp_path / "a.txt")))


def test_real_alpaca_pool_through_template():
    if not DATA.exists():
        pytest.skip("../shared/data is absent")
    pool = read_pool([SourceConfig(path=str(DATA / "alpaca_zh.jsonl"), template="{instruction}\n{input}", category="general")])
    assert len(pool) == 10_000
    assert pool["id"].n_unique() == 10_000


def test_the_pool_report_says_which_labels_each_source_gave_its_rows(tmp_path):
    own = write_jsonl(tmp_path / "own.jsonl", [{"prompt": "甲", "source": "x"}, {"prompt": "乙", "source": "y"},
                                               {"prompt": "丙", "source": "x"}])
    named = write_jsonl(tmp_path / "named.jsonl", [{"prompt": "丁", "source": "ignored"}])
    stem = write_jsonl(tmp_path / "stem.jsonl", [{"prompt": "戊"}])
    pool, _, labels = read_pool_report([SourceConfig(path=str(own)), SourceConfig(path=str(named), name="mine"),
                                        SourceConfig(path=str(stem))])
    assert labels == [["x", "y"], ["mine"], ["stem"]]
    assert pool["source"].to_list() == ["x", "y", "x", "mine", "stem"]


def test_a_declared_licence_is_the_hubs_identifier_and_a_typo_names_the_source():
    assert SourceConfig(path="p.jsonl", license="CC-BY-NC-SA-4.0").license == "cc-by-nc-sa-4.0"
    with pytest.raises(ValueError, match=r"source 'cmmlu': 'mti' is not a licence identifier .* did you mean mit"):
        SourceConfig(path="p.jsonl", name="cmmlu", license="mti")
