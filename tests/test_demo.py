"""The whole road through the CLI: `crd demo`, then the files it wrote, then load_dataset."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard

from processing import demo as demo_data
from processing.publish.card import SIMULATED_JUDGE_NOTICE, SIMULATOR_NOTICE
from processing.schema import NANOID_ALPHABET, SCHEMAS, sft_output
from processing.sim import SHAPES, expected_answer, load_answers

DEMO_POOL = demo_data.POOL
DOCUMENTED_COLUMNS = {
    "default": ["id", "prompt", "reasoning", "response", "score", "source"],
    "sft": ["id", "instruction", "input", "output", "score", "source"],
    "messages": ["id", "messages", "score", "source"],
}


def crd(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "processing.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "out"
    result = crd("demo", "--out", str(out), "-q")
    assert result.returncode == 0, result.stderr
    assert "simulator" in result.stdout and "load_dataset" in result.stdout
    assert "is the crd simulator" not in result.stderr  # the demo said so itself, once
    return out


def load(out: Path, config: str):
    return load_dataset(str(out), config, split="train")


def pool_rows() -> list[dict]:
    return [json.loads(line) for line in DEMO_POOL.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_prompt_becomes_one_row(demo_out):
    rows = load(demo_out, "default")
    assert rows.num_rows == len(pool_rows())
    assert sorted(rows["prompt"]) == sorted(row["prompt"] for row in pool_rows())


@pytest.mark.parametrize("config", ["default", "sft", "messages"])
def test_configs_have_exactly_the_documented_columns_and_types(demo_out, config):
    rows = load(demo_out, config)
    assert rows.column_names == DOCUMENTED_COLUMNS[config]
    assert rows.features.arrow_schema.remove_metadata() == SCHEMAS[config]


def test_ids_are_unique_nanoids(demo_out):
    ids = load(demo_out, "default")["id"]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 12 and set(i) <= set(NANOID_ALPHABET) for i in ids)


def test_ids_unchanged_when_the_run_is_repeated(demo_out, tmp_path):
    again = tmp_path / "again"
    assert crd("demo", "--out", str(again), "-q").returncode == 0
    first = {row["prompt"]: row["id"] for row in load(demo_out, "default")}
    second = {row["prompt"]: row["id"] for row in load(again, "default")}
    assert first == second


def test_sft_output_is_think_block_then_response(demo_out):
    default = {row["id"]: row for row in load(demo_out, "default")}
    for row in load(demo_out, "sft"):
        source = default[row["id"]]
        assert row["output"] == "<think>\n" + source["reasoning"] + "\n</think>\n\n" + source["response"]
        assert row["output"] == sft_output(source["reasoning"], source["response"])
        assert row["instruction"] == source["prompt"] and row["input"] == ""


def test_messages_are_user_then_assistant(demo_out):
    sft = {row["id"]: row for row in load(demo_out, "sft")}
    for row in load(demo_out, "messages"):
        assert row["messages"] == [
            {"role": "user", "content": sft[row["id"]]["instruction"]},
            {"role": "assistant", "content": sft[row["id"]]["output"]},
        ]


def test_every_simulator_shape_is_split(demo_out):
    full = load(demo_out, "full")
    assert set(full["model"]) == set(SHAPES), "the demo routes prompts to every shape"
    for row in full:
        assert row["reasoning"] and row["response"], row["model"]
        for text in (row["reasoning"], row["response"]):
            assert "<think>" not in text and "</think>" not in text, row["model"]
        assert row["finish_reason"] == "stop"


def test_wrong_answers_score_zero_and_right_ones_ten(demo_out):
    answers = load_answers(DEMO_POOL)
    full = load(demo_out, "full")
    outcomes = {True: 0, False: 0}
    for row in full:
        expected = expected_answer(row["prompt"], answers, 0.2, row["model"])
        if expected is None:  # no reference answer: the demo's simulated judge rates it
            assert row["verify_method"] == "judge" and (row["score"] is None or 0 <= row["score"] <= 10)
            continue
        given, correct = expected
        outcomes[correct] += 1
        assert row["score"] == (10.0 if correct else 0.0), (row["prompt"], given, row["response"])
    assert outcomes[True] > 0 and outcomes[False] > 0


def test_card_yaml_loads_and_its_configs_match_the_files(demo_out):
    card = DatasetCard.load(demo_out / "README.md")
    data = card.data.to_dict()
    assert data["language"] == ["zh"]
    assert data["size_categories"] == ["n<1K"]
    assert data["license"] and "text-generation" in data["task_categories"]
    configs = {entry["config_name"]: entry for entry in data["configs"]}
    assert set(configs) == {"default", "sft", "messages", "full"}
    for name, entry in configs.items():
        pattern = entry["data_files"][0]["path"]
        files = sorted(demo_out.glob(pattern))
        assert files, pattern
        info = next(i for i in data["dataset_info"] if i["config_name"] == name)
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        assert info["splits"][0]["num_examples"] == rows
        assert [feature["name"] for feature in info["features"]] == SCHEMAS[name].names
    # Nothing told the build it was a demo: the rows' system_fingerprint did.
    assert card.text.strip().split("\n\n")[1] + "\n\n" == SIMULATOR_NOTICE
    judged = load(demo_out, "full")["verify_method"].count("judge")
    assert judged and SIMULATED_JUDGE_NOTICE.format(rows=judged) in card.text
    manifest = json.loads((demo_out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["simulated"] is True and manifest["simulated_rows"] == len(pool_rows())


def test_card_figures_exist(demo_out):
    text = (demo_out / "README.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\((images/[^)]+)\)", text)
    assert len(images) == 2
    for image in images:
        assert (demo_out / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_shards_have_hub_names_and_no_leftovers(demo_out):
    for config in ("default", "sft", "messages", "full"):
        names = [p.name for p in (demo_out / "data" / config).iterdir()]
        assert names and all(re.fullmatch(r"train-\d{5}-of-\d{5}\.parquet", n) for n in names), names
    assert not [p for p in (demo_out / "data").iterdir() if p.name.startswith(".")]


def test_malformed_pool_line_names_file_and_line(tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"prompt": "一加一等于几？"}\n{"prompt": "二加二\n', encoding="utf-8")
    config = tmp_path / "run.toml"
    config.write_text(
        '[[sources]]\npath = "pool.jsonl"\n[[models]]\nname = "sim-deepseek-r1"\nbase_url = "http://127.0.0.1:9/v1"\n',
        encoding="utf-8",
    )
    result = crd("build", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert f"{pool}:2:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_config_typo_names_the_key(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('[[sources]]\npath = "p.jsonl"\n[[models]]\nname = "m"\nbase_ur = "x"\n', encoding="utf-8")
    result = crd("build", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "models.0.base_url" in result.stderr or "models.0.base_ur" in result.stderr
