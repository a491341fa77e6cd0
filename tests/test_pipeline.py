"""`crd build` from a TOML config against a live simulator, including failed requests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from datasets import load_dataset

from processing.sim import SimSettings, Simulator

PROMPTS = [f"请计算 {a} 加 {a + 7} 等于多少？" for a in range(1, 41)]


def write_run(tmp_path: Path, base_url: str, extra: str = "") -> Path:
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"prompt": p, "category": "math"}, ensure_ascii=False) + "\n" for p in PROMPTS),
                    encoding="utf-8")
    config = tmp_path / "run.toml"
    config.write_text(
        f'[[sources]]\npath = "pool.jsonl"\nname = "sums"\n'
        f'[[models]]\nname = "sim-deepseek-r1"\nbase_url = "{base_url}"\nmax_concurrency = 8\n{extra}',
        encoding="utf-8",
    )
    return config


def crd_build(config: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "processing.cli", "build", str(config), "--out", str(out), "-q"],
                          capture_output=True, text=True)


def test_truncated_replies_are_never_rows_and_are_reported(tmp_path):
    with Simulator(SimSettings(rate_truncate=0.5, seed=3)) as sim:
        config = write_run(tmp_path, sim.base_url, "max_retries = 0\n")
        result = crd_build(config, tmp_path / "out")
    assert result.returncode == 1, result.stderr
    failures = [json.loads(line) for line in (tmp_path / "out.run" / "failures.jsonl").read_text().splitlines()]
    rows = load_dataset(str(tmp_path / "out"), "full", split="train")
    assert failures and rows.num_rows
    assert len(failures) + rows.num_rows == len(PROMPTS)
    assert {f["prompt_id"] for f in failures}.isdisjoint(rows["prompt_id"])
    assert all("truncated" in f["error"] for f in failures)
    assert f"{len(failures)} × " in result.stdout and "truncated" in result.stdout
    assert set(rows["finish_reason"]) == {"stop"}


def test_retry_failed_asks_only_the_failed_requests(tmp_path):
    with Simulator(SimSettings(rate_truncate=0.5, seed=3)) as sim:
        config = write_run(tmp_path, sim.base_url, "max_retries = 0\n")
        assert crd_build(config, tmp_path / "out").returncode == 1
    failed_first = len((tmp_path / "out.run" / "failures.jsonl").read_text().splitlines())
    with Simulator(SimSettings()) as healthy:
        config = write_run(tmp_path, healthy.base_url, "max_retries = 0\n")
        plain = crd_build(config, tmp_path / "out")
        asked_plain = healthy.stats()["requests"]
        retried = subprocess.run(
            [sys.executable, "-m", "processing.cli", "build", str(config), "--out", str(tmp_path / "out"), "-q",
             "--retry-failed"], capture_output=True, text=True)
        asked_retry = healthy.stats()["requests"] - asked_plain
    assert plain.returncode == 1 and asked_plain == 0, "failed requests are not asked again without --retry-failed"
    assert retried.returncode == 0, retried.stderr
    assert asked_retry == failed_first
    rows = load_dataset(str(tmp_path / "out"), "default", split="train")
    assert sorted(rows["prompt"]) == sorted(PROMPTS)
    assert len(set(rows["id"])) == len(PROMPTS)
