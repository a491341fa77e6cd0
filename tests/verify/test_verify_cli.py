"""`crd verify` through the CLI: any answers file in, every column kept, verdicts added."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from processing.sim import SimSettings, Simulator

ROWS = [
    {"id": "r1", "prompt": "3 加 4 等于几？", "response": "3+4=7，所以答案是7。", "reference_answer": "7", "score": 10,
     "extra": "kept"},
    {"id": "r2", "prompt": "12 乘 3？", "response": "数据有 36、12、3……答案：35", "reference_answer": "36", "score": 10,
     "extra": "kept"},
    {"id": "r3", "prompt": "下列哪项正确？", "response": "A 错，B 错，所以选C。", "reference_answer": "C", "score": 0,
     "extra": "kept"},
    {"id": "r4", "prompt": "写一句问候语", "response": "你好，祝你今天顺利！", "reference_answer": None, "score": 8,
     "extra": "kept"},
]


def crd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "processing.cli", *args], capture_output=True, text=True)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def test_rows_keep_their_columns_and_get_verdicts(tmp_path):
    result = crd("verify", str(write_jsonl(tmp_path / "in.jsonl", ROWS)), "--out", str(tmp_path / "out.parquet"), "-q")
    assert result.returncode == 0, result.stderr
    out = pl.read_parquet(tmp_path / "out.parquet").sort("id")
    assert out["extra"].to_list() == ["kept"] * 4
    assert out["previous_score"].to_list() == [10.0, 10.0, 0.0, 8.0]
    assert out["score"].to_list() == [10.0, 0.0, 10.0, None], "the number in the reasoning is never the answer"
    assert out["verify_method"].to_list() == ["math", "math", "choice", None]
    assert "4 rows verified" in result.stdout
    assert "2 of 3 verdicts differ from the input's own score" in result.stdout


def test_a_folder_of_parquet_parts_is_read_in_order(tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    pl.DataFrame(ROWS[:2]).write_parquet(parts / "part-00000.parquet")
    pl.DataFrame(ROWS[2:]).write_parquet(parts / "part-00001.parquet")
    result = crd("verify", str(parts), "--out", str(tmp_path / "out.parquet"), "-q")
    assert result.returncode == 0, result.stderr
    assert pl.read_parquet(tmp_path / "out.parquet")["id"].to_list() == ["r1", "r2", "r3", "r4"]


def test_a_missing_column_is_named_with_the_columns_present(tmp_path):
    rows = [{"prompt": "x", "answer": "y"}]
    result = crd("verify", str(write_jsonl(tmp_path / "in.jsonl", rows)), "--out", str(tmp_path / "o.parquet"))
    assert result.returncode == 2
    assert "no column 'response', 'reference_answer'; columns present: prompt, answer" in result.stderr
    assert not (tmp_path / "o.parquet").exists()


@pytest.fixture()
def sim():
    with Simulator(SimSettings()) as server:
        yield server


def test_the_judge_scores_what_the_checks_cannot_and_a_rerun_asks_nothing(tmp_path, sim):
    judge = tmp_path / "judge.toml"
    judge.write_text(f'[judge]\nname = "sim-judge-parts"\nbase_url = "{sim.base_url}"\n', encoding="utf-8")
    source = write_jsonl(tmp_path / "in.jsonl", ROWS)
    args = ["verify", str(source), "--out", str(tmp_path / "out.parquet"), "--judge-config", str(judge), "-q"]
    first = crd(*args)
    asked = sim.stats()["requests"]
    second = crd(*args)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert asked >= 1 and sim.stats()["requests"] == asked
    out = pl.read_parquet(tmp_path / "out.parquet").sort("id")
    judged = out.filter(pl.col("id") == "r4").row(0, named=True)
    assert judged["verify_method"] == "judge" and 0 <= judged["score"] <= 10
    assert json.loads(judged["judge_parts"])
    assert out.filter(pl.col("id") != "r4")["verify_method"].to_list() == ["math", "math", "choice"]


def test_a_judge_config_without_a_judge_table_is_refused(tmp_path):
    judge = tmp_path / "judge.toml"
    judge.write_text('[verify]\ntimeout = 3\n', encoding="utf-8")
    result = crd("verify", str(write_jsonl(tmp_path / "in.jsonl", ROWS)), "--out", str(tmp_path / "o.parquet"),
                 "--judge-config", str(judge))
    assert result.returncode == 2 and "no [judge] table; tables present: verify" in result.stderr
