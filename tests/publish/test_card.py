"""The card of a real `crd build`: the demo's own config (pool, four teachers, judge) against the
simulator, with `[output] tokenizer` naming a small BPE tokenizer trained here. Its figures are
checked against the shards, the manifest and the tokenizer itself; its snippets are run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import yaml
from datasets import load_dataset
from huggingface_hub import DatasetCard

from processing import demo as demo_data
from processing.publish.card import score_groups
from processing.sim import SimSettings, Simulator, load_answers

CONFIGS = ["default", "sft", "messages", "full"]
FIELDS = ["prompt", "reasoning", "response"]
WHOLE_ROW = "prompt + reasoning + response"
TOKENIZER_FOLDER = "tok"  # beside the config, named relative to it
BLOCK_TOKENS = ("import sys; sys.modules['tokenizers'] = None; "  # as if the library were not installed
                "from processing.cli import main; sys.exit(main(sys.argv[1:]))")


def crd(*args: str, python: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *(python or ["-m", "processing.cli"]), *map(str, args)],
                          capture_output=True, text=True)


def demo_config(folder: Path, base_url: str, tokenizer: str) -> Path:
    """The demo's config, pointed at a simulator and the demo pool, with `tokenizer` added to [output]."""
    text = demo_data.CONFIG.read_text(encoding="utf-8")
    assert text.rstrip().splitlines()[-1].startswith("license"), "[output] is the demo config's last table"
    text = text.replace('path = "prompts.jsonl"', f'path = "{demo_data.POOL.as_posix()}"')
    config = folder / "run.toml"
    config.write_text(text.replace("http://127.0.0.1:8731/v1", base_url) + f'tokenizer = "{tokenizer}"\n',
                      encoding="utf-8")
    return config


def build_with_tokenizer(folder: Path, base_url: str, tokenizer_file: Path) -> Path:
    (folder / TOKENIZER_FOLDER).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tokenizer_file, folder / TOKENIZER_FOLDER / "tokenizer.json")
    out = folder / "out"
    result = crd("build", demo_config(folder, base_url, TOKENIZER_FOLDER), "--out", out, "-q")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def sim():
    with Simulator(SimSettings(answers=load_answers(demo_data.POOL))) as server:
        yield server


@pytest.fixture(scope="module")
def built(tmp_path_factory, sim, train_tokenizer) -> Path:
    return build_with_tokenizer(tmp_path_factory.mktemp("card"), sim.base_url, train_tokenizer(800))


def shard_column(out: Path, config: str, column: str) -> list:
    files = sorted((out / "data" / config).glob("train-*.parquet"))
    return [value for f in files for value in pq.read_table(f, columns=[column])[column].to_pylist()]


def card_text(out: Path) -> str:
    return (out / "README.md").read_text(encoding="utf-8")


def table_after(text: str, marker: str) -> dict[str, list[str]]:
    """The first Markdown table after `marker`: first cell -> the other cells."""
    lines = text[text.index(marker):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def percentile_figures(lengths: list[int]) -> list[str]:
    """p10, p50, p90, p99 (numpy's linear method), max and total, as the card prints numbers."""
    values = np.array(lengths)
    figures = [*np.percentile(values, [10, 50, 90, 99]), values.max(), values.sum()]
    return [f"{value:,.0f}" for value in figures]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_card_header_parses_and_its_counts_are_the_shards(built):
    data = DatasetCard.load(built / "README.md").data.to_dict()
    assert [entry["config_name"] for entry in data["configs"]] == CONFIGS
    for info in data["dataset_info"]:
        files = sorted((built / "data" / info["config_name"]).glob("train-*.parquet"))
        assert info["splits"][0]["num_examples"] == sum(pq.ParquetFile(f).metadata.num_rows for f in files) > 0


def test_character_percentiles_are_those_of_the_shards(built):
    table = table_after(card_text(built), "in characters")
    texts = {field: shard_column(built, "default", field) for field in FIELDS}
    for field in FIELDS:
        assert table[field] == percentile_figures([len(text) for text in texts[field]]), field
    whole = [sum(len(texts[field][i]) for field in FIELDS) for i in range(len(texts["prompt"]))]
    assert table[WHOLE_ROW] == percentile_figures(whole)


def test_token_figures_are_the_configured_tokenizers_counts_of_the_shards(built):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(built.parent / TOKENIZER_FOLDER / "tokenizer.json"))
    text = card_text(built)
    table = table_after(text, f"In tokens of `{TOKENIZER_FOLDER}`")
    counts = {field: [len(tokenizer.encode(text, add_special_tokens=False).ids)
                      for text in shard_column(built, "default", field)] for field in FIELDS}
    for field in FIELDS:
        assert table[field] == percentile_figures(counts[field]), field
        assert counts[field] != [len(t) for t in shard_column(built, "default", field)], "tokens are not characters"
    whole = [sum(row) for row in zip(*counts.values())]
    assert table[WHOLE_ROW] == percentile_figures(whole)
    p99 = np.percentile(whole, 99)
    assert f"max_length={-(-int(p99) // 1024) * 1024}," in text
    assert f"99% of rows are at most {p99:,.0f} tokens of {TOKENIZER_FOLDER}" in text


