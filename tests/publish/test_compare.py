"""`crd compare`: reading each kind of input, the overlap statistic, the map, the missing extra."""

from __future__ import annotations

import importlib.util
import re
import sys

import numpy as np
import polars as pl
import pytest
from PIL import Image

from processing.cli import main
from processing.publish.compare import INSTALL_LINE, read_side, self_first

from helpers import FIXTURES, SHARED_DATA
from output_folder import ROWS

ALPACA = SHARED_DATA / "instructions" / "alpaca_zh.jsonl"
APE = SHARED_DATA / "instructions" / "ape210k_valid.jsonl"
needs_viz = pytest.mark.skipif(importlib.util.find_spec("umap") is None or importlib.util.find_spec("sklearn") is None,
                               reason='the viz extra is not installed (pip install ".[viz]")')
needs_data = pytest.mark.skipif(not (ALPACA.exists() and APE.exists()), reason=f"no Alpaca / Ape210K in {SHARED_DATA}")


def shares(printed: str) -> tuple[float, float]:
    """(A's share with its nearest neighbour in B, the same if A and B were one random mix)."""
    line = next(line for line in printed.splitlines() if line.startswith("A's prompts"))
    observed, mixed = re.findall(r"([\d.]+)%", line)
    return float(observed) / 100, float(mixed) / 100


def test_reads_an_output_folder_a_pool_file_and_a_parts_folder(out, tmp_path):
    assert sorted(read_side(str(out), "prompt", None).prompts) == sorted(row["prompt"] for row in ROWS)
    hub_layout = tmp_path / "pulled"
    (hub_layout / "data").mkdir(parents=True)
    pl.DataFrame({"instruction": ["你好"]}).write_parquet(hub_layout / "data" / "train-00000-of-00001.parquet")
    assert read_side(str(hub_layout), "instruction", None).prompts == ["你好"], "any dataset folder, via datasets"
    pl.DataFrame({"prompt": ["甲", "乙", "丙"]}).write_parquet(tmp_path / "pool.parquet")
    assert read_side(str(tmp_path / "pool.parquet"), "prompt", 2).prompts in (["甲", "乙"], ["甲", "丙"], ["乙", "甲"],
                                                                              ["乙", "丙"], ["丙", "甲"], ["丙", "乙"])
    assert main(["import", "mxode", str(FIXTURES / "imports" / "mxode.jsonl"), "--out", str(tmp_path / "parts")]) == 0
    side = read_side(str(tmp_path / "parts"), "prompt", None)
    assert side.name == "parts" and side.prompts and side.total == len(side.prompts)


def test_template_joins_columns(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"instruction": "翻译", "input": "你好"}\n', encoding="utf-8")
    assert read_side(str(tmp_path / "a.jsonl"), "{instruction}：{input}", None).prompts == ["翻译：你好"]


def test_each_row_is_its_own_first_neighbour_even_among_duplicates():
    # Rows 0 and 1 are duplicates: NN-descent listed 1 before 0 for row 0.
    indices = np.array([[1, 0, 2], [1, 0, 2], [2, 0, 1]])
    distances = np.array([[0.0, 0.0, 0.5], [0.0, 0.0, 0.5], [0.0, 0.5, 0.5]], dtype=np.float32)
    fixed, fixed_distances = self_first(indices, distances)
    assert fixed.tolist() == [[0, 1, 2], [1, 0, 2], [2, 0, 1]]
    assert fixed_distances[:, 0].tolist() == [0, 0, 0]
    missing_self = self_first(np.array([[1, 2, 3]]), np.array([[0.1, 0.2, 0.3]]))
    assert missing_self[0].tolist() == [[0, 1, 2]], "the farthest neighbour makes room for the row itself"


def test_without_the_viz_extra_it_prints_the_install_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "umap", None)  # find_spec reports a module set to None as absent
    assert main(["compare", "a.jsonl", "b.jsonl", "--out", str(tmp_path / "map.png")]) == 2
    assert capsys.readouterr().err == f"crd: error: {INSTALL_LINE}\n"


@needs_viz
def test_a_missing_column_is_one_line(tmp_path, capsys):
    (tmp_path / "a.jsonl").write_text('{"question": "1+1=?"}\n', encoding="utf-8")
    assert main(["compare", str(tmp_path / "a.jsonl"), str(tmp_path / "a.jsonl"), "--out", str(tmp_path / "m.png")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "a.jsonl:1: no column 'prompt'; columns present: question" in error


@needs_viz
@needs_data
def test_alpaca_and_ape210k_are_told_apart_on_the_map(tmp_path, capsys):
    png = tmp_path / "map.png"
    assert main(["compare", str(ALPACA), str(APE), "--column-a", "{instruction}\n{input}", "--column-b", "question",
                 "--sample", "1500", "--out", str(png)]) == 0
    observed, mixed = shares(capsys.readouterr().out)
    # General instructions and primary-school word problems barely meet.
    assert observed < mixed / 5
    with Image.open(png) as image:
        assert image.format == "PNG" and min(image.size) >= 600


@needs_viz
@needs_data
def test_two_halves_of_one_dataset_mix_as_if_at_random(tmp_path, capsys):
    questions = pl.read_ndjson(APE).select(prompt="question").head(2000)
    questions.head(1000).write_ndjson(tmp_path / "first.jsonl")
    questions.tail(1000).write_ndjson(tmp_path / "second.jsonl")
    assert main(["compare", str(tmp_path / "first.jsonl"), str(tmp_path / "second.jsonl"),
                 "--out", str(tmp_path / "map.png")]) == 0
    observed, mixed = shares(capsys.readouterr().out)
    assert abs(observed - mixed) < 0.1


@needs_viz
def test_embedding_must_be_a_local_model_folder(tmp_path, capsys):
    (tmp_path / "a.jsonl").write_text('{"prompt": "你好"}\n{"prompt": "再见"}\n', encoding="utf-8")
    assert main(["compare", str(tmp_path / "a.jsonl"), str(tmp_path / "a.jsonl"), "--embedding", str(tmp_path / "none"),
                 "--out", str(tmp_path / "m.png")]) == 2
    assert "--embedding" in capsys.readouterr().err and not (tmp_path / "m.png").exists()
