"""Every simulator reasoning shape, streamed and not, through the generation engine."""

from __future__ import annotations

import asyncio

import pytest

from processing.llm.settings import ModelConfig
from processing.llm.journal import Job, Journal, run_jobs
from processing.sim import SHAPES, SimSettings, Simulator

PROMPTS = ["小明有3个苹果，又买了5个，一共有几个？", "请写一首关于秋天的短诗。", "解释一下光合作用。"]


@pytest.fixture(scope="module")
def sim():
    with Simulator(SimSettings(answers={PROMPTS[0]: "8"}, wrong_rate=0.0)) as server:
        yield server


def generate(sim, model_name: str, stream: bool, tmp_path) -> dict[str, dict]:
    model = ModelConfig(name=model_name, base_url=sim.base_url, stream=stream, max_concurrency=4)
    jobs = [Job(f"p{i}", model_name, 0, (("user", prompt),)) for i, prompt in enumerate(PROMPTS)]
    journal = Journal(tmp_path / f"{model_name}-{stream}.jsonl")
    asyncio.run(run_jobs(jobs, model, journal))
    journal.close()
    return {key[0]: record for key, record in journal.records.items()}


@pytest.mark.parametrize("model_name", sorted(SHAPES))
def test_shape_split_is_the_same_streamed_or_not(sim, model_name, tmp_path):
    streamed = generate(sim, model_name, True, tmp_path)
    whole = generate(sim, model_name, False, tmp_path)
    assert set(streamed) == set(whole) == {"p0", "p1", "p2"}
    for key in streamed:
        a, b = streamed[key], whole[key]
        assert a["status"] == b["status"] == "ok"
        assert (a["reasoning"], a["response"]) == (b["reasoning"], b["response"])
        assert a["reasoning"] and a["response"]
        for text in (a["reasoning"], a["response"]):
            assert "<think>" not in text and "</think>" not in text
    assert streamed["p0"]["response"].endswith("\\boxed{8}")
