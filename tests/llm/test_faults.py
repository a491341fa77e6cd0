"""Fault injection: 30% of attempts fail in every way the simulator knows.

Every prompt must end finished or recorded as failed with a reason; no finished row may
be truncated, empty or duplicated; and the API key must never surface anywhere.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import polars as pl
import pytest
from aiohttp import web

from processing.cli import main
from processing.llm.settings import ModelConfig
from processing.llm.generate import FAILURES, GENERATIONS, JOURNAL, generate_file
from processing.sim import FAULTS, SimSettings, Simulator

from helpers import serving

PROMPTS = 1000
FAULT_SHARE = 0.3


def write_prompts(path: Path, count: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for number in range(count):
            handle.write(json.dumps({"id": f"p{number:04d}", "prompt": f"第{number}题：{number}×3 等于多少？"},
                                    ensure_ascii=False) + "\n")
    return path


def every_fault(share: float) -> dict[str, float]:
    return {f"rate_{kind}": share / len(FAULTS) for kind in FAULTS}


def model_for(sim: Simulator, name: str, stream: bool) -> ModelConfig:
    # Short timeouts and backoffs keep the hangs and retries of a thousand prompts quick.
    return ModelConfig(name=name, base_url=sim.base_url, stream=stream, max_concurrency=64,
                       timeout=0.5, backoff=0.01, max_retries=5)


@pytest.mark.parametrize(("model_name", "stream"), [("sim-inline-think", True), ("sim-r1-no-open-tag", False)],
                         ids=["inline-streamed", "no-open-tag-whole"])
def test_faults_never_become_rows(tmp_path, model_name, stream):
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS)
    with Simulator(SimSettings(retry_after=0.01, seed=3, **every_fault(FAULT_SHARE))) as sim:
        faulty = generate_file(prompts, model_for(sim, model_name, stream), tmp_path / "faulty", quiet=True)
        stats = sim.stats()
    with Simulator(SimSettings()) as sim:
        generate_file(prompts, model_for(sim, model_name, stream), tmp_path / "clean", quiet=True)

    assert all(stats["faults"][kind] > 0 for kind in FAULTS), stats["faults"]
    rows = pl.read_parquet(tmp_path / "faulty" / GENERATIONS)
    clean = pl.read_parquet(tmp_path / "clean" / GENERATIONS)
    failures = [json.loads(line) for line in (tmp_path / "faulty" / FAILURES).read_text().splitlines()]

    # Every prompt is accounted for exactly once: a row or a failure with its reason.
    finished_ids = rows["prompt_id"].to_list()
    failed_ids = [failure["prompt_id"] for failure in failures]
    assert len(finished_ids) == len(set(finished_ids)) == faulty.finished
    assert set(finished_ids).isdisjoint(failed_ids)
    assert set(finished_ids) | set(failed_ids) == {f"p{number:04d}" for number in range(PROMPTS)}
    assert all(failure["error"] for failure in failures)

    # Each kept row is exactly what a fault-free run produced: nothing cut short or empty.
    assert rows["id"].n_unique() == rows.height
    assert set(rows["finish_reason"]) == {"stop"}
    joined = rows.join(clean, on="id", suffix="_clean")
    assert joined.height == rows.height
    assert joined.filter((pl.col("reasoning") != pl.col("reasoning_clean"))
                         | (pl.col("response") != pl.col("response_clean"))).height == 0
    assert rows.filter((pl.col("reasoning") == "") | (pl.col("response") == "")).height == 0
    assert not rows.filter(pl.col("response").str.contains("</think>", literal=True)).height

    # The journal holds at most one finished line per key.
    finished_lines = [json.loads(line) for line in (tmp_path / "faulty" / JOURNAL).read_text().splitlines()]
    ok_keys = [(r["prompt_id"], r["sample"]) for r in finished_lines if r["status"] == "ok"]
    assert len(ok_keys) == len(set(ok_keys))


def scan_for(secret: str, texts: list[str], folder: Path) -> list[str]:
    """Where `secret` appears: in the given texts or in any file under `folder`."""
    found = [f"text {number}" for number, text in enumerate(texts) if secret in text]
    found += [str(path) for path in folder.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]
    return found


def test_api_key_never_reaches_files_output_or_errors(tmp_path, monkeypatch, capsys):
    key = "sk-crd-planted-" + secrets.token_hex(12)
    wrong = "sk-crd-wrong-" + secrets.token_hex(12)
    prompts = write_prompts(tmp_path / "prompts.jsonl", 60)
    out = tmp_path / "run"
    with Simulator(SimSettings(api_key=key, retry_after=0.01, rate_429=0.05, rate_500=0.05, rate_garbage=0.05)) as sim:
        monkeypatch.setenv("CRD_TEST_KEY", key)
        arguments = ["generate", str(prompts), "--model", "sim-deepseek-r1", "--base-url", sim.base_url,
                     "--api-key-env", "CRD_TEST_KEY", "--timeout", "5", "-q", "--out"]
        assert main([*arguments, str(out)]) in (0, 1)
        monkeypatch.setenv("CRD_TEST_KEY", wrong)
        assert main([*arguments, str(tmp_path / "refused")]) == 2
    output = capsys.readouterr()
    assert (out / GENERATIONS).exists()
    assert "CRD_TEST_KEY" in output.err and sim.base_url in output.err  # names what to fix
    assert scan_for(key, [output.out, output.err], tmp_path) == []
    assert scan_for(wrong, [output.out, output.err], tmp_path) == []


def test_a_key_quoted_back_by_the_server_is_redacted(tmp_path, monkeypatch, capsys):
    """Some providers quote the key they refuse; it must not reach the failures list."""
    key = "sk-crd-echoed-" + secrets.token_hex(12)

    async def echo(request: web.Request) -> web.Response:
        said = request.headers["Authorization"]
        return web.json_response({"error": {"message": f"content rejected for {said}"}}, status=400)

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"data": []})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", echo)
    app.router.add_get("/v1/models", models)
    with serving(app) as base_url:
        monkeypatch.setenv("CRD_TEST_KEY", key)
        prompts = write_prompts(tmp_path / "prompts.jsonl", 3)
        code = main(["generate", str(prompts), "--model", "m", "--base-url", base_url, "--api-key-env",
                     "CRD_TEST_KEY", "--out", str(tmp_path / "run"), "-q"])
    output = capsys.readouterr()
    assert code == 1
    failures = (tmp_path / "run" / FAILURES).read_text()
    assert "HTTP 400: content rejected for Bearer ***" in failures
    assert scan_for(key, [output.out, output.err], tmp_path) == []
