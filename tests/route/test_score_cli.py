"""`crd score` through the CLI against the simulator: the report, the files, and resuming after kill -9."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from processing.llm.journal import Journal, journal_path
from processing.route.complexity import FOLDER, reask_messages, scoring_messages
from processing.route.settings import ComplexitySettings
from processing import demo as demo_data
from processing.sim import SimSettings, Simulator, prompt_key

from helpers import REPO

EXAMPLE = REPO / "examples" / "r1-180k-sim.toml"
SCORERS = ("sim-scorer-qwen", "sim-scorer-glm")


def crd_score(config: Path, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "processing.cli", "score", str(config), "--run-dir", str(run_dir), "-q"]


def example_against(base_url: str, tmp_path: Path) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8").replace("http://127.0.0.1:8731/v1", base_url)
    text = text.replace('path = "../processing/demo/prompts.jsonl"', f'path = "{demo_data.POOL}"')
    config = tmp_path / "r1-180k-sim.toml"
    config.write_text(text, encoding="utf-8")
    return config


def test_crd_score_prints_the_distribution_cutoff_and_plan_and_a_rerun_asks_nothing(tmp_path):
    run_dir = tmp_path / "run"
    with Simulator(SimSettings()) as sim:
        config = example_against(sim.base_url, tmp_path)
        first = subprocess.run(crd_score(config, run_dir), capture_output=True, text=True)
        asked = sim.stats()["requests"]
        second = subprocess.run(crd_score(config, run_dir), capture_output=True, text=True)
        asked_again = sim.stats()["requests"] - asked
    assert first.returncode == 0, first.stderr
    assert asked >= 2 * 133 and asked_again == 0
    assert second.stdout == first.stdout

    out = first.stdout
    scored = pl.read_parquet(run_dir / FOLDER / "scores.parquet")
    dropped = [json.loads(line) for line in (run_dir / FOLDER / "dropped.jsonl").read_text().splitlines()]
    assert scored.height == 133 and len(dropped) == int(0.3 * scored["complexity"].count())
    assert f"complexity of 133 prompts (mean of 2 scorers)" in out
    cutoff = max(row["complexity"] for row in dropped)
    assert f"cut-off {cutoff:g}: the easiest {len(dropped)} of {scored['complexity'].count()} scored prompts" in out
    assert (run_dir / FOLDER / "scores.png").read_bytes()[:4] == b"\x89PNG"

    rows = [line for line in out.splitlines() if re.match(r"\| \d \(≥", line)]
    assert len(rows) == 3
    weights = [{"sim-deepseek-r1": 1, "sim-qwq-vllm": 1, "sim-inline-think": 1},
               {"sim-deepseek-r1": 2, "sim-qwq-vllm": 1, "sim-inline-think": 1},
               {"sim-deepseek-r1": 3, "sim-qwq-vllm": 1, "sim-inline-think": 1}]
    total = 0
    for row, tier_weights in zip(rows, weights):
        cells = row.strip("|").split("|")
        in_tier = int(cells[1])
        counts = [int(cell.split("(")[0]) for cell in cells[2:]]
        assert in_tier > 0 and sum(counts) == in_tier
        for count, weight in zip(counts, tier_weights.values()):
            assert abs(count - in_tier * weight / sum(tier_weights.values())) < 1
        total += in_tier
    assert total == 133 - len(dropped)
    assert "requests per teacher: sim-deepseek-r1 " in out


def test_crd_score_refuses_a_config_without_scorers(tmp_path):
    config = tmp_path / "plain.toml"
    config.write_text(f'[[sources]]\npath = "{REPO / "examples" / "demo" / "prompts.jsonl"}"\n'
                      '[[models]]\nname = "m"\nbase_url = "http://127.0.0.1:9/v1"\n', encoding="utf-8")
    result = subprocess.run(crd_score(config, tmp_path / "run"), capture_output=True, text=True)
    assert result.returncode == 2 and "complexity.scorers" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------- kill -9, then resume

PROMPTS = 300


def write_config(tmp_path: Path, base_url: str) -> Path:
    with (tmp_path / "pool.jsonl").open("w", encoding="utf-8") as handle:
        for n in range(PROMPTS):
            handle.write(json.dumps({"prompt": f"第{n}题：" + "请逐步推理。" * (n % 40)}, ensure_ascii=False) + "\n")
    scorers = "".join(f'[[complexity.scorers]]\nname = "{name}"\nbase_url = "{base_url}"\nmax_concurrency = 4\n'
                      for name in SCORERS)
    config = tmp_path / "score.toml"
    config.write_text(f'[[sources]]\npath = "pool.jsonl"\n[[models]]\nname = "sim-deepseek-r1"\nbase_url = "{base_url}"\n'
                      + scorers, encoding="utf-8")
    return config


def journal_lines(run_dir: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in (run_dir / FOLDER).glob("*.jsonl"))


def finished_keys(run_dir: Path) -> set[tuple[str, str, int]]:
    keys = set()
    for name in SCORERS:
        journal = Journal(journal_path(run_dir / FOLDER, name))
        keys |= {entry[:3] for entry in journal.finished_entries()}
        journal.close()
    return keys


def settle(sim: Simulator) -> None:
    """Wait until the simulator has read every request already on the wire."""
    seen = [-1, -2, -3]
    while len(set(seen[-3:])) > 1:
        time.sleep(0.05)
        seen.append(sim.stats()["requests"])


def test_a_killed_scoring_run_resumes_without_asking_a_finished_request_again(tmp_path):
    run_dir = tmp_path / "run"
    with Simulator(SimSettings(latency=0.05)) as sim:
        config = write_config(tmp_path, sim.base_url)
        process = subprocess.Popen(crd_score(config, run_dir), stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while journal_lines(run_dir) < PROMPTS // 2:
            assert process.poll() is None and time.monotonic() < deadline, "the run ended or stalled before the kill"
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        before = finished_keys(run_dir)
        assert PROMPTS // 2 <= len(before) < 2 * PROMPTS
        settle(sim)  # requests the killed process had already sent belong to the first run
        sim.reset()
        resumed = subprocess.run(crd_score(config, run_dir), capture_output=True, text=True)
        asked = sim.stats()["by_prompt"]
    assert resumed.returncode == 0, resumed.stderr

    # Every request the finished run needed, by the message it sends; the resumed run must
    # have sent exactly those not finished before the kill.
    settings = ComplexitySettings()
    prompts = dict(pl.read_parquet(run_dir / "pool.parquet").select("id", "prompt").iter_rows())
    needed = finished_keys(run_dir)
    expected: dict[str, int] = {}
    for prompt_id, model, sample in needed - before:
        messages = (scoring_messages if sample == 0 else reask_messages)(prompts[prompt_id], settings)
        key = prompt_key(messages[-1][1])
        expected[key] = expected.get(key, 0) + 1
    assert asked == expected
    assert len(needed) >= 2 * len(prompts) and needed > before
    scored = pl.read_parquet(run_dir / FOLDER / "scores.parquet")
    assert scored.height == len(prompts) and scored["complexity"].null_count() < len(prompts) // 10