def test_summary_counts_are_the_shards_and_the_manifests(built):
    summary = table_after(card_text(built), "How they are scored")
    groups = {re.match(r"\*\*(.+?)\*\*", cells[0]).group(1): int(count.replace(",", ""))
              for count, cells in summary.items()}
    scores = shard_column(built, "default", "score")
    methods = dict(zip(shard_column(built, "full", "id"), shard_column(built, "full", "verify_method")))
    checked = [(s, methods[i]) for i, s in zip(shard_column(built, "default", "id"), scores)]
    expected = {
        "checked right": sum(s == 10 and m not in (None, "judge") for s, m in checked),
        "checked wrong": sum(s == 0 and m not in (None, "judge") for s, m in checked),
        "rated by an LLM judge": sum(s is not None and m == "judge" for s, m in checked),
        "unscored": scores.count(None),
    }
    assert all(expected.values()), "the demo has rows of every kind"
    assert groups == expected
    assert sum(groups.values()) == len(scores)
    counts = json.loads((built / "manifest.json").read_text(encoding="utf-8"))["stages"]["verify"]["counts"]
    assert counts["scores"]["unscored"] == groups["unscored"]
    judge_unscored = sum(s is None and m == "judge" for s, m in checked)
    assert counts["methods"]["judge"] == groups["rated by an LLM judge"] + judge_unscored


def test_load_snippet_loads_every_config(built, monkeypatch):
    text = card_text(built)
    load = next(block for block in code_blocks(text, "python") if "from datasets import load_dataset\n\nrows" in block)
    monkeypatch.chdir(built.parent)  # the card names the dataset by its folder until it is pushed
    names: dict = {}
    exec(load, names)
    for config, variable in zip(CONFIGS, ["rows", "sft", "chat", "full"]):
        assert names[variable].num_rows == len(shard_column(built, config, "id")), config


def test_training_recipes_name_what_the_build_wrote(built):
    text = card_text(built)
    trl = next(block for block in code_blocks(text, "python") if "SFTTrainer" in block)
    compile(trl, "trl snippet", "exec")
    assert 'load_dataset("out", "messages"' in trl and "assistant_only_loss=True" in trl
    assert "DeepSeek-R1-Distill chat template" in text
    recipe = yaml.safe_load(code_blocks(text, "yaml")[0])
    registered = json.loads((built / "dataset_info.json").read_text(encoding="utf-8"))
    assert recipe["dataset_dir"] == built.name and recipe["dataset"] in registered and recipe["template"]



def test_llamafactory_reads_the_hub_entries_as_it_reads_this_folders(built, monkeypatch):
    from test_llamafactory import lf_align, lf_load

    from_hub = json.loads(code_blocks(card_text(built), "json")[0])
    assert sorted(entry["subset"] for entry in from_hub.values()) == ["messages", "sft"]
    monkeypatch.chdir(built.parent)  # the card names the dataset by its folder until it is pushed
    for entry in from_hub.values():  # what LLaMA-Factory's loader does with hf_hub_url and subset
        rows = load_dataset(entry["hf_hub_url"], name=entry["subset"], split=entry.get("split", "train"))
        assert lf_align(rows, entry) == lf_load(built, entry["subset"])


def test_limitations_follow_the_config(built):
    limitations = card_text(built).split("## Limitations", 1)[1].split("\n## ", 1)[0]
    assert "No decontamination" in limitations  # the demo names no benchmark
    assert "`sim-judge-parts`" in limitations


def test_a_tokenizer_changed_in_place_rerenders_only_the_card(tmp_path, sim, train_tokenizer):
    out = build_with_tokenizer(tmp_path, sim.base_url, train_tokenizer(800))
    again = crd("build", tmp_path / "run.toml", "--out", out, "-q")
    assert "recomputed" not in again.stdout
    before = table_after(card_text(out), "In tokens of")
    shutil.copyfile(train_tokenizer(400), tmp_path / TOKENIZER_FOLDER / "tokenizer.json")  # same path, new content
    changed = crd("build", tmp_path / "run.toml", "--out", out, "-q")
    status = {line.split()[0]: line.split()[1] for line in changed.stdout.splitlines() if line.split()}
    assert status["card"] == "recomputed" and status["generation"] == status["shards"] == "reused"
    after = table_after(card_text(out), "In tokens of")
    assert after["reasoning"] != before["reasoning"]


def test_without_the_tokenizers_library_the_build_stops_before_asking(tmp_path, sim, train_tokenizer):
    shutil.copytree(train_tokenizer(800).parent, tmp_path / TOKENIZER_FOLDER)
    asked = sim.stats()["requests"]
    result = crd("build", demo_config(tmp_path, sim.base_url, TOKENIZER_FOLDER), "--out", tmp_path / "out",
                 python=["-c", BLOCK_TOKENS])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and 'pip install "chinese-reasoning-distil[tokens]"' in result.stderr
    assert sim.stats()["requests"] == asked
    assert not (tmp_path / "out").exists()


def test_a_tokenizer_that_is_not_there_is_one_line(tmp_path, sim):
    result = crd("build", demo_config(tmp_path, sim.base_url, "no-such-tokenizer"), "--out", tmp_path / "out")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "'no-such-tokenizer'" in result.stderr
    assert "nothing is downloaded" in result.stderr


def test_score_groups_put_every_row_in_one_group():
    rows = pl.DataFrame({
        "score": [10.0, 0.0, 6.6667, 10.0, 7.0, None, None, 10.0, 0.0],
        "verify_method": ["math", "choice", "code", "code", "judge", "judge", "math", "judge", "code"],
    })
    assert score_groups(rows) == {"right": 2, "partial": 1, "wrong": 2, "judged": 2, "unscored": 2}
