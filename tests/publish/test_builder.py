"""The `datasets` builder, imported and called directly (datasets >= 4 has no scripts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_dataset

from chinese_reasoning_distil import ChineseReasoningDistil
from processing.schema import sft_output


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("builder") / "out"
    result = subprocess.run([sys.executable, "-m", "processing.cli", "demo", "--out", str(out), "-q"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


def build(config: str, out: Path, cache: Path):
    builder = ChineseReasoningDistil(config_name=config, data_dir=str(out), cache_dir=str(cache))
    builder.download_and_prepare()
    return builder.as_dataset(split="train")


def test_default_matches_the_shards(demo_out, tmp_path):
    built = build("default", demo_out, tmp_path)
    loaded = load_dataset(str(demo_out), "default", split="train")
    assert built.to_list() == loaded.to_list()


def test_sft_merges_reasoning_and_response(demo_out, tmp_path):
    default = {row["id"]: row for row in load_dataset(str(demo_out), "default", split="train")}
    built = build("sft", demo_out, tmp_path)
    assert built.num_rows == len(default)
    for row in built:
        source = default[row["id"]]
        assert row["output"] == sft_output(source["reasoning"], source["response"])


def test_messages_and_full_configs(demo_out, tmp_path):
    messages = build("messages", demo_out, tmp_path / "m")
    assert messages.column_names == ["id", "messages", "score", "source"]
    assert [m["role"] for m in messages[0]["messages"]] == ["user", "assistant"]
    full = build("full", demo_out, tmp_path / "f")
    assert {"model", "category", "verify_method"} <= set(full.column_names)


def test_missing_data_dir_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="no shards"):
        build("default", tmp_path, tmp_path / "cache")
