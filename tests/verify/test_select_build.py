"""Selection in `crd build`: every row is kept by default; `[verify.select]` publishes only rows at a
minimum score, or the best of several samples per prompt, and says how many each rule removed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from datasets import load_dataset

from processing.sim import SimSettings, Simulator, load_answers

PROMPTS = [(f"{a} 加 {a + 5} 等于多少？", str(2 * a + 5)) for a in range(1, 25)]


def build(tmp_path: Path, base_url: str, select: str) -> Path:
    tmp_path.mkdir()
    (tmp_path / "pool.jsonl").write_text("".join(
        json.dumps({"prompt": p, "category": "math", "reference_answer": r}, ensure_ascii=False) + "\n"
        for p, r in PROMPTS), encoding="utf-8")
    config = tmp_path / "run.toml"
    config.write_text(f'[[sources]]\npath = "pool.jsonl"\nname = "sums"\n[[models]]\nname = "sim-deepseek-r1"\n'
                      f'base_url = "{base_url}"\nsamples = 3\n[verify.select]\n{select}\n', encoding="utf-8")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "processing.cli", "build", str(config), "--out", str(out), "-q"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


def test_all_rows_are_kept_by_default_and_the_rules_select(tmp_path):
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"prompt": p, "reference_answer": r}, ensure_ascii=False) + "\n"
                               for p, r in PROMPTS), encoding="utf-8")
    with Simulator(SimSettings(answers=load_answers(answers), wrong_rate=0.4)) as sim:
        everything = load_dataset(str(build(tmp_path / "all", sim.base_url, "")), "full", split="train")
        best = load_dataset(str(build(tmp_path / "best", sim.base_url, "best_of_n = true")), "full", split="train")
        right = build(tmp_path / "right", sim.base_url, "min_score = 10")
    assert everything.num_rows == 3 * len(PROMPTS)
    assert 0 in everything["score"] and 10 in everything["score"]
    assert sorted(Counter(best["prompt_id"]).values()) == [1] * len(PROMPTS)
    best_possible = {pid: max(s for p, s in zip(everything["prompt_id"], everything["score"]) if p == pid)
                     for pid in set(everything["prompt_id"])}
    assert {p: s for p, s in zip(best["prompt_id"], best["score"])} == best_possible
    kept = load_dataset(str(right), "default", split="train")
    assert set(kept["score"]) == {10.0} and kept.num_rows == everything["score"].count(10.0)
    shards = json.loads((right / "manifest.json").read_text(encoding="utf-8"))["stages"]["shards"]["counts"]
    assert shards["removed"]["below_min_score"] == everything.num_rows - kept.num_rows
