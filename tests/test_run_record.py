"""A run that is a faithful record: recipe fingerprints, stages that rerun only when their
inputs change, the manifest, a dataset folder that never mixes two builds, and the
builder's cache. Every build here is a real `crd build` against the simulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import load_dataset

from processing.sim import SimSettings, Simulator

PROMPTS = [f"小明有 {a} 个苹果，又买了 {a + 7} 个，一共有多少个？" for a in range(1, 31)]


def write_pool(tmp_path: Path, prompts: list[str]) -> None:
    lines = (json.dumps({"prompt": p, "category": "math", "reference_answer": str(2 * i + 8)}, ensure_ascii=False)
             for i, p in enumerate(prompts, start=1))
    (tmp_path / "pool.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_config(tmp_path: Path, base_url: str, model: str = "", tables: str = "") -> Path:
    config = tmp_path / "run.toml"
    config.write_text(
        f'name = "record"\n[[sources]]\npath = "pool.jsonl"\nname = "apples"\n'
        f'[[models]]\nname = "sim-deepseek-r1"\nbase_url = "{base_url}"\n{model or "max_concurrency = 8"}\n{tables}',
        encoding="utf-8",
    )
    return config


def crd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "processing.cli", *args], capture_output=True, text=True)


def build(config: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    result = crd("build", str(config), "--out", str(out), "-q", *extra)
    assert result.returncode == 0, result.stderr
    return result


def stage_status(result: subprocess.CompletedProcess) -> dict[str, str]:
    """The one line per stage `crd build` prints: name, status, seconds, counts."""
    names = ("pool", "routing", "generation", "verify", "shards", "card")
    words = [line.split() for line in result.stdout.splitlines()]
    return {parts[0]: parts[1] for parts in words if parts and parts[0] in names}


@pytest.fixture()
def sim():
    with Simulator(SimSettings()) as server:
        yield server


def test_a_changed_temperature_asks_every_request_again_and_the_card_says_so(tmp_path, sim):
    write_pool(tmp_path, PROMPTS)
    out = tmp_path / "out"
    build(write_config(tmp_path, sim.base_url, "temperature = 0.6"), out)
    first = sim.stats()["requests"]
    rerun = build(write_config(tmp_path, sim.base_url, "temperature = 1.3"), out)
    assert first == len(PROMPTS)
    assert sim.stats()["requests"] - first == len(PROMPTS)
    assert f"{len(PROMPTS)} finished answers were made with other settings" in rerun.stderr
    assert stage_status(rerun)["generation"] == "recomputed"
    card = (out / "README.md").read_text(encoding="utf-8")
    teacher = next(line for line in card.splitlines() if line.startswith("| `sim-deepseek-r1` |"))
    assert "| 1.3 |" in teacher and "0.6" not in teacher
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["models"][0]["temperature"] == 1.3


def test_settings_that_cannot_change_the_answer_reuse_every_answer(tmp_path, sim):
    write_pool(tmp_path, PROMPTS)
    out = tmp_path / "out"
    build(write_config(tmp_path, sim.base_url, "max_concurrency = 8"), out)
    first = sim.stats()["requests"]
    rerun = build(write_config(tmp_path, sim.base_url, "max_concurrency = 3\ntimeout = 99\nmax_retries = 1\n"
                                                      "input_price = 4.0\noutput_price = 16.0"), out)
    assert sim.stats()["requests"] == first
    assert set(stage_status(rerun).values()) == {"reused"}


def test_a_changed_verification_setting_rescores_with_no_request(tmp_path, sim):
    write_pool(tmp_path, PROMPTS)
    out = tmp_path / "out"
    build(write_config(tmp_path, sim.base_url), out)
    first = sim.stats()["requests"]
    rerun = build(write_config(tmp_path, sim.base_url, tables="[verify]\ntimeout = 5.0\n"), out)
    assert sim.stats()["requests"] == first
    status = stage_status(rerun)
    assert status["pool"] == status["routing"] == status["generation"] == "reused"
    assert status["verify"] == status["shards"] == status["card"] == "recomputed"


def test_added_prompts_are_the_only_ones_asked(tmp_path, sim):
    write_pool(tmp_path, PROMPTS[:20])
    out = tmp_path / "out"
    config = write_config(tmp_path, sim.base_url)
    build(config, out)
    first = sim.stats()["requests"]
    write_pool(tmp_path, PROMPTS)
    rerun = build(config, out)
    assert sim.stats()["requests"] - first == 10
    assert stage_status(rerun)["pool"] == "recomputed"
    assert sorted(load_dataset(str(out), "default", split="train")["prompt"]) == sorted(PROMPTS)


def test_no_stale_config_folder_survives_a_rebuild_with_fewer_configs(tmp_path, sim):
    write_pool(tmp_path, PROMPTS)
    out = tmp_path / "out"
    build(write_config(tmp_path, sim.base_url), out)
    assert {p.name for p in (out / "data").iterdir()} == {"default", "sft", "messages", "full"}
    build(write_config(tmp_path, sim.base_url, tables='[output]\nconfigs = ["default"]\n'), out)
    assert [p.name for p in (out / "data").iterdir()] == ["default"]
    assert not list(tmp_path.glob(".out.*")), "no staging or retired folder is left beside the output"
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "config_name: sft" not in card and "config_name: default" in card


def test_the_builder_serves_the_new_rows_after_a_rebuild(tmp_path, sim):
    from chinese_reasoning_distil import ChineseReasoningDistil

    def rows_from_builder() -> list[str]:
        builder = ChineseReasoningDistil(config_name="sft", data_dir=str(out), cache_dir=str(tmp_path / "cache"))
        builder.download_and_prepare()
        return builder.as_dataset(split="train")["instruction"]

    out = tmp_path / "out"
    write_pool(tmp_path, PROMPTS)
    config = write_config(tmp_path, sim.base_url)
    build(config, out)
    assert sorted(rows_from_builder()) == sorted(PROMPTS)
    write_pool(tmp_path, PROMPTS[:7])
    build(config, out)
    assert sorted(rows_from_builder()) == sorted(PROMPTS[:7])


def test_the_manifest_records_the_build_without_secrets(tmp_path, sim, monkeypatch):
    write_pool(tmp_path, PROMPTS)
    out = tmp_path / "out"
    monkeypatch.setenv("CRD_TEST_KEY", "sk-planted-secret-123456")
    build(write_config(tmp_path, sim.base_url, 'api_key_env = "CRD_TEST_KEY"'), out)
    text = (out / "manifest.json").read_text(encoding="utf-8")
    assert "sk-planted-secret" not in text
    manifest = json.loads(text)
    assert manifest["package"]["version"]
    assert list(manifest["stages"]) == ["pool", "routing", "generation", "verify", "shards", "card"]
    assert manifest["stages"]["pool"]["counts"]["out"] == len(PROMPTS)
    assert manifest["stages"]["verify"]["counts"]["rows"] == len(PROMPTS)
    assert all(len(stage["fingerprint"]) == 24 for stage in manifest["stages"].values())


def test_a_folder_crd_did_not_write_is_never_replaced(tmp_path, sim):
    write_pool(tmp_path, PROMPTS)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    result = crd("build", str(write_config(tmp_path, sim.base_url)), "--out", str(out), "-q")
    assert result.returncode == 2 and "not a dataset folder written by crd" in result.stderr
    assert (out / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_crd_generate_asks_again_after_a_recipe_change(tmp_path, sim):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}, ensure_ascii=False) + "\n" for p in PROMPTS[:8]),
                       encoding="utf-8")
    common = ["generate", str(prompts), "--model", "sim-deepseek-r1", "--base-url", sim.base_url,
              "--out", str(tmp_path / "gen"), "-q"]
    assert crd(*common, "--max-tokens", "4096").returncode == 0
    assert crd(*common, "--max-tokens", "4096", "--concurrency", "2").returncode == 0
    assert sim.stats()["requests"] == 8, "concurrency is not part of the recipe"
    changed = crd(*common, "--max-tokens", "2048")
    assert changed.returncode == 0
    assert sim.stats()["requests"] == 16
    assert "8 finished answers were made with other settings" in changed.stderr
    assert pq.read_table(tmp_path / "gen" / "generations.parquet").num_rows == 8


def test_credentials_written_into_a_url_are_masked_in_the_manifest(tmp_path):
    from processing.config import parse_config
    from processing.manifest import write_manifest

    config = parse_config({"sources": [{"path": "x.jsonl"}],
                           "models": [{"name": "m", "base_url": "https://user:hunter2@gpu1:8000/v1"}]})
    text = json.dumps(write_manifest(tmp_path, config, [], simulated_rows=0))
    assert "hunter2" not in text and "https://***@gpu1:8000/v1" in text
    assert json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))["config"]["models"][0]["base_url"] \
        == "https://***@gpu1:8000/v1"


def test_answers_asked_again_into_a_new_journal_are_the_ones_published(tmp_path, sim):
    """Same recipe, other answers: the journal was deleted and every request answered again
    (here by a simulator that reasons at greater length)."""
    write_pool(tmp_path, PROMPTS)
    out = tmp_path / "out"
    build(write_config(tmp_path, sim.base_url), out)
    before = pq.read_table(out / "data" / "default", columns=["reasoning"])["reasoning"].to_pylist()
    (tmp_path / "out.run" / "journal.jsonl").unlink()
    with Simulator(SimSettings(reasoning_chars=1200)) as longer:
        rerun = build(write_config(tmp_path, longer.base_url), out)
        assert longer.stats()["requests"] == len(PROMPTS)
    assert stage_status(rerun)["verify"] == "recomputed"
    after = pq.read_table(out / "data" / "default", columns=["reasoning"])["reasoning"].to_pylist()
    assert len(after) == len(PROMPTS) and sum(map(len, after)) > sum(map(len, before))
